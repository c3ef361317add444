"""Filesystem access through fsspec: local paths, s3:// (s3fs) and gs:// (gcsfs) alike.

Credentials come from each cloud's standard chain, resolved in every process that touches a
bucket (the launcher and each Beam worker), never passed through the pipeline graph:
- S3: botocore's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE and
  ~/.aws/config, web identity, the instance or task role), AWS_DEFAULT_REGION, AWS_ENDPOINT_URL.
- GCS: Google application default credentials; with STORAGE_EMULATOR_HOST set, the emulator at that
  address, anonymously (as google-cloud-storage does) and through the plain gcsfs class, because
  gcsfs's default class probes each bucket's type over gRPC, which an emulator does not serve.
Nothing here logs or stores a credential; `redact` removes secrets from what we write (manifest).
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import fsspec

REDACTED = "<redacted>"
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")
_SECRET_WORD = r"(?:secret|password|passwd|token|credentials?|private_key|api_key|access_key|access_key_id)"
_SECRET_NAME = re.compile(rf"(?:^|_){_SECRET_WORD}(?:$|_)", re.I)
_SECRET_ASSIGNMENT = re.compile(
    rf"(?<![A-Za-z0-9])((?:[A-Za-z0-9]+_)*{_SECRET_WORD}(?:_[A-Za-z0-9]+)*)=([^,\s;&'\"]+)", re.I
)
_SECRET_JSON_FIELD = re.compile(  # "NAME": "value" inside a string (Beam's --environment_config JSON)
    rf"([\"'](?:[A-Za-z0-9]+_)*{_SECRET_WORD}(?:_[A-Za-z0-9]+)*[\"']\s*:\s*[\"'])([^\"']+)", re.I
)
_URL_USERINFO = re.compile(r"(://)[^/@\s:]+:[^/@\s]+@")
_HINTS = {
    "s3": "check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the instance role) "
    "and AWS_ENDPOINT_URL/AWS_DEFAULT_REGION",
    "gs": "check the Google application default credentials (GOOGLE_APPLICATION_CREDENTIALS or "
    "`gcloud auth application-default login`) or STORAGE_EMULATOR_HOST",
}

# At the CLI's INFO level the cloud clients say where they found credentials and endpoints, once per
# process and worker: noise next to our own lines. WARNING and above still show; a level set by the
# user's own logging configuration is kept.
for _name in ("botocore", "aiobotocore", "s3fs", "gcsfs", "google.auth"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)


class StorageError(ValueError):
    """A path or bucket that cannot be reached with the credentials at hand (a one-line message)."""


def url_to_fs(url: str):
    """(filesystem, path) for a local path or URL."""
    if _protocol(url) in ("gs", "gcs") and os.environ.get("STORAGE_EMULATOR_HOST"):
        from gcsfs.core import GCSFileSystem

        host = os.environ["STORAGE_EMULATOR_HOST"]
        fs = GCSFileSystem(token="anon", endpoint_url=host if "://" in host else f"http://{host}")
        return fs, fs._strip_protocol(url)
    return fsspec.core.url_to_fs(url, **({} if is_remote(url) else {"auto_mkdir": True}))


def _protocol(url: str) -> str:
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
        protocol = like.split("://", 1)[0]
        return f"{protocol}://{path}" if "://" not in path else path
    return path


def storage_error(flag: str, url: str, exc: BaseException) -> StorageError:
    """One line naming the flag, the URL, what went wrong and where credentials come from."""
    kind = (
        "access denied"
        if isinstance(exc, PermissionError) or "forbidden" in str(exc).lower()[:40]
        else "not found"
        if isinstance(exc, FileNotFoundError)
        else type(exc).__name__
    )
    detail = " ".join(str(exc).split())[:300]
    hint = _HINTS.get("gs" if _protocol(url) == "gcs" else _protocol(url), "")
    message = f"{flag} {url!r}: {kind}" + (f" ({detail})" if detail else "") + (f"; {hint}" if hint else "")
    return StorageError(redact_text(message))


def probe_file(url: str, flag: str) -> bool:
    """Whether a file exists; StorageError (not False) when the store refuses to answer."""
    try:
        fs, path = url_to_fs(url)
        if is_remote(url):
            fs.ls(posixpath.dirname(path), detail=False)  # a listing reports denials with a reason
        return fs.exists(path)
    except FileNotFoundError:
        return False
    except Exception as exc:  # each store raises its own types (botocore, google.auth, HttpError)
        raise storage_error(flag, url, exc) from None


def probe_writable(url: str, flag: str) -> None:
    """Write and delete one small object under a remote output: credentials, bucket, permission."""
    if not is_remote(url):
        return
    try:
        fs, path = url_to_fs(url)
        probe = posixpath.join(path.rstrip("/"), f".beam_prep-probe-{uuid.uuid4().hex[:12]}")
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except Exception as exc:
        raise storage_error(flag, url, exc) from None


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matched by the globs, sorted and deduplicated; ValueError naming an empty glob,
    StorageError naming a glob whose store refuses access."""
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
            raise storage_error("--input", pattern, exc) from None
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


def move_files(fs, pairs: list[tuple[str, str]]) -> None:
    """Move files within one filesystem. Locally a rename each; on an object store one batched,
    server-side copy (S3 CopyObject, GCS rewrite) then one batched delete: no byte passes through
    this machine, and no per-file round trip waits on the one before."""
    if not pairs:
        return
    if not getattr(fs, "async_impl", False):  # local disk (and other synchronous stores)
        for source, target in pairs:
            fs.makedirs(posixpath.dirname(target), exist_ok=True)
            fs.mv(source, target)
        return
    sources = [s for s, _ in pairs]
    fs.copy(sources, [t for _, t in pairs])
    fs.rm(sources)


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


def redact(value):
    """A copy of a JSON-like value without secrets: values under secret-looking keys
    (`s3_secret_access_key`, `token`, `password`...), NAME=value pairs with such a name (Beam's
    `process_variables`), user:password@ in URLs, and the values of secret environment variables."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_NAME.search(k) and v not in (None, "", False) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _SECRET_JSON_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
    for name in _SECRET_ENV:
        secret = os.environ.get(name)
        if secret and len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    return text
