"""RenderExamples: fitted examples -> output rows (text, prompt, completion and the token columns)."""

from __future__ import annotations

import apache_beam as beam

from beam_prep.core.failures import contain
from beam_prep.core.fit import window_text
from beam_prep.core.records import Example
from beam_prep.core.stats import Outcome, Stat
from beam_prep.core.structured import target_counts
from beam_prep.io.results import KeyedRow, Position
from beam_prep.pipeline.read import REJECTS
from beam_prep.pipeline.stats import STATS, CountingDoFn
from beam_prep.pipeline.worker import WorkerSpec, acquire


def example_row(example: Example, text: str, completion_start: int) -> dict:
    """The columns of one example (README.md, "Columns"); token columns as compact int arrays."""
    return {
        "id": example.id,
        "dialogue_id": example.dialogue.id,
        "turn_index": example.turn_index,
        "prompt": text[:completion_start],
        "completion": text[completion_start:],
        "text": text,
        "num_tokens": len(example.input_ids),
        "context_turns": example.context_turns,
        "dropped_turns": example.dropped_turns,
        "input_ids": example.input_ids,  # the fitters' array('i'), passed on without a copy
        "labels": example.labels,
    }


class _Render(CountingDoFn):
    """An example that fails to render is a reject of that example (core/failures.py)."""

    def __init__(self, spec: WorkerSpec, strict: bool = False):
        self._spec, self._strict = spec, strict

    def setup(self):
        self._fitter = acquire(self._spec)
        self._last = (None, False)  # (the last dialogue rendered, whether it is structured)

    def process(self, example: Example):
        d = example.dialogue
        row, failure = contain(self._row, example, source=d.source, line=d.line, dialogue_id=d.id, strict=self._strict)
        if failure is not None:
            self.reject_fitted(failure, d.split, len(example.input_ids), example.dropped_turns)
            yield beam.pvalue.TaggedOutput(REJECTS, failure)
            return
        # Counted here, where the row exists: an example that fails to render never counted them.
        calls, reasoned = target_counts(example, self._fitter.reasoning)
        if calls:
            self.count(Stat(Outcome.TOOL_CALL_TARGET, split=d.split), calls)
        if reasoned:
            self.count(Stat(Outcome.REASONING_TARGET, split=d.split), reasoned)
        yield KeyedRow(d.split, Position(d.source, d.line, example.turn_index), row)

    def _row(self, example: Example) -> dict:
        d = example.dialogue
        if self._last[0] is not d:  # a dialogue's examples come one after another
            self._last = (d, d.structured)
        text, completion_start = window_text(self._fitter, example, self._last[1])
        return example_row(example, text, completion_start)


class RenderExamples(beam.PTransform):
    """examples -> outputs: rows (KeyedRow: its split and input position), rejects, stats."""

    def __init__(self, spec: WorkerSpec, strict: bool = False):
        super().__init__()
        self._spec, self._strict = spec, strict

    def expand(self, examples):
        fn = _Render(self._spec, self._strict)
        return examples | "RenderText" >> beam.ParDo(fn).with_outputs(REJECTS, STATS, main="rows")
