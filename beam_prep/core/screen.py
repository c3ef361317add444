"""Whole-dialogue checks that need the tokenizer, made before a dialogue enters its split."""

from __future__ import annotations

from beam_prep.core.records import Dialogue, Reject
from beam_prep.core.tokenizer import TextEncoder


def special_token_reject(encoder: TextEncoder, dialogue: Dialogue) -> Reject | None:
    """A `special_tokens_in_content` reject if any turn holds a special-token string, else None.

    A trainer that re-tokenizes the text column would parse such text as control tokens.
    """
    for turn in dialogue.turns:
        if found := encoder.find_special(turn.content):
            detail = f"content contains {found!r}"
            return Reject("special_tokens_in_content", dialogue.source, dialogue.line, "", detail, dialogue.id)
    return None
