"""Token-exact truncation: choose each example's window of turns (the layout is layout.py's).

Cost is linear in a dialogue's turns: a window's count is O(1) for regular templates (layout.py),
and the window start of successive targets only moves forward (two pointers), since adding turns
never removes tokens.

Invariant (tested against the tokenizer itself): for every emitted example,
`encoder.encode_text(text) == input_ids` and `len(input_ids) <= max_seq_length`, where `text` is
what `window_text` renders for the same window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from beam_prep.core.explode import MODES
from beam_prep.core.failures import TEMPLATE_ERROR, failure_detail
from beam_prep.core.layout import IGNORE_INDEX, DialogueCache, WindowLayout, answer_start
from beam_prep.core.records import Dialogue, Example, Reject
from beam_prep.core.structured import StructuredFitter
from beam_prep.core.templates import TemplateError

__all__ = ["IGNORE_INDEX", "Fitter", "window_text", "window_texts"]


class Fitter:
    """Everything one worker needs to fit examples: the layout of plain dialogues (layout.py) and
    the exact path of structured ones (structured.py). Made by FitterSpec.build (core/loading.py),
    once per worker in DoFn.setup."""

    def __init__(self, layout: WindowLayout, structured: StructuredFitter, max_seq_length: int):
        self.layout, self.structured, self.max_seq_length = layout, structured, max_seq_length
        self.template, self.encoder, self.system_prompt = layout.template, layout.encoder, layout.system_prompt
        self.reasoning = structured.reasoning

    def count(self, dialogue: Dialogue, start: int, end: int) -> int:
        """Tokens of the plain window turns[start..end] as a trainer sees it, BOS/EOS included."""
        return self.layout.count(dialogue, start, end, DialogueCache())

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, items: Iterable[tuple[Dialogue, list[Example]]], mode: str) -> Iterator[Example | Reject]:
        """Fit the examples `explode(dialogue, mode)` of a batch of dialogues; the units of all
        their turns in one batch.

        Dialogues with special-token strings are rejected before this (core/screen.py)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        whole = mode == "whole_dialog"
        entries = [(d, examples, None if d.structured else DialogueCache()) for d, examples in items if examples]
        self.layout.prefill([(d, ex, cache) for d, ex, cache in entries if cache is not None], whole)
        for dialogue, examples, cache in entries:
            if cache is None:  # tools, tool calls or reasoning: the exact per-window path
                yield from self.structured.fit(dialogue, examples, whole)
            elif whole:
                yield from self._fit_whole(dialogue, examples[0], cache)
            else:
                yield from self._fit_responses(dialogue, examples, cache)

    def _fit_responses(self, dialogue, examples, cache: DialogueCache) -> Iterator[Example | Reject]:
        budget, count = self.max_seq_length, self.layout.count
        start = examples[0].start if examples else 0
        first = start
        for ex in examples:
            start = max(start, ex.start)
            try:
                while start < ex.end and count(dialogue, start, ex.end, cache) > budget:
                    start += 2  # drop the oldest user/assistant pair
            except TemplateError as exc:  # the template raised on this window: this example only
                yield _reject(dialogue, TEMPLATE_ERROR, f"turn {ex.end}: {failure_detail(exc)}")
                continue
            if start >= ex.end:
                yield _reject(dialogue, "too_long", f"turn {ex.end} does not fit {budget} tokens with one user turn")
                continue  # the pointer now sits after this target: later windows cannot include it
            yield self.layout.assemble(replace(ex, start=start, dropped_turns=start - first), cache)

    def _fit_whole(self, dialogue, whole: Example, cache: DialogueCache) -> Iterator[Example | Reject]:
        """One example if it fits, else consecutive windows of whole turns that each fit."""
        budget, count, assemble = self.max_seq_length, self.layout.count, self.layout.assemble
        if count(dialogue, whole.start, whole.end, cache) <= budget:
            yield assemble(whole, cache)
            return
        ends = list(whole.trained)
        start = whole.start
        while ends:
            fitting = None
            for end in ends:
                if end <= start:
                    continue
                if count(dialogue, start, end, cache) > budget:
                    break
                fitting = end
            if fitting is None:
                pair_end = next((e for e in ends if e > start), None)
                if pair_end is None:
                    return
                yield _reject(dialogue, "too_long", f"turns {start}..{pair_end} alone exceed {budget} tokens")
                start = pair_end + 1
            else:
                trained = tuple(e for e in ends if start < e <= fitting)
                yield assemble(Example(dialogue, start, fitting, fitting, trained), cache)
                start = fitting + 1
            ends = [e for e in ends if e > start]


def _reject(dialogue: Dialogue, reason: str, detail: str) -> Reject:
    return Reject(reason, dialogue.source, dialogue.line, "", detail, dialogue.id)


def window_text(fitter: Fitter, ex: Example, structured: bool | None = None) -> tuple[str, int]:
    """(text, completion start): the rendered window, and where its last turn's trained span begins
    (layout.answer_start), so `completion` is exactly what per_response labels train.

    `structured`: `ex.dialogue.structured` if the caller knows it. The property reads every turn,
    so a caller rendering many examples of one dialogue asks it once (pipeline/render.py);
    asking it per example made rendering quadratic in a dialogue's turns."""
    if structured is None:
        structured = ex.dialogue.structured
    if structured:  # where the target's trained span begins (after its header)
        text, spans = fitter.structured.text(ex.dialogue, ex.start, ex.end, ex.trained)
        return text, spans[-1][0] if spans else len(text)
    skeleton, contents, _ = fitter.layout.window(ex.dialogue, ex.start, ex.end)
    parts, completion = [], 0
    last = len(contents) - 1
    for p in skeleton:
        if isinstance(p, int):
            if p == last:
                completion = sum(map(len, parts))
            parts.append(contents[p])
        else:
            parts.append(p)
    text = "".join(parts)
    return text, answer_start(text, completion)


def window_texts(fitter: Fitter, examples: Iterable[Example]) -> Iterator[tuple[str, int]]:
    """`window_text` of each example, `structured` asked once per run of a dialogue's examples."""
    last = (None, False)
    for ex in examples:
        if last[0] is not ex.dialogue:
            last = (ex.dialogue, ex.dialogue.structured)
        yield window_text(fitter, ex, last[1])
