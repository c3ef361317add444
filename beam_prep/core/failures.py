"""Record-level failures become rejects (Beam's dead-letter pattern), never a failed bundle.

Every stage runs its per-record work through `contain`: an exception raised on one record (or
one dialogue, or one example) becomes a Reject of that record, with the exception's type and
message as detail. Where the cause is known the reason says it (`template_error`: the template
raised on that window); anything else is `internal_error`, a bug of ours that the run survives,
that stats.json counts and the end-of-run summary shows first. `--internal_errors fail` makes it
stop the run instead (`strict`).

    out, reject = contain(normalize, record, source=record.source, line=record.line)
"""

from __future__ import annotations

from collections.abc import Callable

from beam_prep.core.records import Reject
from beam_prep.core.templates import TemplateError

INTERNAL_ERROR = "internal_error"
TEMPLATE_ERROR = "template_error"
INTERNAL_ERROR_CHOICES = ("reject", "fail")  # --internal_errors
DETAIL_CHARS = 300
KNOWN = ((TemplateError, TEMPLATE_ERROR),)  # exception types whose cause has a reason of its own


def reason_for(exc: BaseException) -> str:
    return next((reason for kind, reason in KNOWN if isinstance(exc, kind)), INTERNAL_ERROR)


def failure_detail(exc: BaseException) -> str:
    """`Type: message`, on one line and bounded (a message can quote a whole record)."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not fail the reject too
        message = "<unprintable message>"
    detail = f"{type(exc).__name__}: {message}".replace("\n", " ")
    return detail[:DETAIL_CHARS] + ("..." if len(detail) > DETAIL_CHARS else "")


def failure_reject(exc: BaseException, source: str, line: int, dialogue_id: str = "", excerpt: str = "") -> Reject:
    return Reject(reason_for(exc), source, line, excerpt, failure_detail(exc), dialogue_id)


def contain(fn: Callable, *args, source: str, line: int, dialogue_id: str = "", strict: bool = False):
    """(fn(*args), None), or (None, the Reject of the record at source:line) if fn raised.

    Exception, not BaseException: an interrupt or a worker shutdown still stops the run. With
    `strict` (--internal_errors fail) an internal error is raised as it was.
    """
    try:
        return fn(*args), None
    except Exception as exc:
        if strict and reason_for(exc) == INTERNAL_ERROR:
            raise
        return None, failure_reject(exc, source, line, dialogue_id)
