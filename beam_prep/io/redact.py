"""Secrets removed from what beam_prep writes or prints (manifest.json, error messages)."""

from __future__ import annotations

import os
import re

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
