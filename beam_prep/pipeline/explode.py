"""ExplodeDialogues: each dialogue -> the examples it trains (not yet truncated)."""

from __future__ import annotations

import apache_beam as beam

from beam_prep.core.explode import explode


class ExplodeDialogues(beam.PTransform):
    def __init__(self, mode: str):
        super().__init__()
        self._mode = mode

    def expand(self, dialogues):
        mode = self._mode
        return dialogues | "Explode" >> beam.FlatMap(explode, mode)
