"""Turn a decoded JSON record into a normalised Dialogue, or a Reject with a reason.

Schemas (DESIGN.md): `messages` ({"role", "content"}) and `sharegpt` ({"from", "value"}); `auto`
picks per record. Normalisation, in order: map role aliases, join content given as a list of text
parts, strip surrounding whitespace, drop empty turns, merge consecutive turns of one role (joined
by a blank line), drop assistant turns that come before the first user turn. Each repair is named
in `repairs` so it can be counted.
"""

from __future__ import annotations

import json

from beam_prep.core.readers import excerpt
from beam_prep.core.records import ASSISTANT, SYSTEM, USER, Dialogue, RawRecord, Reject, Turn

ROLE_ALIASES = {
    "system": SYSTEM,
    "user": USER,
    "human": USER,
    "assistant": ASSISTANT,
    "gpt": ASSISTANT,
    "chatgpt": ASSISTANT,
    "bing": ASSISTANT,
    "bard": ASSISTANT,
}
INPUT_FORMATS = ("auto", "messages", "sharegpt")
_SCHEMA_KEYS = {"messages": ("messages", "role", "content"), "sharegpt": ("conversations", "from", "value")}
MERGE_SEPARATOR = "\n\n"


def normalize(record: RawRecord, input_format: str = "auto") -> tuple[Dialogue | None, tuple[str, ...], Reject | None]:
    """(dialogue, repairs, None) for a usable record, (None, (), reject) otherwise."""
    value = record.value

    def reject(reason: str, detail: str = "") -> tuple[None, tuple, Reject]:
        raw = json.dumps(value, ensure_ascii=False, default=str) if value is not None else record.excerpt
        return None, (), Reject(reason, record.source, record.line, excerpt(raw), detail)

    if record.error:
        return None, (), Reject(record.error, record.source, record.line, record.excerpt)
    if not isinstance(value, dict):
        return reject("not_an_object", type(value).__name__)
    schema = _detect(value, input_format)
    if schema is None:
        return reject("missing_messages", f"no list under 'messages' or 'conversations' ({input_format})")
    list_key, role_key, content_key = _SCHEMA_KEYS[schema]

    turns: list[Turn] = []
    repairs: list[str] = []
    for i, raw_turn in enumerate(value[list_key]):
        if not isinstance(raw_turn, dict):
            return reject("bad_turn", f"turn {i} is {type(raw_turn).__name__}, not an object")
        role_name = raw_turn.get(role_key)
        role = ROLE_ALIASES.get(role_name.strip().lower()) if isinstance(role_name, str) else None
        if role is None:
            return reject("unknown_role", f"turn {i} has role {role_name!r}")
        content = _content_text(raw_turn.get(content_key))
        if content is None:
            return reject("bad_turn", f"turn {i} content is not text")
        content = content.strip()
        if not content:
            repairs.append("dropped_empty_turn")
            continue
        if role == SYSTEM and any(t.role != SYSTEM for t in turns):
            return reject("bad_turn", f"turn {i} is a system turn after the conversation started")
        if turns and turns[-1].role == role:
            repairs.append("merged_same_role_turns")
            turns[-1] = Turn(role, turns[-1].content + MERGE_SEPARATOR + content)
            continue
        turns.append(Turn(role, content))

    first = 1 if turns and turns[0].role == SYSTEM else 0
    leading = 0
    while first + leading < len(turns) and turns[first + leading].role == ASSISTANT:
        leading += 1
    if leading:
        repairs.append("dropped_leading_assistant_turn")
        del turns[first : first + leading]
    if not any(t.role == ASSISTANT for t in turns[first:]):
        return reject("no_assistant_turn")

    dialogue_id = value.get("id")
    if dialogue_id is None or (isinstance(dialogue_id, str) and not dialogue_id.strip()):
        dialogue_id = f"{record.source}:{record.line}"
    dialogue = Dialogue(str(dialogue_id), tuple(turns), record.source, record.line)
    return dialogue, tuple(repairs), None


def _detect(value: dict, input_format: str) -> str | None:
    candidates = ("messages", "sharegpt") if input_format == "auto" else (input_format,)
    for schema in candidates:
        if isinstance(value.get(_SCHEMA_KEYS[schema][0]), list):
            return schema
    return None


def _content_text(content: object) -> str | None:
    """A string, or a list of OpenAI-style text parts joined; None for anything else."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                return None
        return "\n".join(texts)
    return None
