"""Explode a dialogue into the examples it trains, before any truncation.

per_response: one example per assistant turn that has a user turn before it; its window is every
turn from the first user turn up to it. whole_dialog: one example covering the whole dialogue, up to
its last assistant turn (a trailing user turn has nothing to train and is left out).
"""

from __future__ import annotations

from beam_prep.core.records import ASSISTANT, Dialogue, Example

MODES = ("per_response", "whole_dialog")


def explode(dialogue: Dialogue, mode: str) -> list[Example]:
    first = 1 if dialogue.has_system else 0
    assistants = [i for i in range(first + 1, len(dialogue.turns)) if dialogue.turns[i].role == ASSISTANT]
    if not assistants:
        return []
    if mode == "per_response":
        return [Example(dialogue, first, end, end, (end,)) for end in assistants]
    if mode == "whole_dialog":
        return [Example(dialogue, first, assistants[-1], -1, tuple(assistants))]
    raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
