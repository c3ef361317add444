"""The OpenAI fine-tuning fields of a record: `tools`, assistant `tool_calls`, `weight` and
`reasoning_content`, and ShareGPT's `function_call` turns (LLaMA-Factory's convention).

Each parser takes the raw JSON value and returns the normalised value, or raises BadField with a
reject reason and a detail naming what is wrong. Arguments are kept as JSON text (a string as the
record gives it, an object serialised with its key order), so a Turn stays hashable; the renderer
hands templates the parsed object, as transformers' apply_chat_template expects.
"""

from __future__ import annotations

import json

from beam_prep.core.records import ToolCall


class BadField(ValueError):
    """A field that makes the record unusable: `reason` is a REJECT_REASONS entry."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def parse_tools(value: object) -> str:
    """The record's `tools`: a list of objects (or a JSON string of one) -> its JSON text; "" for none."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, str):
        value = _json(value, "tools is a string that is not JSON", "bad_tools")
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise BadField("bad_tools", f"tools must be a list of objects, got {_kind(value)}")
    return json.dumps(value, ensure_ascii=False) if value else ""


def parse_tool_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    """OpenAI `tool_calls`: [{"id", "type": "function", "function": {"name", "arguments"}}]; a
    call given flat ({"name", "arguments"}) is accepted too."""
    if value is None or value == []:
        return ()
    if not isinstance(value, list):
        raise BadField("bad_tool_call", f"{where} tool_calls is {_kind(value)}, not a list")
    return tuple(parse_call(call, f"{where} tool call {i}") for i, call in enumerate(value))


def parse_call(call: object, where: str) -> ToolCall:
    if isinstance(call, str):  # ShareGPT function_call values are JSON text
        call = _json(call, f"{where} is not JSON")
    if not isinstance(call, dict):
        raise BadField("bad_tool_call", f"{where} is {_kind(call)}, not an object")
    function = call.get("function", call)
    if not isinstance(function, dict):
        raise BadField("bad_tool_call", f"{where} function is {_kind(function)}, not an object")
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadField("bad_tool_call", f"{where} has no function name")
    call_id = call.get("id") or ""
    if not isinstance(call_id, str):
        raise BadField("bad_tool_call", f"{where} id is {_kind(call_id)}, not a string")
    return ToolCall(name.strip(), _arguments(function.get("arguments", function.get("parameters")), where), call_id)


def _arguments(value: object, where: str) -> str:
    if value is None:
        return "{}"
    if isinstance(value, str):
        parsed = _json(value, f"{where} arguments are not JSON: {value[:80]!r}")
        if not isinstance(parsed, dict):
            raise BadField("bad_tool_call", f"{where} arguments are {_kind(parsed)}, not a JSON object")
        return value
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    raise BadField("bad_tool_call", f"{where} arguments are {_kind(value)}, not a JSON object")


def _json(text: str, detail: str, reason: str = "bad_tool_call") -> object:
    """The decoded JSON text of a record's field; BadField(reason, detail) if it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        raise BadField(reason, detail) from None


def parse_weight(value: object, where: str) -> int:
    """OpenAI `weight`: 0 (context only) or 1 (trained); absent = 1."""
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (0, 1):
        raise BadField("bad_weight", f"{where} weight is {value!r}, not 0 or 1"[:200])
    return int(value)


def parse_reasoning(value: object, where: str) -> str | None:
    """`reasoning_content`: text (stripped; empty = none)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadField("bad_turn", f"{where} reasoning_content is {_kind(value)}, not text")
    return value.strip() or None


def sharegpt_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    """A ShareGPT `function_call` turn's value: one call or a list of calls, as JSON text."""
    if isinstance(value, str):
        value = _json(value, f"{where} function_call value is not JSON")
    calls = value if isinstance(value, list) else [value]
    if not calls:
        raise BadField("bad_tool_call", f"{where} function_call holds no call")
    return tuple(parse_call(c, f"{where} call {i}") for i, c in enumerate(calls))


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
