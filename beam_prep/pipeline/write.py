"""Writing the rows: Parquet, JSONL and HF Arrow shards per split, into a temporary folder under the
output; Finalize names them and moves them into place.

Two ways, chosen by --num_shards:
- automatic (0, the default): each worker writes the rows of its bundle as they come, rolling over to
  a new shard every --tokens_per_shard tokens. Rows never leave the worker that rendered them, so
  nothing is shuffled and memory stays bounded whatever the corpus size. Every run writes the same
  rows with the same splits; which shard holds a row depends on how the runner cut the bundles.
- fixed (N): rows are grouped by (split, hash of the dialogue id mod N) and each shard is sorted by
  input position, so the shard contents are the same on every runner. The grouping is a shuffle: on
  the local runner its data passes through the runner process's memory.
"""

from __future__ import annotations

import math
import uuid

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from beam_prep.core.failures import contain
from beam_prep.core.split import shard_of
from beam_prep.io.fs import join
from beam_prep.io.hf import arrow_name
from beam_prep.io.shards import RowsRefused, ShardFiles, encode_rows, schema_for, write_jsonl
from beam_prep.pipeline.read import REJECTS
from beam_prep.pipeline.stats import STATS, CountingDoFn

ROWS_PER_TABLE = 1024  # rows buffered before they go to the files as one table
TOKENS_PER_TABLE = 1 << 20  # ... or tokens, whichever comes first: bounds a worker's buffer


def shard_paths(split: str, shard: int, num_shards: int) -> dict[str, str]:
    """Final paths of one shard's files, relative to the output."""
    stem = f"{split}-{shard:05d}-of-{num_shards:05d}"
    return {
        "parquet": f"parquet/{stem}.parquet",
        "jsonl": f"jsonl/{stem}.jsonl",
        "arrow": f"hf/{split}/{arrow_name(shard, num_shards)}",
    }


def temp_paths(split: str) -> dict[str, str]:
    """Paths of a shard being written, relative to the temporary folder; unique per attempt."""
    stem = f"{split}-{uuid.uuid4().hex}"
    return {"parquet": f"parquet/{stem}.parquet", "jsonl": f"jsonl/{stem}.jsonl", "arrow": f"hf/{split}/{stem}.arrow"}


def write_shard(
    tmp_root: str, split: str, rows: list[dict], order=(), shard: int | None = None, keys=(), packed: bool = False
) -> dict:
    """Write one whole shard (fixed sharding, or an empty split) in all three formats; the rows
    refused (with `keys`, their sort keys) are in the result's "refused" (see _Shard.flush)."""
    out = _Shard(tmp_root, split, order, shard, packed)
    refused = []
    for i in range(0, len(rows), ROWS_PER_TABLE):
        out.rows, out.keys = rows[i : i + ROWS_PER_TABLE], list(keys[i : i + ROWS_PER_TABLE])
        refused += out.flush()
    return {**out.close(empty_ok=True), "refused": refused}


class _Shard:
    """A shard being written under the temporary folder; rows are buffered and go out a table at a
    time. `order` sorts a split's shards for naming; `shard` is set when the shard count is fixed."""

    def __init__(self, tmp_root: str, split: str, order, shard: int | None = None, packed: bool = False):
        self.split, self.order, self.shard, self.paths = split, order, shard, temp_paths(split)
        urls = {fmt: join(tmp_root, rel) for fmt, rel in self.paths.items()}
        self.files = ShardFiles(urls, schema_for(packed))
        self.rows: list[dict] = []
        self.keys: list[tuple] = []  # the rows' sort keys (source, line, turn_index), for rejects
        self.tokens = 0
        self.refused: list = []  # (reject, row) of the rows Arrow refused, from close()'s flush

    def add(self, row: dict, key: tuple = ("", 0, 0)) -> bool:
        """Buffer a row; True when the buffer should be flushed."""
        self.rows.append(row)
        self.keys.append(key)
        self.tokens += row["num_tokens"]
        return len(self.rows) >= ROWS_PER_TABLE or self.tokens >= TOKENS_PER_TABLE

    def flush(self) -> list:
        """Write the buffered rows; a row that cannot be encoded is left out, and returned as
        (reject, row) (core/failures.py): the other rows of its table are written."""
        rows, keys = self.rows, self.keys or [("", 0, 0)] * len(self.rows)
        self.rows, self.keys, self.tokens = [], [], 0
        try:
            self.files.write(rows)
            return []
        except RowsRefused:
            pass
        good, refused = [], []
        for row, (source, line, _) in zip(rows, keys):
            dialogue_id = row.get("dialogue_id", "")
            dialogue_id = dialogue_id if isinstance(dialogue_id, str) else ",".join(dialogue_id)  # a packed row
            _, reject = contain(
                encode_rows, [row], self.files.schema, source=source, line=line, dialogue_id=dialogue_id
            )
            if reject is None:
                good.append(row)
            else:
                refused.append((reject, row))
        self.files.write(good)
        return refused

    def close(self, empty_ok: bool = False) -> dict:
        """Finish the files; what Finalize needs to know of the shard."""
        self.refused += self.flush()
        self.files.close(empty_ok)
        return {
            "kind": "examples",
            "split": self.split,
            "order": self.order,
            "shard": self.shard,
            "rows": self.files.rows,
            "tokens": self.files.tokens,
            "files": self.paths,
        }


def _emit_refused(fn: CountingDoFn, refused: list, split: str, wrap: bool = True):
    """Count and tag the rejects of rows the writer refused (they were counted as examples)."""
    for reject, row in refused:
        # A packed row (--packing) holds several examples: each is taken back (their truncation
        # is not in the packed row, so a truncated one stays counted as truncated).
        for num_tokens in row.get("seq_lengths") or [row["num_tokens"]]:
            fn.reject_fitted(reject, split, num_tokens, row.get("dropped_turns", 0))
        yield beam.pvalue.TaggedOutput(REJECTS, GlobalWindows.windowed_value(reject) if wrap else reject)


class _WriteRolling(CountingDoFn):
    """(split, sort_key, row) -> shards written by this bundle (one dict each, in finish_bundle),
    and on the rejects output the rows that cannot be encoded."""

    def __init__(self, tmp_root: str, tokens_per_shard: int, packed: bool = False):
        self._tmp, self._per_shard, self._packed = tmp_root, tokens_per_shard, packed

    def start_bundle(self):
        super().start_bundle()
        self._abort()  # shards a failed bundle left open
        self._open: dict[str, _Shard] = {}
        self._done: list[dict] = []
        self._refused: list[tuple[str, list]] = []

    def process(self, element):
        split, sort_key, row = element
        try:
            shard = self._open.get(split)
            if shard is None:
                shard = self._open[split] = _Shard(self._tmp, split, sort_key, packed=self._packed)
            buffer_full = shard.add(row, sort_key)
            if shard.files.tokens + shard.tokens >= self._per_shard:  # the shard is complete
                self._done.append(self._open.pop(split).close())
                self._refused.append((split, shard.refused))
            elif buffer_full:
                self._refused.append((split, shard.flush()))
        except BaseException:
            self._abort()
            raise

    def finish_bundle(self):
        try:
            done = self._done + [shard.close() for shard in self._open.values()]
        except BaseException:
            self._abort()
            raise
        refused = self._refused + [(shard.split, shard.refused) for shard in self._open.values()]
        self._open, self._done, self._refused = {}, [], []
        for w in done:
            if w["rows"]:  # a shard whose every row was refused has no files
                yield GlobalWindows.windowed_value(w)
        for split, rows in refused:
            yield from _emit_refused(self, rows, split)
        yield from self.flush_counts()

    def teardown(self):
        self._abort()

    def _abort(self):
        for shard in getattr(self, "_open", {}).values():
            shard.files.abort()
        self._open = {}


class _WriteFixedShard(CountingDoFn):
    def __init__(self, tmp_root: str, packed: bool = False):
        self._tmp, self._packed = tmp_root, packed

    def process(self, keyed):
        (split, shard), values = keyed
        ordered = sorted(values, key=lambda kv: kv[0])
        rows, keys = [row for _, row in ordered], [key for key, _ in ordered]
        written = write_shard(self._tmp, split, rows, order=(shard,), shard=shard, keys=keys, packed=self._packed)
        refused = written.pop("refused")
        yield written
        yield from _emit_refused(self, refused, split, wrap=False)


class WriteShards(beam.PTransform):
    """(split, sort_key, row) -> outputs: shards (one dict per written shard: kind, split, order,
    shard, rows, files), rejects (rows that cannot be encoded), stats."""

    def __init__(self, tmp_root: str, num_shards: int = 0, tokens_per_shard: int = 5_000_000, packed: bool = False):
        super().__init__()
        self._tmp, self._fixed, self._per_shard, self._packed = tmp_root, num_shards, tokens_per_shard, packed

    def expand(self, rows):
        if not self._fixed:  # (packed rows: automatic sharding only, config.py)
            fn = _WriteRolling(self._tmp, self._per_shard, self._packed)
            return rows | "WriteRolling" >> beam.ParDo(fn).with_outputs(REJECTS, STATS, main="shards")
        n = self._fixed
        return (
            rows
            | "AssignShard" >> beam.Map(lambda e: ((e[0], shard_of(e[2]["dialogue_id"], n)), (e[1], e[2])))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.ParDo(_WriteFixedShard(self._tmp, self._packed)).with_outputs(REJECTS, STATS, main="shards")
        )


def missing_shards(shards: list[dict], splits, fixed: int) -> list[tuple[str, int | None]]:
    """(split, shard) of the shards to write empty: every shard number of a fixed count that got no
    rows, and one shard for a split that got none, so every split loads."""
    missing = []
    for split in splits:
        have = {w["shard"] for w in shards if w["split"] == split}
        if fixed:
            missing += [(split, i) for i in range(fixed) if i not in have]
        elif not have:
            missing.append((split, None))
    return missing


def final_names(shards: list[dict], fixed: int) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(temporary -> final relative paths, shard count per split). A split's shards are numbered in
    `order` (the input position of their first row); with a fixed count, by their shard number."""
    moves, counts = [], {}
    for split in sorted({w["split"] for w in shards}):
        mine = sorted((w for w in shards if w["split"] == split), key=lambda w: (w["order"], w["files"]["parquet"]))
        counts[split] = fixed or len(mine)
        for i, w in enumerate(mine):
            final = shard_paths(split, w["shard"] if fixed else i, counts[split])
            moves += [(w["files"][fmt], final[fmt]) for fmt in ("parquet", "jsonl", "arrow")]
    return moves, counts


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
