"""The record types that flow through the pipeline, one per stage.

RawRecord (a JSON object read from a file) -> Dialogue (normalised) -> Example (a truncated,
tokenized window) -> row dict (rendered, written). Rejected input becomes a Reject at any stage.
Provenance (source file, line) travels in every record so a reject can always be traced back.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

SYSTEM, USER, ASSISTANT = "system", "user", "assistant"
TOOL = "tool"  # a tool result (OpenAI `tool` message, ShareGPT `observation`): context, never trained
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
    "bad_part",  # --conversation_key field:NAME:ORDER and the ORDER field is missing or not an integer >= 0
    "duplicate_id",  # a second record with an id already used (7 and "7" alike); detail: the record kept
    "duplicate",  # an example equal to one kept (same turns up to the target); detail: the id kept
    "train_target_in_validation",  # --validation_train_targets drop: the target is trained verbatim
    "record_too_large",  # a line (a .json value) over --max_record_mb: skipped unread
    "internal_error",  # a record on which beam_prep itself failed: the detail has the exception
    "template_error",  # the template raised on this example's window (e.g. its raise_exception)
    "bad_tools",  # the record's `tools` is not a list of objects (or a JSON string of one)
    "bad_tool_call",  # an assistant tool call without a function name, or arguments that are not a JSON object
    "orphan_tool_result",  # a tool result with no tool call before it (or naming a call id that was not made)
    "bad_weight",  # an assistant `weight` other than 0 or 1
    "unsupported_by_template",  # tools or reasoning the template cannot render (or the template refused the dialogue)
)
# Reasons of rejoin and dedup (--conversation_key, --duplicates, --validation_train_targets).
CONVERSATION_REASONS = ("bad_part", "duplicate_id", "duplicate", "train_target_in_validation")
# Rejects of single examples (the dialogue may still give other examples), not of input records.
EXAMPLE_REASONS = ("too_long", "duplicate", "train_target_in_validation", "template_error")


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
class ToolCall:
    """One function call of an assistant turn (OpenAI `tool_calls[i]`)."""

    name: str
    arguments: str  # a JSON object as text: the record's string, or its object serialised (key order kept)
    id: str = ""


@dataclass(slots=True, frozen=True)
class Turn:
    role: str  # SYSTEM, USER, ASSISTANT or TOOL
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # assistant turns: the calls it makes (content may be empty)
    tool_call_id: str = ""  # tool turns: the call this result answers, when the record names it
    weight: int = 1  # assistant turns: 0 = context only, never a target
    reasoning: str | None = None  # assistant turns: `reasoning_content`

    @property
    def structured(self) -> bool:
        """Whether the turn needs the exact per-window path (core/structured.py): a tool call, a
        tool result or reasoning, which a template may render in ways a skeleton cannot capture."""
        return bool(self.tool_calls) or self.role == TOOL or self.reasoning is not None or THINK_END in self.content


THINK_END = "</think>"  # reasoning inline in an assistant content: `<think>...</think>answer`


@dataclass(slots=True, frozen=True)
class PartRef:
    """Where one record of a rejoined dialogue came from, and the first turn it gave."""

    id: str  # the record's own id, as read
    source: str
    line: int
    first_turn: int  # index in the rejoined dialogue's turns of the record's first turn


@dataclass(slots=True, frozen=True)
class Dialogue:
    """A normalised dialogue: an optional system turn, then user/assistant turns (alternating unless
    tool calls and their results, TOOL turns, come between).

    `conversation` is the unit of the split and of dedup order: the id of a single-record
    dialogue, or the key shared by the parts of a split conversation (core/conversation.py).
    `parts` lists the source records of a rejoined dialogue (empty for a single record).
    """

    id: str
    turns: tuple[Turn, ...]  # the normalised message list; a system turn, if any, is index 0
    source: str = ""
    line: int = 0
    split: str = TRAIN
    conversation: str = ""
    parts: tuple[PartRef, ...] = ()
    tools: str = ""  # the record's `tools` (function schemas) as a JSON array, "" when it has none
    id_type: str = ""  # the JSON type of an id read as another type than a string (json_type), else ""

    @property
    def unit(self) -> str:
        """The key the split and the dedup order use: the conversation, else the id."""
        return self.conversation or self.id

    def records(self) -> tuple[tuple[str, int], ...]:
        """(source, line) of every input record this dialogue is made of."""
        return tuple((p.source, p.line) for p in self.parts) or ((self.source, self.line),)

    @property
    def structured(self) -> bool:
        """Tools, tool calls, tool results or reasoning: rendered window by window (core/structured.py)."""
        return bool(self.tools) or any(t.structured for t in self.turns)

    @property
    def has_system(self) -> bool:
        return bool(self.turns) and self.turns[0].role == SYSTEM


def json_type(value) -> str:
    """The JSON type name of a decoded value: string, number, boolean, null, array or object."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "array" if isinstance(value, (list, tuple)) else "object"


@dataclass(slots=True, frozen=True)
class Part:
    """One record of a conversation split over records, on its way to being rejoined.

    `dialogue` is normalised but not finished (core/normalize.py `part=True`): it may open with
    assistant turns and hold no assistant turn. `number` is the part number, None for input order.
    """

    conversation: str
    number: int | None
    dialogue: Dialogue


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
    turn_index: int  # README's turn_index: `end`, or -1 for a whole dialogue in one window
    trained: tuple[int, ...]
    dropped_turns: int = 0
    input_ids: array = field(default_factory=lambda: array("i"))  # array('i'): compact, copied by memcpy
    labels: array = field(default_factory=lambda: array("i"))

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
