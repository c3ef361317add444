"""Explode a dialogue into the examples it trains, before any truncation.

per_response: one example per target, an assistant turn of weight 1 (an answer, a tool call or
both) after a user turn; its window is every turn from the first user turn up to it. whole_dialog:
one example covering the whole dialogue, up to its last target (what follows has nothing to train
and is left out), trained on every target. Weight-0 assistant turns and tool results are context.
"""

from __future__ import annotations

from beam_prep.core.records import ASSISTANT, Dialogue, Example, Turn

MODES = ("per_response", "whole_dialog")


def explode(dialogue: Dialogue, mode: str) -> list[Example]:
    first = 1 if dialogue.has_system else 0
    assistants = [i for i in range(first + 1, len(dialogue.turns)) if _is_target(dialogue.turns[i])]
    if not assistants:
        return []
    if mode == "per_response":
        return [Example(dialogue, first, end, end, (end,)) for end in assistants]
    if mode == "whole_dialog":
        return [Example(dialogue, first, assistants[-1], -1, tuple(assistants))]
    raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")


def _is_target(turn: Turn) -> bool:
    return turn.role == ASSISTANT and turn.weight == 1
