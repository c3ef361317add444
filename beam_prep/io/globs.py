"""The input files: globs expanded over any store, and the short source names they get."""

from __future__ import annotations

import os

from beam_prep.io.errors import NoMatch, storage_error
from beam_prep.io.fs import full_url, is_remote, url_to_fs
from beam_prep.io.redact import redact_text


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matched by the globs, sorted and deduplicated; NoMatch naming a glob that matches
    nothing, StorageError naming a glob whose store refuses access."""
    found: dict[str, None] = {}
    for pattern in patterns:
        try:
            fs, path = url_to_fs(pattern)
            exists = _has_magic(path) or fs.exists(path)
            matches = sorted(p for p in fs.glob(path) if not fs.isdir(p)) if exists else []
        except FileNotFoundError:
            matches = []
        except Exception as exc:
            if not is_remote(pattern) and not isinstance(exc, PermissionError):
                raise
            raise storage_error(pattern, exc) from None
        if not matches:
            raise NoMatch(pattern)
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
    """The name a file goes by in rejects and stats.json: relative to `root`, secrets redacted (a
    URL's user:password@, a presigned query string)."""
    return redact_text(path[len(root) :].lstrip("/") if root and path.startswith(root) else path)
