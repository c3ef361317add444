"""WriteShards: rows -> Parquet, JSONL and HF Arrow shards per split, written in parallel to a
temporary folder under the output; Finalize moves them into place."""

from __future__ import annotations

import math

import apache_beam as beam

from beam_prep.core.split import shard_of
from beam_prep.io.fs import join
from beam_prep.io.hf import arrow_name
from beam_prep.io.shards import rows_to_table, write_arrow, write_jsonl, write_parquet


def shard_name(split: str, shard: int, num_shards: int, ext: str) -> str:
    return f"{split}-{shard:05d}-of-{num_shards:05d}.{ext}"


def shard_paths(root: str, split: str, shard: int, num_shards: int) -> dict[str, str]:
    """Relative paths of one shard's files; the same under the temporary and the final root."""
    return {
        "parquet": f"parquet/{shard_name(split, shard, num_shards, 'parquet')}",
        "jsonl": f"jsonl/{shard_name(split, shard, num_shards, 'jsonl')}",
        "arrow": f"hf/{split}/{arrow_name(shard, num_shards)}",
    }


def write_example_shard(tmp_root: str, split: str, shard: int, num_shards: int, rows: list[dict]) -> dict:
    """Write one shard in all three formats; return what Finalize needs to know of it."""
    table = rows_to_table(rows)
    paths = shard_paths(tmp_root, split, shard, num_shards)
    write_parquet(table, join(tmp_root, paths["parquet"]))
    write_jsonl(rows, join(tmp_root, paths["jsonl"]))
    write_arrow(table, join(tmp_root, paths["arrow"]))
    return {
        "kind": "examples",
        "split": split,
        "shard": shard,
        "num_shards": num_shards,
        "rows": len(rows),
        "files": sorted(paths.values()),
    }


class _WriteShard(beam.DoFn):
    def __init__(self, tmp_root: str):
        self._tmp = tmp_root

    def process(self, keyed):
        (split, shard, num_shards), values = keyed
        rows = [row for _, row in sorted(values, key=lambda kv: kv[0])]
        yield write_example_shard(self._tmp, split, shard, num_shards, rows)


def _num_shards(tokens_per_split: dict, fixed: int, tokens_per_shard: int) -> dict:
    if fixed:
        return {split: fixed for split in tokens_per_split}
    return {split: max(1, math.ceil(n / tokens_per_shard)) for split, n in tokens_per_split.items()}


def _key(element, shards: dict):
    split, sort_key, row = element
    n = shards[split]
    return (split, shard_of(row["dialogue_id"], n), n), (sort_key, row)


class WriteShards(beam.PTransform):
    """(split, sort_key, row) -> one dict per written shard (kind, split, shard, rows, files)."""

    def __init__(self, tmp_root: str, num_shards: int = 0, tokens_per_shard: int = 5_000_000):
        super().__init__()
        self._tmp, self._fixed, self._per_shard = tmp_root, num_shards, tokens_per_shard

    def expand(self, rows):
        tokens = (
            rows
            | "TokensPerSplit" >> beam.Map(lambda e: (e[0], e[2]["num_tokens"]))
            | "SumTokens" >> beam.CombinePerKey(sum)
            | "AsDict" >> beam.combiners.ToDict()
            | "ShardCounts" >> beam.Map(_num_shards, self._fixed, self._per_shard)
        )
        return (
            rows
            | "AssignShard" >> beam.Map(_key, beam.pvalue.AsSingleton(tokens))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self._tmp))
        )


class WriteRejects(beam.PTransform):
    """Rejects -> rejects/rejects-SSSSS-of-NNNNN.jsonl, about 100,000 lines a file, input order."""

    LINES_PER_FILE = 100_000

    def __init__(self, tmp_root: str):
        super().__init__()
        self._tmp = tmp_root

    def expand(self, rejects):
        count = rejects | "CountRejects" >> beam.combiners.Count.Globally()
        per_file = self.LINES_PER_FILE
        return (
            rejects
            | "KeyRejects"
            >> beam.Map(lambda r, n: (max(1, math.ceil(n / per_file)), r), beam.pvalue.AsSingleton(count))
            | "AssignRejectShard"
            >> beam.Map(lambda kv: ((shard_of(f"{kv[1].source}:{kv[1].line}", kv[0]), kv[0]), kv[1]))
            | "GroupRejects" >> beam.GroupByKey()
            | "WriteRejectFile" >> beam.Map(self._write, self._tmp)
        )

    @staticmethod
    def _write(keyed, tmp_root: str) -> dict:
        (shard, n), rejects = keyed
        ordered = sorted(rejects, key=lambda r: (r.source, r.line, r.dialogue_id, r.reason, r.detail))
        rel = f"rejects/rejects-{shard:05d}-of-{n:05d}.jsonl"
        write_jsonl([r.to_json() for r in ordered], join(tmp_root, rel))
        return {"kind": "rejects", "rows": len(ordered), "files": [rel]}
