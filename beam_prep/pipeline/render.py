"""RenderExamples: fitted examples -> output rows (text, prompt, completion and the token columns)."""

from __future__ import annotations

from array import array

import apache_beam as beam

from beam_prep.core.fit import window_text
from beam_prep.core.records import Example
from beam_prep.pipeline.worker import FitterSpec, acquire


def example_row(example: Example, text: str, completion_start: int) -> dict:
    """The DESIGN.md columns of one example; token columns as compact int arrays."""
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
        "input_ids": array("i", example.input_ids),
        "labels": array("i", example.labels),
    }


class _Render(beam.DoFn):
    def __init__(self, spec: FitterSpec):
        self._spec = spec

    def setup(self):
        self._fitter = acquire(self._spec)

    def process(self, example: Example):
        text, completion_start = window_text(self._fitter, example)
        d = example.dialogue
        yield d.split, (d.source, d.line, example.turn_index), example_row(example, text, completion_start)


class RenderExamples(beam.PTransform):
    """examples -> (split, sort_key, row); sort_key orders rows within a shard as in the input."""

    def __init__(self, spec: FitterSpec):
        super().__init__()
        self._spec = spec

    def expand(self, examples):
        return examples | "RenderText" >> beam.ParDo(_Render(self._spec))
