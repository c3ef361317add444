"""Finalize: once every shard is written, merge the small ones (pipeline/compact.py), then commit
the output once (io/commit.py: move into place, metadata, stats.json, manifest.json, _SUCCESS)."""

from __future__ import annotations

import apache_beam as beam

from beam_prep.io.commit import Target, commit_output
from beam_prep.pipeline.compact import CompactShards
from beam_prep.pipeline.worker import RedactedDoFn


class _Commit(RedactedDoFn):
    """Runs once, with every shard, every rejects file and the merged counters as side inputs."""

    def __init__(self, target: Target):
        self._target = target

    def process(self, _, shards, rejects, counts):
        yield commit_output(self._target, list(shards), list(rejects), counts)


class Finalize(beam.PTransform):
    """(shards, rejects files, merged counters) -> the run's stats, once the output is committed."""

    def __init__(
        self, output: str, tmp_root: str, manifest: dict, fixed_shards: int = 0, tokens_per_shard: int = 5_000_000
    ):
        super().__init__()
        self._target = Target(output, tmp_root, manifest, fixed_shards)
        self._per_shard = tokens_per_shard

    def expand(self, inputs):
        shards, rejects, counts = inputs
        if not self._target.fixed_shards:  # automatic sharding: merge the small shards that bundle ends left
            shards = shards | "CompactShards" >> CompactShards(
                self._target.tmp_root, self._per_shard, self._target.packed
            )
        return (
            shards.pipeline
            | "Once" >> beam.Create([None])
            | "MoveAndCommit"
            >> beam.ParDo(
                _Commit(self._target),
                beam.pvalue.AsList(shards),
                beam.pvalue.AsList(rejects),
                beam.pvalue.AsSingleton(counts),
            )
        )
