"""Whole-dialogue checks that need the tokenizer, made before a dialogue enters its split."""

from __future__ import annotations

from beam_prep.core.records import Dialogue, Reject
from beam_prep.core.tokenizer import TextEncoder


def template_reject(fitter, dialogue: Dialogue) -> Reject | None:
    """An `unsupported_by_template` reject if the template cannot render the dialogue's tools, tool
    calls or reasoning without losing them (core/structured.py), else None."""
    if not dialogue.structured or not (why := fitter.structured.unsupported(dialogue)):
        return None
    return Reject("unsupported_by_template", dialogue.source, dialogue.line, "", why, dialogue.id)


def special_token_reject(encoder: TextEncoder, dialogue: Dialogue) -> Reject | None:
    """A `special_tokens_in_content` reject if any text of the dialogue holds a special-token
    string, else None: contents, and the reasoning, tool-call names and arguments and tools that a
    template renders as text the model reads too.

    A trainer that re-tokenizes the text column would parse such text as control tokens.
    """
    found = _special_in(encoder, dialogue)
    if found is None:
        return None
    detail = f"content contains {found!r}"
    return Reject("special_tokens_in_content", dialogue.source, dialogue.line, "", detail, dialogue.id)


def _special_in(encoder: TextEncoder, dialogue: Dialogue) -> str | None:
    for turn in dialogue.turns:
        if found := encoder.find_special(turn.content):
            return found
        if turn.structured:
            extra = (turn.reasoning or "", *(c.name + c.arguments for c in turn.tool_calls))
            if found := next(filter(None, map(encoder.find_special, extra)), None):
                return found
    return encoder.find_special(dialogue.tools) if dialogue.tools else None
