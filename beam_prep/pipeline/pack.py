"""PackRows: rendered rows -> packed rows of at most max_seq_length tokens (--packing).

Each worker buffers the rows of its bundle per split and packs a buffer at a time with best-fit
decreasing (core/pack.py): rows never leave the worker, and a packed row never mixes splits. A
bigger buffer packs tighter; this one holds about BUFFER_ROWS_PER_ROW packed rows' worth of tokens.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from beam_prep.core.pack import pack_rows
from beam_prep.io.results import KeyedRow
from beam_prep.pipeline.worker import RedactedDoFn

BUFFER_ROWS_PER_ROW = 256  # tokens buffered per split: this many packed rows of max_seq_length
BUFFER_ROWS = 8192  # ... or this many examples, whichever comes first


class _Pack(RedactedDoFn):
    def __init__(self, max_seq_length: int):
        self._capacity = max_seq_length

    def start_bundle(self):
        self._buffers: dict[str, list] = {}
        self._tokens: dict[str, int] = {}

    def process(self, element: KeyedRow):
        split = element.split
        buffer = self._buffers.setdefault(split, [])
        buffer.append(element)
        self._tokens[split] = self._tokens.get(split, 0) + element.row["num_tokens"]
        if len(buffer) >= BUFFER_ROWS or self._tokens[split] >= BUFFER_ROWS_PER_ROW * self._capacity:
            yield from self._flush(split)

    def finish_bundle(self):
        for split in list(self._buffers):
            for element in self._flush(split):
                yield GlobalWindows.windowed_value(element)

    def _flush(self, split: str):
        buffer = self._buffers.pop(split, [])
        self._tokens.pop(split, None)
        for packed, members in pack_rows([e.row for e in buffer], self._capacity):
            yield KeyedRow(split, min(buffer[i].position for i in members), packed)


class PackRows(beam.PTransform):
    """KeyedRows -> KeyedRows of packed rows; a packed row's position: its first member's."""

    def __init__(self, max_seq_length: int):
        super().__init__()
        self._capacity = max_seq_length

    def expand(self, rows):
        return rows | "PackBuffers" >> beam.ParDo(_Pack(self._capacity))
