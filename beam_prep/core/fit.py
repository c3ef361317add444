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
from functools import cached_property

from beam_prep.core.failures import TEMPLATE_ERROR, failure_detail
from beam_prep.core.layout import IGNORE_INDEX, WindowLayout, answer_start
from beam_prep.core.records import ASSISTANT, Dialogue, Example, Reject
from beam_prep.core.structured import StructuredFitter
from beam_prep.core.templates import TemplateError
from beam_prep.core.units import instantiate

__all__ = ["IGNORE_INDEX", "Fitter", "window_text"]


class Fitter(WindowLayout):
    """Everything one worker needs to fit examples; built once per worker in DoFn.setup."""

    @cached_property
    def structured(self) -> StructuredFitter:
        """The exact per-window path for dialogues with tools, tool calls or reasoning."""
        return StructuredFitter(
            self.template,
            self.encoder,
            self.max_seq_length,
            self.system_prompt,
            self.reasoning,
            getattr(self, "tool_template", None),
        )

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, items: Iterable[tuple[Dialogue, list[Example]]]) -> Iterator[Example | Reject]:
        """Fit the examples of a batch of dialogues; the units of all their turns in one batch.

        Dialogues with special-token strings are rejected before this (core/screen.py)."""
        live, entries = [], []
        for dialogue, examples in items:
            entries.append((dialogue, examples, None if dialogue.structured else {}))
            if not dialogue.structured:
                live.append(entries[-1])
        self._prefill(live)
        for dialogue, examples, cache in entries:
            if cache is None:  # tools, tool calls or reasoning: the exact per-window path
                yield from self.structured.fit(dialogue, examples)
            elif examples and examples[0].turn_index == -1:
                yield from self._fit_whole(dialogue, examples[0], cache)
            else:
                yield from self._fit_responses(dialogue, examples, cache)

    def _prefill(self, live) -> None:
        """Tokenize, in one batch, every turn's canonical units and each target's last-turn units.

        End offsets (for labels) are asked for only where a unit may be trained.
        """
        units, caches, ends = [], [], []
        for dialogue, examples, cache in live:
            canon = self._canonical_groups(self.system_slots(dialogue) == 1)
            whole = bool(examples) and examples[0].turn_index == -1
            for turn, new in self._canonical_units(dialogue, canon):
                units += new
                caches += [cache] * len(new)
                ends += [whole and turn.role == ASSISTANT and u.has_content for u in new]
            for ex in examples:
                lo = max(ex.start, ex.end - 1)
                contents, keys, roles = self._messages(dialogue, lo, ex.end)
                last = len(contents) - 1
                for group in self.shape(roles).groups:
                    new = [instantiate(s, contents, keys) for s in group.shapes]
                    units += new
                    caches += [cache] * len(new)
                    ends += [any(m == last for m, _, _ in u.spans) for u in new]
        seen, todo, todo_caches, todo_ends = set(), [], [], []
        for u, cache, e in zip(units, caches, ends):
            marker = (id(cache) if u.has_content else 0, u.key)
            if marker not in seen and u.key not in self._store(u, cache):
                seen.add(marker)
                todo.append(u)
                todo_caches.append(cache)
                todo_ends.append(e)
        if todo:
            self._fill(todo, todo_caches, todo_ends)

    def _fit_responses(self, dialogue, examples, cache) -> Iterator[Example | Reject]:
        budget = self.max_seq_length
        start = examples[0].start if examples else 0
        first = start
        for ex in examples:
            start = max(start, ex.start)
            try:
                while start < ex.end and self.count(dialogue, start, ex.end, cache) > budget:
                    start += 2  # drop the oldest user/assistant pair
            except TemplateError as exc:  # the template raised on this window: this example only
                yield _reject(dialogue, TEMPLATE_ERROR, f"turn {ex.end}: {failure_detail(exc)}")
                continue
            if start >= ex.end:
                yield _reject(dialogue, "too_long", f"turn {ex.end} does not fit {budget} tokens with one user turn")
                continue  # the pointer now sits after this target: later windows cannot include it
            yield self._assemble(replace(ex, start=start, dropped_turns=start - first), cache)

    def _fit_whole(self, dialogue, whole: Example, cache) -> Iterator[Example | Reject]:
        """One example if it fits, else consecutive windows of whole turns that each fit."""
        budget = self.max_seq_length
        if self.count(dialogue, whole.start, whole.end, cache) <= budget:
            yield self._assemble(whole, cache)
            return
        ends = list(whole.trained)
        start = whole.start
        while ends:
            fitting = None
            for end in ends:
                if end <= start:
                    continue
                if self.count(dialogue, start, end, cache) > budget:
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
                yield self._assemble(Example(dialogue, start, fitting, fitting, trained), cache)
                start = fitting + 1
            ends = [e for e in ends if e > start]


def _reject(dialogue: Dialogue, reason: str, detail: str) -> Reject:
    return Reject(reason, dialogue.source, dialogue.line, "", detail, dialogue.id)


def window_text(fitter: Fitter, ex: Example) -> tuple[str, int]:
    """(text, completion start): the rendered window, and where its last turn's trained span begins
    (layout.answer_start), so `completion` is exactly what per_response labels train."""
    if ex.dialogue.structured:  # where the target's trained span begins (after its header)
        text, spans = fitter.structured.text(ex.dialogue, ex.start, ex.end, ex.trained)
        return text, spans[-1][0] if spans else len(text)
    skeleton, contents, _ = fitter.window(ex.dialogue, ex.start, ex.end)
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
