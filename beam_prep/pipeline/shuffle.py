"""GroupPacked: GroupByKey whose values cross the shuffle packed into bytes (core/wire.py).

On the local runner the shuffled values sit in the runner's own memory, and a worker receives its
share of the groups at once; bytes cost there about their size, objects several times more. The
packing and unpacking are fused with the steps before and after the shuffle, on the workers.
"""

from __future__ import annotations

import apache_beam as beam

from beam_prep.core.wire import pack, unpack


def _packed(key_value, compress: bool):
    key, value = key_value
    return key, pack(value, compress)


def _unpacked(key_values, compress: bool):
    key, values = key_values
    return key, [unpack(v, compress) for v in values]


class GroupPacked(beam.PTransform):
    """(key, value) -> (key, [value, ...]), like beam.GroupByKey; `compress` for values holding text."""

    def __init__(self, compress: bool = False):
        super().__init__()
        self._compress = compress

    def expand(self, pairs):
        return (
            pairs
            | "Pack" >> beam.Map(_packed, self._compress)
            | "Group" >> beam.GroupByKey()
            | "Unpack" >> beam.Map(_unpacked, self._compress)
        )
