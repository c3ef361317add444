"""A store's refusal, said in one line: the URL, what went wrong, where credentials come from."""

from __future__ import annotations

from beam_prep.io.fs import protocol
from beam_prep.io.redact import redact_text

_HINTS = {
    "s3": "check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the instance role) "
    "and AWS_ENDPOINT_URL/AWS_DEFAULT_REGION",
    "gs": "check the Google application default credentials (GOOGLE_APPLICATION_CREDENTIALS or "
    "`gcloud auth application-default login`) or STORAGE_EMULATOR_HOST",
}


class StorageError(ValueError):
    """A path or bucket that cannot be reached with the credentials at hand: "'URL': what (detail);
    hint", secrets redacted. The caller says which setting named the URL."""

    def __init__(self, url: str, what: str, detail: str = ""):
        self.url, self.what, self.detail = url, what, detail
        hint = _HINTS.get("gs" if protocol(url) == "gcs" else protocol(url), "")
        message = f"{url!r}: {what}" + (f" ({detail})" if detail else "") + (f"; {hint}" if hint else "")
        super().__init__(redact_text(message))


class NoMatch(ValueError):
    """A glob or path that matches no file."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        super().__init__(redact_text(f"{pattern!r} matches no file"))


def storage_error(url: str, exc: BaseException) -> StorageError:
    """The StorageError for what a store raised on `url` (each store raises its own types)."""
    what = (
        "access denied"
        if isinstance(exc, PermissionError) or "forbidden" in str(exc).lower()[:40]
        else "not found"
        if isinstance(exc, FileNotFoundError)
        else type(exc).__name__
    )
    return StorageError(url, what, " ".join(str(exc).split())[:300])
