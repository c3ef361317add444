"""Filesystem access through fsspec: local paths, s3:// (s3fs) and gs:// (gcsfs) alike.

Credentials come from each cloud's standard chain (AWS_* variables and config files, Google
application default credentials, STORAGE_EMULATOR_HOST); nothing here logs or stores them.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
from pathlib import Path

import fsspec


def url_to_fs(url: str):
    """(filesystem, path) for a local path or URL."""
    return fsspec.core.url_to_fs(url, **_options(url))


def _options(url: str) -> dict:
    if not is_remote(url):
        return {"auto_mkdir": True}
    if url.startswith("gs://") and os.environ.get("STORAGE_EMULATOR_HOST"):
        # Against an emulator: no gRPC bucket-type probe and anonymous access (see README, "GCS").
        return {"token": "anon", "endpoint_url": os.environ["STORAGE_EMULATOR_HOST"]}
    return {}


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return str(Path(base, *parts))


def full_url(fs, path: str, like: str) -> str:
    """A path returned by fs.glob made back into a URL of the same kind as `like`."""
    if is_remote(like):
        protocol = like.split("://", 1)[0]
        return f"{protocol}://{path}" if "://" not in path else path
    return path


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matched by the globs, sorted and deduplicated; ValueError naming an empty glob."""
    found: dict[str, None] = {}
    for pattern in patterns:
        fs, path = url_to_fs(pattern)
        matches = sorted(p for p in fs.glob(path) if not fs.isdir(p)) if fs.exists(path) or _has_magic(path) else []
        if not matches:
            raise ValueError(f"--input {pattern!r} matches no file")
        for m in matches:
            found[full_url(fs, m, pattern)] = None
    return sorted(found)


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def common_root(paths: list[str]) -> str:
    """The deepest folder holding all paths: sources are named relative to it."""
    dirs = [p.rsplit("/", 1)[0] if "/" in p else "" for p in paths]
    root = os.path.commonprefix(dirs)
    if "/" in root and not all(d == root or d.startswith(root + "/") for d in dirs):
        root = root.rsplit("/", 1)[0]
    return root


def relative_source(path: str, root: str) -> str:
    return path[len(root) :].lstrip("/") if root and path.startswith(root) else path


def localize_dir(url: str, names: tuple[str, ...] = ()) -> str:
    """A local folder with the files of `url` (downloaded once per machine for a remote URL)."""
    if not is_remote(url):
        return url
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    local = Path(tempfile.gettempdir(), "beam_prep_cache", digest)
    marker = local / ".complete"
    if marker.exists():
        return str(local)
    fs, path = url_to_fs(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="dl-", dir=local.parent))
    for entry in fs.ls(path, detail=False):
        name = posixpath.basename(entry.rstrip("/"))
        if (not names or name in names) and fs.isfile(entry):
            fs.get_file(entry, str(tmp / name))
    try:
        tmp.rename(local)
    except OSError:  # another process of this machine got there first
        pass
    marker.touch()
    return str(local)
