"""CompactShards: merge the small shards that bundle ends leave, before Finalize names them.

With automatic sharding each bundle closes its own shard of each split when it ends, so a runner
that cuts many small bundles (Dataflow does) would leave many small files. Every shard the writer
closed because it was full holds at least --tokens_per_shard tokens (T_s); the others are merged in
groups of consecutive shards (in naming order) of at least T_s tokens each, except a split's last
group. So each split ends with at most floor(tokens / T_s) + 1 <= ceil(tokens / T_s) + 1 shards,
each merged one holding less than 2 x T_s tokens (its parts are each below T_s).

Groups are merged in parallel, one per worker at a time, streaming: a Parquet batch is read and
its rows written on through the shard writer's bounded buffer, on local disk and on buckets alike.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from beam_prep.io.fs import join, url_to_fs
from beam_prep.io.results import ShardWritten
from beam_prep.io.shard_writer import ROWS_PER_TABLE, ShardWriter


def plan_compaction(shards: list[ShardWritten], tokens_per_shard: int) -> list[list[ShardWritten]]:
    """Groups of shards to write as one: a full shard alone, the small shards of a split in
    consecutive groups of at least `tokens_per_shard` tokens (the last may be less)."""
    groups = [[w] for w in shards if w.tokens >= tokens_per_shard]
    small = sorted(
        (w for w in shards if w.tokens < tokens_per_shard), key=lambda w: (w.split, w.first, w.paths.parquet)
    )
    group: list[ShardWritten] = []
    for i, w in enumerate(small):
        group.append(w)
        last_of_split = i + 1 == len(small) or small[i + 1].split != w.split
        if last_of_split or sum(g.tokens for g in group) >= tokens_per_shard:
            groups.append(group)
            group = []
    return groups


def merge_shards(group: list[ShardWritten], tmp_root: str, packed: bool = False) -> ShardWritten:
    """One shard with the rows of `group`, in order (a group of one is returned as it is); `packed`:
    the shards hold packed rows (--packing), written again with the packed schema.

    The rows are not decoded: each part's Parquet batches go on as tables (to Parquet and Arrow)
    with the same rows' lines of its JSONL file, so the merged files hold the very rows, and JSON
    lines, that their parts held."""
    if len(group) == 1:
        return group[0]
    out = ShardWriter(tmp_root, group[0].split, group[0].first, packed=packed)
    schema = out.files.schema
    try:
        for w in group:
            parquet_fs, parquet = url_to_fs(join(tmp_root, w.paths.parquet))
            jsonl_fs, jsonl = url_to_fs(join(tmp_root, w.paths.jsonl))
            with parquet_fs.open(parquet, "rb") as f, jsonl_fs.open(jsonl, "rb") as lines:
                for batch in pq.ParquetFile(f).iter_batches(batch_size=ROWS_PER_TABLE):
                    table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                    text = b"".join(_lines(lines, table.num_rows))
                    out.files.write_table(table, text)
        return out.close(empty_ok=True)
    except BaseException:
        out.abort()
        raise


def _lines(f, n: int) -> list[bytes]:
    """The next `n` lines of a JSONL file, each with its newline (a shard's last line has one too)."""
    lines = [f.readline() for _ in range(n)]
    if not lines[-1].endswith(b"\n"):
        raise ValueError("a shard's JSONL file holds fewer lines than its Parquet file has rows")
    return lines


class CompactShards(beam.PTransform):
    """Every ShardWritten -> the shards to name: small ones merged (see the module docstring)."""

    def __init__(self, tmp_root: str, tokens_per_shard: int, packed: bool = False):
        super().__init__()
        self._tmp, self._per_shard, self._packed = tmp_root, tokens_per_shard, packed

    def expand(self, shards):
        return (
            shards.pipeline
            | "Plan" >> beam.Create([None])
            | "PlanMerges"
            >> beam.FlatMap(lambda _, w, n: plan_compaction(w, n), beam.pvalue.AsList(shards), self._per_shard)
            | "SpreadMerges" >> beam.Reshuffle()
            | "MergeShards" >> beam.Map(merge_shards, self._tmp, self._packed)
        )
