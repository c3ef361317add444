"""Turns as a chat template receives them, and probes of what a template can render.

`hf_message` is a Turn in transformers' chat format (OpenAI's keys, tool-call arguments parsed, as
`apply_chat_template` expects them); `probe` renders small dialogues once per worker to find
whether a template has a tool format, renders `reasoning_content`, and renders an assistant turn
differently in the history than as the last message (Qwen3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from beam_prep.core.records import ASSISTANT, THINK_END, TOOL, USER, Turn
from beam_prep.core.templates import CompiledTemplate, TemplateError

_PROBE = "beamprepprobe"
_CALL_ID = "probecall"  # 9 letters: Mistral v3 (mistral-common) accepts only [a-zA-Z0-9]{9} call ids


@dataclass(frozen=True, slots=True)
class Support:
    """What a template renders, found by rendering probe dialogues once per worker."""

    tools: bool  # the tools header, tool calls (name and arguments) and tool results all appear
    reasoning: bool  # an assistant's `reasoning_content` appears (as the last message)
    position_dependent: bool  # an assistant turn renders differently in the history than as the last message


def probe(template: CompiledTemplate) -> Support:
    call = {"id": _CALL_ID, "type": "function", "function": {"name": _PROBE + "call", "arguments": {_PROBE + "arg": 1}}}
    tool = {"type": "function", "function": {"name": _PROBE + "tool", "description": "d", "parameters": {}}}
    tool_dialogue = [
        {"role": USER, "content": "u"},
        {"role": ASSISTANT, "content": "", "tool_calls": [call]},
        {"role": TOOL, "tool_call_id": _CALL_ID, "content": _PROBE + "result"},
        {"role": ASSISTANT, "content": "w"},
    ]
    reasoned = {"role": ASSISTANT, "content": "w", "reasoning_content": _PROBE + "reasoning"}
    tools = _shows(template, tool_dialogue, [tool], ("tool", "call", "arg", "result"))
    reasoning = _shows(template, [{"role": USER, "content": "u"}, reasoned], None, ("reasoning",))
    try:
        last = template.render([{"role": USER, "content": "u"}, reasoned])
        history = template.render([{"role": USER, "content": "u"}, reasoned, {"role": USER, "content": "v"}, reasoned])
        position_dependent = not history.startswith(last)
    except TemplateError:
        position_dependent = True
    return Support(tools, reasoning, position_dependent)


def _shows(template: CompiledTemplate, messages: list[dict], tools, marks: tuple[str, ...]) -> bool:
    try:
        text = template.render(messages, tools)
    except TemplateError:
        return False
    return all(_PROBE + m in text for m in marks)


def hf_message(turn: Turn, drop_reasoning: bool = False) -> dict:
    """A turn as a Hugging Face chat message: OpenAI's keys, arguments parsed (templates `tojson` them)."""
    message = {"role": turn.role, "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                **({"id": c.id} if c.id else {}),
                "type": "function",
                "function": {"name": c.name, "arguments": json.loads(c.arguments)},
            }
            for c in turn.tool_calls
        ]
    if turn.role == TOOL and turn.tool_call_id:
        message["tool_call_id"] = turn.tool_call_id
    if drop_reasoning:
        if THINK_END in turn.content:
            message["content"] = turn.content.split(THINK_END)[-1].strip()
    elif turn.reasoning is not None:
        message["reasoning_content"] = turn.reasoning
    return message
