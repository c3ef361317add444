"""One redaction policy for everything beam_prep writes, prints or logs (docs/cloud.md "Secrets").

What is redacted, wherever it appears:
- by pattern: values of secret-looking names in NAME=value pairs (Beam's `process_variables`, URL
  query strings such as a presigned `?X-Amz-Signature=...&X-Amz-Security-Token=...`) and in
  "NAME": "value" fields (Beam's `--environment_config` JSON, a printed options dict), and the
  userinfo of URLs (`https://user:password@host`);
- by value: the run's own secrets, remembered when it starts (`remember_secrets`): every value
  given under a secret-looking option name or key (`--s3_secret_access_key X`, a YAML's
  `pipeline_options`), found by the patterns above in any argument, or held by a secret-looking
  environment variable (AWS_SECRET_ACCESS_KEY, GOOGLE_OAUTH_ACCESS_TOKEN, HF_TOKEN...). Those are
  replaced wherever they are quoted, even where no pattern would see them (an unknown-option error,
  a traceback). Values shorter than MIN_SECRET_CHARS are left to the patterns: replaced everywhere,
  they would blank out ordinary words.

Channels: `redact`/`redact_text` for what we write (manifest.json, rejects, error messages);
`install_logging` (every LogRecord of the process, so Beam's and botocore's lines too) and
`RedactingStream` (sys.stdout/sys.stderr) for what is printed. Workers run in other processes: a
DoFn carries `for_workers()` into them (pipeline/worker.py RedactedDoFn) and `install_worker`
installs the same policy there. A worker knows the run's secrets only as keyed digests
(Fingerprints), never as values: the pipeline graph, which Dataflow stores, holds no secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

REDACTED = "<redacted>"
MIN_SECRET_CHARS = 8
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")
_SECRET_WORD = (
    r"(?:secret|password|passwd|token|credentials?|private_key|api_key|access_key|access_key_id|signature|sig)"
)
_SECRET_NAME = re.compile(rf"(?:^|[_-]){_SECRET_WORD}(?:$|[_-])", re.I)
_SECRET_ASSIGNMENT = re.compile(
    rf"(?<![A-Za-z0-9])((?:[A-Za-z0-9]+_)*{_SECRET_WORD}(?:_[A-Za-z0-9]+)*)=([^,\s;&'\"]+)", re.I
)
_SECRET_JSON_FIELD = re.compile(  # "NAME": "value" inside a string (Beam's --environment_config JSON)
    rf"([\"'](?:[A-Za-z0-9]+_)*{_SECRET_WORD}(?:_[A-Za-z0-9]+)*[\"']\s*:\s*[\"'])([^\"']+)", re.I
)
_URL_USERINFO = re.compile(r"(://)([^/@\s'\"]+)@")


def is_secret_name(name: str) -> bool:
    """Whether an option, key or environment variable name says its value is a secret."""
    return bool(_SECRET_NAME.search(name.lstrip("-")))


def redact(value):
    """A copy of a JSON-like value without secrets: values under secret-looking keys
    (`s3_secret_access_key`, `token`, `password`...) and every string through redact_text."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_name(k) and v not in (None, "", False) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    """`text` with every secret the policy knows replaced by REDACTED."""
    if not isinstance(text, str) or not text:
        return text
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _SECRET_JSON_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
    for secret in _STATE.values:
        text = text.replace(secret, REDACTED)
    for name in _SECRET_ENV:  # the cloud credentials of this process, also where nothing was remembered
        secret = os.environ.get(name)
        if secret and len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    for fingerprints in _STATE.fingerprints:
        text = fingerprints.replace(text)
    return text


def _pattern_values(text: str) -> list[str]:
    """The values redact_text's patterns would replace in `text`."""
    found = [m.group(2) for m in _SECRET_ASSIGNMENT.finditer(text)]
    found += [m.group(2) for m in _SECRET_JSON_FIELD.finditer(text)]
    for m in _URL_USERINFO.finditer(text):
        found += [m.group(2), m.group(2).partition(":")[2]]
    return found


def option_values(argv) -> list[tuple[str, str]]:
    """(name, value) of every option of a command line, in both forms (`--name=value`, `--name
    value`); the value is "" for a flag without one."""
    out = []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name.startswith("-"):
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
            out.append((name, value))
    return out


def secrets_of(argv=(), values=None, environ=None) -> set[str]:
    """The secret values in a command line, a configuration mapping and an environment."""
    argv = [str(a) for a in argv]
    found = [v for arg in argv for v in _pattern_values(arg)]
    found += [value for name, value in option_values(argv) if is_secret_name(name)]

    def walk(value, secret=False):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, secret or (isinstance(k, str) and is_secret_name(k)))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, secret)
        elif isinstance(value, str):
            found.extend([value] if secret else [])
            found.extend(_pattern_values(value))
        elif secret and value not in (None, True, False):
            found.append(str(value))

    walk(values or {})
    for name, value in (environ or {}).items():
        if name in _SECRET_ENV or is_secret_name(name):
            found.append(value)
        found += _pattern_values(value)
    return {s for s in found if len(s) >= MIN_SECRET_CHARS and s != REDACTED}


def remember_secrets(argv=(), values=None, environ=None) -> None:
    """Remember the run's secret values (secrets_of) so that redact_text replaces them anywhere."""
    _STATE.values = tuple(sorted(set(_STATE.values) | secrets_of(argv, values, environ), key=len, reverse=True))


def forget_secrets() -> None:
    """Back to the patterns alone (the end of an in-process run, e.g. in tests)."""
    _STATE.values, _STATE.fingerprints = (), ()


@dataclass(frozen=True)
class Fingerprints:
    """Secret values as a worker knows them: keyed BLAKE2b digests, by length, never the values.

    A polynomial hash of each secret (random odd base, modulo 2**64) finds, for a whole text at
    once, the spans worth a digest: a digest per position cost 1 ms for 300 characters and two
    secrets. Like the digest, the hash only lets one check a guess; a collision costs one digest."""

    key: bytes
    digests: frozenset  # of (length, digest)
    base: int
    rolling: frozenset  # of (length, polynomial hash)

    @classmethod
    def of(cls, secrets) -> Fingerprints:
        key = os.urandom(16)
        base = int.from_bytes(os.urandom(8), "big") | 1
        digests = frozenset((len(s), cls._digest(key, s)) for s in secrets)
        return cls(key, digests, base, frozenset((len(s), int(_window_hashes(s, len(s), base)[0])) for s in secrets))

    @staticmethod
    def _digest(key: bytes, text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=key, digest_size=16).digest()

    def replace(self, text: str) -> str:
        """`text` with every span whose digest is one of ours replaced (longest secrets first)."""
        for length in sorted({n for n, _ in self.digests}, reverse=True):
            if len(text) < length:
                continue
            windows = _window_hashes(text, length, self.base)
            hit = np.zeros(len(windows), dtype=bool)
            for n, h in self.rolling:
                if n == length:
                    hit |= windows == np.uint64(h)
            spans, end = [], 0
            for i in np.flatnonzero(hit).tolist():
                if i >= end and (length, self._digest(self.key, text[i : i + length])) in self.digests:
                    spans.append(i)
                    end = i + length
            if spans:
                out, at = [], 0
                for i in spans:
                    out += [text[at:i], REDACTED]
                    at = i + length
                text = "".join(out) + text[at:]
        return text


def _window_hashes(text: str, length: int, base: int):
    """The polynomial hash, modulo 2**64, of every span of `length` characters of `text` (numpy's
    uint64 arithmetic wraps): sum(code[j] * base**(i + length - 1 - j)) for the span at i, through
    prefix sums of code[j] * base**-j (an odd base is invertible modulo 2**64)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    n = len(codes)
    inverse = np.full(n, pow(base, -1, 1 << 64), dtype=np.uint64)
    inverse[0] = 1
    weighted = codes * np.cumprod(inverse, dtype=np.uint64)
    prefix = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(weighted, dtype=np.uint64)])
    powers = np.full(n - length + 1, base, dtype=np.uint64)
    powers[0] = pow(base, length - 1, 1 << 64)
    return (prefix[length:] - prefix[: n - length + 1]) * np.cumprod(powers, dtype=np.uint64)


@dataclass(frozen=True)
class WorkerRedaction:
    """What a DoFn carries into a worker: the run's secrets as Fingerprints, and the launcher's pid
    (a worker in the launcher's own process leaves its streams to the CLI)."""

    fingerprints: Fingerprints | None
    launcher_pid: int


class _State:
    values: tuple[str, ...] = ()
    fingerprints: tuple[Fingerprints, ...] = ()
    worker_redaction: WorkerRedaction | None = None
    worker_key: tuple | None = None
    previous_factory = None


_STATE = _State()


def for_workers() -> WorkerRedaction:
    """The redaction workers install (install_worker): fingerprints of the remembered secrets,
    made once per set of secrets, so every DoFn of a run carries the same ones."""
    key = (os.getpid(), _STATE.values)
    if _STATE.worker_key != key:
        fingerprints = Fingerprints.of(_STATE.values) if _STATE.values else None
        _STATE.worker_redaction, _STATE.worker_key = WorkerRedaction(fingerprints, os.getpid()), key
    return _STATE.worker_redaction


def install_worker(redaction: WorkerRedaction | None) -> None:
    """In a worker process: the run's fingerprints, every log record redacted and, in a process
    of its own, sys.stdout/sys.stderr too (prints, tracebacks). Idempotent."""
    fingerprints = redaction.fingerprints if redaction is not None else None
    if fingerprints is not None and fingerprints not in _STATE.fingerprints:
        _STATE.fingerprints += (fingerprints,)
    install_logging()
    if redaction is not None and redaction.launcher_pid != os.getpid():
        sys.stdout, sys.stderr = RedactingStream.around(sys.stdout), RedactingStream.around(sys.stderr)


def install_logging() -> None:
    """Every LogRecord this process makes is redacted when it is made (message, traceback, stack),
    whichever logger and handler it goes to (Beam's worker log handler included). Idempotent."""
    if _STATE.previous_factory is not None:
        return
    previous = _STATE.previous_factory = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format: logging reports it itself
        return
    clean = redact_text(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None:
        trace = logging.Formatter().formatException(record.exc_info)
        clean = redact_text(trace)
        if clean != trace:  # handlers print exc_text; the exception itself no longer travels
            record.exc_text, record.exc_info = clean, None
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


class RedactingStream:
    """A text stream that writes everything through redact_text (one write() is one message:
    print() and traceback lines write whole lines)."""

    def __init__(self, stream):
        self._stream = stream

    @classmethod
    def around(cls, stream):
        return stream if isinstance(stream, cls) or stream is None else cls(stream)

    def write(self, text):
        return self._stream.write(redact_text(text) if isinstance(text, str) else text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_run(argv=(), environ=None):
    """The CLI's run: its secrets remembered, its log records and sys.stdout/sys.stderr redacted;
    on the way out the streams are put back and the secrets forgotten."""
    remember_secrets(argv, environ=os.environ if environ is None else environ)
    install_logging()
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream.around(out), RedactingStream.around(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
        forget_secrets()
