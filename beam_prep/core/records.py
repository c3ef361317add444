"""The record types that flow through the pipeline, one per stage.

RawRecord (a JSON object read from a file) -> Dialogue (normalised) -> Example (a truncated,
tokenized window) -> row dict (rendered, written). Rejected input becomes a Reject at any stage.
Provenance (source file, line) travels in every record so a reject can always be traced back.
"""

from __future__ import annotations

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
    "bad_tools",  # the record's `tools` is not a list of objects (or a JSON string of one)
    "bad_tool_call",  # an assistant tool call without a function name, or arguments that are not a JSON object
    "orphan_tool_result",  # a tool result with no tool call before it (or naming a call id that was not made)
    "bad_weight",  # an assistant `weight` other than 0 or 1
    "unsupported_by_template",  # tools or reasoning the template cannot render (or the template refused the dialogue)
)


@dataclass(slots=True, frozen=True)
class RawRecord:
    """One parsed JSON value of an input file, or the error reading it."""

    source: str  # path or URL of the file, relative to the common input root
    line: int  # 1-based line (jsonl), element index (json array) or row index (parquet)
    value: object = None  # the decoded JSON value when error is None
    error: str | None = None  # a reject reason when the record could not be decoded
    excerpt: str = ""  # bounded raw text for the rejects output


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
class Dialogue:
    """A normalised dialogue: an optional system turn, then user/assistant turns (alternating unless
    tool calls and their results, TOOL turns, come between)."""

    id: str
    turns: tuple[Turn, ...]  # the normalised message list; a system turn, if any, is index 0
    source: str = ""
    line: int = 0
    split: str = TRAIN
    tools: str = ""  # the record's `tools` (function schemas) as a JSON array, "" when it has none

    @property
    def structured(self) -> bool:
        """Tools, tool calls, tool results or reasoning: rendered window by window (core/structured.py)."""
        return bool(self.tools) or any(t.structured for t in self.turns)

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
