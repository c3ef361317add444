"""The record types that flow through the pipeline, one per stage.

RawRecord (a JSON object read from a file) -> Dialogue (normalised) -> Example (a truncated,
tokenized window) -> row dict (rendered, written). Rejected input becomes a Reject at any stage.
Provenance (source file, line) travels in every record so a reject can always be traced back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SYSTEM, USER, ASSISTANT = "system", "user", "assistant"
TRAIN, VALIDATION = "train", "validation"
SPLITS = (TRAIN, VALIDATION)

# Reasons a record or an example is rejected. Documented in README.md ("Rejects").
REJECT_REASONS = (
    "unreadable_file",  # the file (or its tail) could not be read: torn gzip, cut-off JSON array...
    "invalid_utf8",  # a line that is not UTF-8, or text with a lone surrogate escape (\\ud800)
    "invalid_json",  # a line that is not JSON
    "not_an_object",  # valid JSON but not an object
    "missing_messages",  # neither `messages` nor `conversations` holds a list
    "bad_turn",  # a turn that is not an object with a role and string content
    "unknown_role",  # a role that is neither system, user, assistant nor a known alias
    "no_assistant_turn",  # nothing to train on: no assistant turn after a user turn
    "special_tokens_in_content",  # message text that a trainer would parse as control tokens
    "too_long",  # cannot fit max_seq_length even with a single user turn of context
    "record_too_large",  # a line (a .json value) over --max_record_mb: skipped unread
    "internal_error",  # a record on which beam_prep itself failed: the detail has the exception
    "template_error",  # the template raised on this example's window (e.g. its raise_exception)
)


@dataclass(slots=True, frozen=True)
class RawRecord:
    """One parsed JSON value of an input file, or the error reading it."""

    source: str  # path or URL of the file, relative to the common input root
    line: int  # 1-based line (jsonl), element index (json array) or row index (parquet)
    value: object = None  # the decoded JSON value when error is None
    error: str | None = None  # a reject reason when the record could not be decoded
    excerpt: str = ""  # bounded raw text for the rejects output
    detail: str = ""  # what is wrong, when error is set


@dataclass(slots=True, frozen=True)
class Turn:
    role: str  # SYSTEM, USER or ASSISTANT
    content: str


@dataclass(slots=True, frozen=True)
class Dialogue:
    """A normalised dialogue: an optional system turn, then alternating user/assistant turns."""

    id: str
    turns: tuple[Turn, ...]  # the normalised message list; a system turn, if any, is index 0
    source: str = ""
    line: int = 0
    split: str = TRAIN

    @property
    def has_system(self) -> bool:
        return bool(self.turns) and self.turns[0].role == SYSTEM


@dataclass(slots=True)
class Example:
    """One training example: a window of a dialogue's turns ending at an assistant turn.

    `start` and `end` index `dialogue.turns` (both inclusive, `end` is an assistant turn); the
    system turn is never inside the window, the template adds it. `trained` lists the assistant
    turns whose tokens are labelled (per_response: only `end`; whole_dialog: all in the window).
    Token fields are filled by truncation.
    """

    dialogue: Dialogue
    start: int
    end: int
    turn_index: int  # DESIGN.md's turn_index: `end`, or -1 for a whole dialogue in one window
    trained: tuple[int, ...]
    dropped_turns: int = 0
    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.dialogue.id}/{self.turn_index}"

    @property
    def context_turns(self) -> int:
        """User/assistant turns of memory before the last (target) turn of the window."""
        return self.end - self.start


@dataclass(slots=True, frozen=True)
class Reject:
    """A record that did not become training data, with the reason and where it came from."""

    reason: str
    source: str
    line: int
    excerpt: str = ""
    detail: str = ""
    dialogue_id: str = ""

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "line": self.line,
            "reason": self.reason,
            "detail": self.detail,
            "dialogue_id": self.dialogue_id,
            "excerpt": self.excerpt,
        }
