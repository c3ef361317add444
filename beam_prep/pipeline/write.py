"""Writing the rows: Parquet, JSONL and HF Arrow shards per split, into a temporary folder under the
output (io/shard_writer.py); Finalize names them and moves them into place (io/commit.py).

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

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from beam_prep.core.records import Reject
from beam_prep.core.split import shard_of
from beam_prep.io.fs import join
from beam_prep.io.naming import rejects_path
from beam_prep.io.redact import redact
from beam_prep.io.results import KeyedRow, RejectsWritten
from beam_prep.io.shard_writer import Refused, ShardWriter, write_shard
from beam_prep.io.shards import write_jsonl
from beam_prep.pipeline.read import REJECTS
from beam_prep.pipeline.stats import STATS, CountingDoFn
from beam_prep.pipeline.worker import RedactedDoFn


def _emit_refused(fn: CountingDoFn, refused: Refused, split: str, wrap: bool = True):
    """Count and tag the rejects of rows the writer refused (they were counted as examples)."""
    for reject, row in refused:
        # A packed row (--packing) holds several examples: each is taken back (their truncation
        # is not in the packed row, so a truncated one stays counted as truncated).
        for num_tokens in row.get("seq_lengths") or [row["num_tokens"]]:
            fn.reject_fitted(reject, split, num_tokens, row.get("dropped_turns", 0))
        yield beam.pvalue.TaggedOutput(REJECTS, GlobalWindows.windowed_value(reject) if wrap else reject)


class _WriteRolling(CountingDoFn):
    """KeyedRows -> the ShardWritten of this bundle's shards (in finish_bundle), and on the rejects
    output the rows that cannot be encoded."""

    def __init__(self, tmp_root: str, tokens_per_shard: int, packed: bool = False):
        self._tmp, self._per_shard, self._packed = tmp_root, tokens_per_shard, packed

    def start_bundle(self):
        super().start_bundle()
        self._abort()  # shards a failed bundle left open
        self._open: dict[str, ShardWriter] = {}
        self._done: list = []
        self._refused: list[tuple[str, Refused]] = []

    def process(self, element: KeyedRow):
        split = element.split
        try:
            shard = self._open.get(split)
            if shard is None:
                shard = self._open[split] = ShardWriter(self._tmp, split, element.position, packed=self._packed)
            buffer_full = shard.add(element.row, element.position)
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
            if w.rows:  # a shard whose every row was refused has no files
                yield GlobalWindows.windowed_value(w)
        for split, rows in refused:
            yield from _emit_refused(self, rows, split)
        yield from self.flush_counts()

    def teardown(self):
        self._abort()

    def _abort(self):
        for shard in getattr(self, "_open", {}).values():
            shard.abort()
        self._open = {}


class _WriteFixedShard(CountingDoFn):
    """((split, shard number), its KeyedRows) -> one ShardWritten, rows in input order."""

    def __init__(self, tmp_root: str, packed: bool = False):
        self._tmp, self._packed = tmp_root, packed

    def process(self, keyed):
        (split, number), values = keyed
        ordered = sorted(values, key=lambda r: r.position)
        rows, positions = [r.row for r in ordered], [r.position for r in ordered]
        written, refused = write_shard(self._tmp, split, rows, positions, number, self._packed)
        yield written
        yield from _emit_refused(self, refused, split, wrap=False)


def _fixed_shard_key(row: KeyedRow, num_shards: int) -> tuple[tuple[str, int], KeyedRow]:
    """((split, shard number), row): a tuple of a str and an int, deterministic as a key."""
    return (row.split, shard_of(row.row["dialogue_id"], num_shards)), row


class WriteShards(beam.PTransform):
    """KeyedRows -> outputs: shards (a ShardWritten per written shard), rejects (rows that cannot be
    encoded), stats."""

    def __init__(self, tmp_root: str, num_shards: int = 0, tokens_per_shard: int = 5_000_000, packed: bool = False):
        super().__init__()
        self._tmp, self._fixed, self._per_shard, self._packed = tmp_root, num_shards, tokens_per_shard, packed

    def expand(self, rows):
        if not self._fixed:  # (packed rows: automatic sharding only, config.py)
            fn = _WriteRolling(self._tmp, self._per_shard, self._packed)
            return rows | "WriteRolling" >> beam.ParDo(fn).with_outputs(REJECTS, STATS, main="shards")
        return (
            rows
            | "AssignShard" >> beam.Map(_fixed_shard_key, self._fixed)
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.ParDo(_WriteFixedShard(self._tmp, self._packed)).with_outputs(REJECTS, STATS, main="shards")
        )


def _rejects_file_key(reject: Reject, total: int, per_file: int) -> tuple[tuple[int, int], Reject]:
    """((file number, file count), reject): about `per_file` rejects a file, by a hash of the record."""
    files = max(1, math.ceil(total / per_file))
    return (shard_of(f"{reject.source}:{reject.line}", files), files), reject


class WriteRejects(beam.PTransform):
    """Rejects -> a RejectsWritten per rejects/rejects-SSSSS-of-NNNNN.jsonl, about 100,000 lines a
    file, input order."""

    LINES_PER_FILE = 100_000

    def __init__(self, tmp_root: str):
        super().__init__()
        self._tmp = tmp_root

    def expand(self, rejects):
        count = rejects | "CountRejects" >> beam.combiners.Count.Globally()
        return (
            rejects
            | "AssignRejectShard" >> beam.Map(_rejects_file_key, beam.pvalue.AsSingleton(count), self.LINES_PER_FILE)
            | "GroupRejects" >> beam.GroupByKey()
            | "WriteRejectFile" >> beam.ParDo(_WriteRejectFile(self._tmp))
        )


class _WriteRejectFile(RedactedDoFn):
    """((file, file count), rejects) -> the file written, sorted by place; a reject's file name,
    detail and excerpt pass the run's redaction (a URL's password, a presigned query string)."""

    def __init__(self, tmp_root: str):
        self._tmp = tmp_root

    def process(self, keyed):
        (file, num_files), rejects = keyed
        ordered = sorted(rejects, key=lambda r: (r.source, r.line, r.dialogue_id, r.reason, r.detail))
        rel = rejects_path(file, num_files)
        write_jsonl([redact(r.to_json()) for r in ordered], join(self._tmp, rel))
        yield RejectsWritten(len(ordered), rel)
