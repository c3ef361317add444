"""A remote folder (a tokenizer on a bucket) copied once per machine, and kept while unchanged."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
from pathlib import Path

from beam_prep.io.fs import is_remote, url_to_fs


def localize_dir(url: str, names: tuple[str, ...] = ()) -> str:
    """A local folder with the files of `url` (downloaded once per machine for a remote URL).

    The cache key covers the URL and each file's size and ETag/hash, so a tokenizer replaced in the
    bucket is downloaded again rather than served stale. The folder appears by an atomic rename:
    processes of one machine that race each download, one wins, none sees a half-written folder.
    """
    if not is_remote(url):
        return url
    fs, path = url_to_fs(url)
    fs.invalidate_cache(path)
    files = {}
    for entry in fs.ls(path, detail=True):
        name = posixpath.basename(entry["name"].rstrip("/"))
        if entry.get("type") == "file" and (not names or name in names):
            files[name] = entry
    version = sorted((n, e.get("size"), str(_version_of(e))) for n, e in files.items())
    digest = hashlib.sha256(repr((url, version)).encode()).hexdigest()[:16]
    local = Path(tempfile.gettempdir(), "beam_prep_cache", digest)
    if local.is_dir():
        return str(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="dl-", dir=local.parent))
    try:
        for name, entry in files.items():
            fs.get_file(entry["name"], str(tmp / name))
        os.rename(tmp, local)
    except OSError:
        if not local.is_dir():  # not a lost race: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(local)


def _version_of(entry: dict):
    for key in ("ETag", "etag", "md5Hash", "crc32c", "LastModified", "updated", "mtime"):
        if entry.get(key):
            return entry[key]
    return None
