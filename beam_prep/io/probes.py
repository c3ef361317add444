"""Asking a store before the run: does a file exist, can the output be written (StorageError when
the store refuses to answer)."""

from __future__ import annotations

import posixpath
import uuid

from beam_prep.io.errors import storage_error
from beam_prep.io.fs import is_remote, url_to_fs


def probe_file(url: str) -> bool:
    """Whether a file exists; StorageError (not False) when the store refuses to answer."""
    try:
        fs, path = url_to_fs(url)
        if is_remote(url):
            fs.ls(posixpath.dirname(path), detail=False)  # a listing reports denials with a reason
        return fs.exists(path)
    except FileNotFoundError:
        return False
    except Exception as exc:  # each store raises its own types (botocore, google.auth, HttpError)
        raise storage_error(url, exc) from None


def probe_writable(url: str) -> None:
    """Write and delete one small object under a remote output: credentials, bucket, permission."""
    if not is_remote(url):
        return
    try:
        fs, path = url_to_fs(url)
        probe = posixpath.join(path.rstrip("/"), f".beam_prep-probe-{uuid.uuid4().hex[:12]}")
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except Exception as exc:
        raise storage_error(url, exc) from None


def is_file(url: str) -> bool:
    """Whether a remote URL names a file (not a folder); StorageError when the store refuses."""
    try:
        fs, path = url_to_fs(url)
        return fs.isfile(path)
    except Exception as exc:  # each store raises its own types
        raise storage_error(url, exc) from None
