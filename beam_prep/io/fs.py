"""Where a URL lives: a filesystem through fsspec for local paths, s3:// (s3fs) and gs:// (gcsfs).

Credentials come from each cloud's standard chain, resolved in every process that touches a
bucket (the launcher and each Beam worker), never passed through the pipeline graph:
- S3: botocore's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE and
  ~/.aws/config, web identity, the instance or task role), AWS_DEFAULT_REGION, AWS_ENDPOINT_URL.
- GCS: Google application default credentials; with STORAGE_EMULATOR_HOST set, the emulator at that
  address, anonymously (as google-cloud-storage does) and through the plain gcsfs class, because
  gcsfs's default class probes each bucket's type over gRPC, which an emulator does not serve.
Nothing here logs or stores a credential; io/redact.py removes secrets from what we write.
The rest of the storage layer, by job: io/globs.py (input files), io/probes.py (asking a store
before the run), io/errors.py (a store's refusal in one line), io/moves.py, io/cache.py (a remote
tokenizer copied once per machine), io/redact.py.
"""

from __future__ import annotations

import functools
import logging
import os
import posixpath
from pathlib import Path

import fsspec

CLOUD_LOGGERS = ("botocore", "aiobotocore", "s3fs", "gcsfs", "google.auth")


def url_to_fs(url: str):
    """(filesystem, path) for a local path or URL."""
    if not is_remote(url):
        return fsspec.core.url_to_fs(url, auto_mkdir=True)
    quiet_cloud_clients()
    if protocol(url) in ("gs", "gcs") and os.environ.get("STORAGE_EMULATOR_HOST"):
        return _emulator_fs(url, os.environ["STORAGE_EMULATOR_HOST"])
    return fsspec.core.url_to_fs(url)


def _emulator_fs(url: str, host: str):
    from gcsfs.core import GCSFileSystem

    fs = GCSFileSystem(token="anon", endpoint_url=host if "://" in host else f"http://{host}")
    return fs, fs._strip_protocol(url)


@functools.cache
def quiet_cloud_clients() -> None:
    """At the CLI's INFO level the cloud clients say where they found credentials and endpoints,
    once per process and worker: noise next to our own lines. Set once per process, when it first
    resolves a bucket URL: WARNING and above still show; a level the user's own logging
    configuration set is kept."""
    for name in CLOUD_LOGGERS:
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)


def protocol(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return str(Path(base, *parts))


def full_url(fs, path: str, like: str) -> str:
    """A path returned by fs.glob made back into a URL of the same kind as `like`."""
    if is_remote(like):
        return f"{like.split('://', 1)[0]}://{path}" if "://" not in path else path
    return path
