"""Turn a decoded JSON record into a normalised Dialogue, or a Reject with a reason.

Schemas (README.md, docs/input.md): `messages` ({"role", "content"}) and `sharegpt` ({"from", "value"}); `auto`
picks per record. Both may carry the OpenAI fine-tuning fields (core/toolcalls.py): `tools` on the
record, assistant `tool_calls`, `weight` and `reasoning_content`, `tool` results (ShareGPT:
`function_call` and `observation` turns). Normalisation, in order: map roles (aliases, then
--role_map), join content given as a list of text parts, strip surrounding whitespace, drop empty
turns (not a tool call's empty content, nor a tool result), merge consecutive turns of one role
(joined by a blank line; never turns with tool calls, tool results or reasoning), drop assistant
turns (and tool results) that come before the first user turn. Each
repair is named in `repairs` so it can be counted; `Policy` says which repairs are made and which
problems reject the record instead (docs/input.md lists them with their defaults).

A turn's text is under `content` (`value` for sharegpt), or `text` where that key is absent; a turn
with neither is bad_turn. A dialogue without an id gets `content_id`, a hash of its normalised turns.
A content too long to fit the budget whatever its tokenization (Policy.max_turn_chars) is cut to one
character over the bound (repair shortened_unfittable_turn): its examples are too_long as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from beam_prep.core.readers import excerpt
from beam_prep.core.records import ASSISTANT, SYSTEM, TOOL, USER, Dialogue, RawRecord, Reject, Turn, json_type
from beam_prep.core.toolcalls import (
    BadField,
    parse_reasoning,
    parse_tool_calls,
    parse_tools,
    parse_weight,
    sharegpt_calls,
)

ROLE_ALIASES = {
    "system": SYSTEM,
    "user": USER,
    "human": USER,
    "assistant": ASSISTANT,
    "gpt": ASSISTANT,
    "chatgpt": ASSISTANT,
    "bing": ASSISTANT,
    "bard": ASSISTANT,
    "tool": TOOL,
    "observation": TOOL,  # ShareGPT (LLaMA-Factory): a tool result
    "function": TOOL,  # OpenAI's older function-result role
}
FUNCTION_CALL = "function_call"  # ShareGPT (LLaMA-Factory): an assistant turn whose value is the call(s)
INPUT_FORMATS = ("auto", "messages", "sharegpt")
_SCHEMA_KEYS = {"messages": ("messages", "role", "content"), "sharegpt": ("conversations", "from", "value")}
ALT_CONTENT_KEY = "text"  # read when a turn has no content key: some exports name it so
ID_PREFIX = "auto-"  # default ids: ID_PREFIX + a BLAKE2b hash of the normalised dialogue (content_id)
MERGE_SEPARATOR = "\n\n"  # between the contents of merged same-role turns
PART_SEPARATOR = "\n"  # between the text parts of one content list
TEXT_PART_TYPES = ("text", "input_text", "output_text")
SKIP = "skip"  # a --role_map target: drop turns of that role
ROLE_TARGETS = (SYSTEM, USER, ASSISTANT, TOOL, SKIP)
POLICY_CHOICES = {
    "same_role_turns": ("merge", "reject"),
    "empty_turns": ("drop", "reject"),
    "leading_assistant": ("drop", "reject"),
    "unknown_roles": ("reject", "skip"),
}


@dataclass(frozen=True)
class Policy:
    """What normalisation repairs and what it rejects; the defaults repair all it safely can."""

    same_role_turns: str = "merge"  # merge consecutive turns of one role, or reject (bad_turn)
    empty_turns: str = "drop"  # drop turns empty after stripping, or reject (bad_turn)
    leading_assistant: str = "drop"  # drop assistant turns before the first user turn, or reject (bad_turn)
    unknown_roles: str = "reject"  # a role neither known nor mapped: reject (unknown_role) or skip the turn
    role_map: tuple[tuple[str, str], ...] = ()  # extra roles -> system | user | assistant | tool | skip
    max_turn_chars: int = 0  # a content longer than this cannot fit the budget (core/limits.py); 0: no bound

    def __post_init__(self):
        for name, allowed in POLICY_CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} policy {getattr(self, name)!r} is not one of: {', '.join(allowed)}")
        object.__setattr__(self, "_roles", {**ROLE_ALIASES, **dict(self.role_map)})

    def role(self, name: str) -> str | None:
        """system, user, assistant, skip, or None for an unknown role."""
        role = self._roles.get(name.strip().lower())
        return SKIP if role is None and self.unknown_roles == SKIP else role


def parse_role_map(value: str | dict | None) -> tuple[tuple[str, str], ...]:
    """`"tool=assistant,function=skip"` (or a YAML mapping) -> sorted pairs; ValueError naming the bad entry
    and what is wrong with it (the caller names the setting that held the map)."""
    if not value:
        return ()
    if isinstance(value, dict):
        items = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, str):
        items = []
        for entry in value.split(","):
            if entry.count("=") != 1 or not all(p.strip() for p in entry.split("=")):
                raise ValueError(f"entry {entry.strip()!r} is not ROLE=TARGET (e.g. tool=assistant)")
            items.append(tuple(entry.split("=")))
    else:
        raise ValueError(f"must be ROLE=TARGET,... or a mapping, got {value!r}")
    pairs = {}
    for name, target in items:
        target = target.strip().lower()
        if target not in ROLE_TARGETS:
            allowed = ", ".join(ROLE_TARGETS)
            raise ValueError(f"{name.strip()}={target!r}: the target must be one of {allowed}")
        pairs[name.strip().lower()] = target
    return tuple(sorted(pairs.items()))


DEFAULT_POLICY = Policy()


def normalize(
    record: RawRecord, input_format: str = "auto", policy: Policy = DEFAULT_POLICY, part: bool = False
) -> tuple[Dialogue | None, tuple[str, ...], Reject | None]:
    """(dialogue, repairs, None) for a usable record, (None, (), reject) otherwise.

    A `part` of a conversation split over records (core/conversation.py) keeps its leading
    assistant turns and may have no assistant turn: `finish` runs on the rejoined turns instead.
    """
    value = record.value

    def reject(reason: str, detail: str = "") -> tuple[None, tuple, Reject]:
        return None, (), Reject(reason, record.source, record.line, _raw_excerpt(record), detail)

    if record.error:
        return None, (), Reject(record.error, record.source, record.line, record.excerpt, record.detail)
    if not isinstance(value, dict):
        return reject("not_an_object", type(value).__name__)
    schema = _detect(value, input_format)
    if schema is None:
        return reject("missing_messages", f"no list under 'messages' or 'conversations' ({input_format})")
    list_key, role_key, content_key = _SCHEMA_KEYS[schema]
    try:
        tools = parse_tools(value.get("tools"))
    except BadField as exc:
        return reject(exc.reason, exc.detail)

    turns: list[Turn] = []
    repairs: list[str] = []
    for i, raw_turn in enumerate(value[list_key]):
        if not isinstance(raw_turn, dict):
            return reject("bad_turn", f"turn {i} is {type(raw_turn).__name__}, not an object")
        role_name = raw_turn.get(role_key)
        if not isinstance(role_name, str):
            return reject("bad_turn", f"turn {i} has no {role_key!r} string: {role_name!r}"[:200])
        calls = ()
        if schema == "sharegpt" and role_name.strip().lower() == FUNCTION_CALL:
            try:
                calls = sharegpt_calls(raw_turn.get(content_key), f"turn {i}")
            except BadField as exc:
                return reject(exc.reason, exc.detail)
            role, raw_turn = ASSISTANT, {**raw_turn, content_key: ""}
        else:
            role = policy.role(role_name)
        if role is None:
            return reject("unknown_role", f"turn {i} has role {role_name[:80]!r} (map it with --role_map)")
        if role == SKIP:
            repairs.append("skipped_role_turn")
            continue
        key = content_key if content_key in raw_turn else ALT_CONTENT_KEY
        if key not in raw_turn:
            return reject("bad_turn", f"turn {i} has no {content_key!r} (nor {ALT_CONTENT_KEY!r}) field")
        content = _content_text(raw_turn[key])
        if content is None:
            return reject("bad_turn", f"turn {i} {key} is not text: {_kind(raw_turn[key])}")
        content = content.strip()
        if not _encodable(content):
            return reject("invalid_utf8", f"turn {i} content holds a lone surrogate escape such as \\ud800")
        try:
            turn = _turn(role, content, raw_turn, calls, i)
        except BadField as exc:
            return reject(exc.reason, exc.detail)
        if role == TOOL and (orphan := _orphan(turn, turns)):
            return reject("orphan_tool_result", f"turn {i} {orphan}")
        if not content and not turn.tool_calls and role != TOOL:
            if policy.empty_turns == "reject":
                return reject("bad_turn", f"turn {i} is empty")
            repairs.append("dropped_empty_turn")
            continue
        if role == SYSTEM and any(t.role != SYSTEM for t in turns):
            return reject("bad_turn", f"turn {i} is a system turn after the conversation started")
        if turns and turns[-1].role == role and not (turns[-1].structured or turn.structured):
            if policy.same_role_turns == "reject":
                return reject("bad_turn", f"turn {i} is a second {role} turn in a row")
            repairs.append("merged_same_role_turns")
            # A merged turn is trained only if both parts were: weight 0 is never overridden.
            prev = turns[-1]
            turns[-1] = replace(
                prev, content=prev.content + MERGE_SEPARATOR + content, weight=min(prev.weight, turn.weight)
            )
            continue
        turns.append(turn)

    if not part:
        turns, repair, problem = finish(turns, policy)
        if problem:
            return reject(*problem)
        repairs += [repair] if repair else []

    dialogue_id = value.get("id")
    if dialogue_id is None or (isinstance(dialogue_id, str) and not dialogue_id.strip()):
        dialogue_id = content_id(turns, tools)
    if not _encodable(str(dialogue_id)):
        return reject("invalid_utf8", "the id holds a lone surrogate escape such as \\ud800")
    if policy.max_turn_chars and any(len(t.content) > policy.max_turn_chars for t in turns):
        # Never fits any window: one character over the bound is rejected as the whole would be
        # (too_long, by the Fitter), without tokenizing or carrying the rest.
        cut = policy.max_turn_chars + 1
        turns = [replace(t, content=t.content[:cut]) if len(t.content) > cut else t for t in turns]
        repairs.append("shortened_unfittable_turn")
    id_type = "" if isinstance(dialogue_id, str) else json_type(dialogue_id)  # 7 and "7" print alike
    dialogue = Dialogue(str(dialogue_id), tuple(turns), record.source, record.line, tools=tools, id_type=id_type)
    return dialogue, tuple(repairs), None


def finish(turns: list[Turn], policy: Policy = DEFAULT_POLICY) -> tuple[list[Turn], str, tuple | None]:
    """(turns, repair, problem) of a whole dialogue: assistant turns before the first user turn
    are dropped (repair `dropped_leading_assistant_turn`) or rejected; a dialogue must keep an
    assistant turn. `problem` is None or the (reason, detail) of a reject."""
    first = 1 if turns and turns[0].role == SYSTEM else 0
    leading = 0
    while first + leading < len(turns) and turns[first + leading].role in (ASSISTANT, TOOL):
        leading += 1
    repair = ""
    if leading:
        if policy.leading_assistant == "reject":
            return turns, "", ("bad_turn", "the dialogue starts with an assistant turn")
        repair = "dropped_leading_assistant_turn"
        turns = turns[:first] + turns[first + leading :]
    if not any(t.role == ASSISTANT for t in turns[first:]):
        return turns, "", ("no_assistant_turn",)
    if not any(t.role == ASSISTANT and t.weight for t in turns[first:]):
        return turns, "", ("no_assistant_turn", "every assistant turn has weight 0")
    return turns, repair, None


def content_id(turns: list[Turn], tools: str = "") -> str:
    """The default id of a dialogue without one: a hash of its normalised turns (roles and
    contents, and a turn's tool calls, result id, weight and reasoning where it has them) and its
    tools, so it does not change when the file is renamed, moved, compressed or reordered.
    Identical dialogues share it (they are duplicates); any other difference changes it."""
    h = hashlib.blake2b(digest_size=10, person=b"beam_prep.id")
    for turn in turns:
        content = turn.content.encode("utf-8")
        h.update(f"{turn.role}\0{len(content)}\0".encode())
        h.update(content)
        if turn.structured or turn.weight != 1:
            extra = repr((turn.tool_calls, turn.tool_call_id, turn.weight, turn.reasoning)).encode("utf-8", "replace")
            h.update(len(extra).to_bytes(8, "big") + extra)
    if tools:
        h.update(b"\0tools\0" + tools.encode("utf-8", "replace"))
    return ID_PREFIX + h.hexdigest()


def _turn(role: str, content: str, raw: dict, calls: tuple, i: int) -> Turn:
    """The Turn of one raw turn, with its tool calls, result id, weight and reasoning validated."""
    where = f"turn {i}"
    if role != ASSISTANT:
        call_id = raw.get("tool_call_id") if role == TOOL else None
        if call_id is not None and not isinstance(call_id, str):
            raise BadField("bad_turn", f"{where} tool_call_id is not a string")
        return Turn(role, content, tool_call_id=call_id or "")
    calls = calls or parse_tool_calls(raw.get("tool_calls"), where)
    return Turn(
        role,
        content,
        tool_calls=calls,
        weight=parse_weight(raw.get("weight"), where),
        reasoning=parse_reasoning(raw.get("reasoning_content"), where),
    )


def _orphan(result: Turn, turns: list[Turn]) -> str:
    """Why a tool result has no call to answer ("" when it has one): the turn before the run of
    results it belongs to must be an assistant turn with calls, and a named call id must be one of them."""
    j = len(turns) - 1
    while j >= 0 and turns[j].role == TOOL:
        j -= 1
    if j < 0 or not turns[j].tool_calls:
        return "is a tool result with no tool call before it"
    ids = {c.id for c in turns[j].tool_calls if c.id}
    if result.tool_call_id and ids and result.tool_call_id not in ids:
        return f"answers tool call {result.tool_call_id[:80]!r}, which turn {j} did not make"
    return ""


def _raw_excerpt(record: RawRecord) -> str:
    try:
        return excerpt(json.dumps(record.value, ensure_ascii=False, default=str))
    except (ValueError, RecursionError):  # NaN is fine; a cycle or deep nesting is not
        return excerpt(repr(record.value)[: 4 * 300])


def _detect(value: dict, input_format: str) -> str | None:
    candidates = ("messages", "sharegpt") if input_format == "auto" else (input_format,)
    for schema in candidates:
        if isinstance(value.get(_SCHEMA_KEYS[schema][0]), list):
            return schema
    return None


def _encodable(text: str) -> bool:
    """Whether text is valid Unicode: a JSON escape like \\ud800 decodes to a lone surrogate, which
    no tokenizer or Parquet file accepts."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _content_text(content: object) -> str | None:
    """A string, or a list of text parts joined by a newline; None for anything else.

    Parts are strings or OpenAI-style `{"type": "text", "text": ...}` objects (`input_text` and
    `output_text` too); any other part (an image, audio, a tool call) makes the content unusable.
    """
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif (
                isinstance(part, dict)
                and part.get("type", "text") in TEXT_PART_TYPES
                and isinstance(part.get("text"), str)
            ):
                texts.append(part["text"])
            else:
                return None
        return PART_SEPARATOR.join(texts)
    return None


def _kind(content: object) -> str:
    if isinstance(content, list):
        kinds = {str(p.get("type", "?"))[:40] if isinstance(p, dict) else type(p).__name__ for p in content}
        return f"a list with parts {sorted(kinds)}"
    return type(content).__name__
