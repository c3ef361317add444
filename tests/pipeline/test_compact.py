"""Shard compaction (pipeline/compact.py): however many small shards the bundles left, each split
ends with at most ceil(tokens / tokens_per_shard) + 1 shards holding the same rows, in all three
formats (a merged shard holds its parts' rows in order); and a whole run whose writer sees a bundle
end after every row."""

from __future__ import annotations

import json
import math
import random

import datasets
import pyarrow.parquet as pq

import beam_prep.pipeline.write as write
from beam_prep.config import RunConfig
from beam_prep.core.records import SPLITS
from beam_prep.io.fs import join, url_to_fs
from beam_prep.io.results import Position, ShardWritten
from beam_prep.io.shard_writer import write_shard
from beam_prep.job import run_job
from beam_prep.pipeline.compact import merge_shards, plan_compaction
from tests.pipeline.corpus import write_corpus
from tests.pipeline.test_write import make_row, plain

PER_SHARD = 1000
IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def bundles_of(tmp_root: str) -> list[ShardWritten]:
    """What the rolling writer leaves for many bundles: per split a few full shards and many small."""
    rng, written, i = random.Random(0), [], 0
    for split in SPLITS:
        for order in range(60):
            n_rows = rng.choice([1, 2, 5, 40]) if order % 20 else 70  # every 20th shard is full
            rows = [make_row(i + k, rng.randint(1, 30)) for k in range(n_rows)]
            i += n_rows
            written.append(write_shard(tmp_root, split, rows, [Position("f", order, 0)] * n_rows)[0])
    return written


def rows_of(tmp_root: str, shard: ShardWritten) -> dict[str, list]:
    fs, _ = url_to_fs(tmp_root)
    files = {fmt: url_to_fs(join(tmp_root, rel))[1] for fmt, rel in shard.paths._asdict().items()}
    with fs.open(files["parquet"], "rb") as f:
        parquet = pq.read_table(f).to_pylist()
    with fs.open(files["jsonl"], "rb") as f:
        jsonl = [json.loads(line) for line in f.read().decode("utf-8").splitlines()]
    with fs.open(files["arrow"], "rb") as f:
        arrow = datasets.Dataset.from_buffer(f.read()).to_list()
    assert parquet == jsonl == arrow
    return parquet


def check_compaction(tmp_root: str) -> None:
    written = bundles_of(tmp_root)
    groups = plan_compaction(written, PER_SHARD)
    compacted = []
    for group in groups:
        merged = merge_shards(group, tmp_root)
        # the rows of its parts, in their order, in every format
        assert rows_of(tmp_root, merged) == [plain(r) for w in group for r in rows_of(tmp_root, w)]
        compacted.append(merged)
    for split in SPLITS:
        before = [w for w in written if w.split == split]
        after = [w for w in compacted if w.split == split]
        tokens = sum(w.tokens for w in before)
        assert len(before) == 60 and len(after) <= math.ceil(tokens / PER_SHARD) + 1 < 30
        assert sum(w.tokens for w in after) == tokens
        assert sum(w.rows for w in after) == sum(w.rows for w in before)
        assert all(w.tokens < 2 * PER_SHARD for w in after if w not in before)


def test_many_small_shards_are_merged_on_local_disk(tmp_path):
    check_compaction(str(tmp_path / "_temporary" / "run"))


def test_a_split_with_one_small_shard_is_left_alone(tmp_path):
    shard, _ = write_shard(str(tmp_path), "train", [make_row(0, 5)], [Position("f", 0, 0)])
    assert plan_compaction([shard], PER_SHARD) == [[shard]]
    assert merge_shards([shard], str(tmp_path)) is shard


def test_a_run_whose_bundles_end_after_every_row(tmp_path, monkeypatch):
    """Each row closes its shard, as if every bundle held one row: hundreds of one-row shards."""
    write_corpus(tmp_path / "in", n=150)
    config = RunConfig(
        input=[str(tmp_path / "in" / "part-*")], output=str(tmp_path / "out"),
        max_seq_length=256, val_fraction=0.2, tokens_per_shard=4000,
    )  # fmt: skip
    expected = run_job(config, IN_PROCESS)
    expected_rows = {
        split: sorted(datasets.load_from_disk(str(tmp_path / "out" / "hf"))[split]["id"]) for split in SPLITS
    }

    process = write._WriteRolling.process
    closed = []

    def one_row_bundles(self, element):
        process(self, element)
        for split in list(self._open):  # the bundle ends: its open shards are closed
            closed.append(split)
            self._done.append(self._open.pop(split).close())

    monkeypatch.setattr(write._WriteRolling, "process", one_row_bundles)
    stats = run_job(config, IN_PROCESS)
    assert len(closed) == sum(s["examples"] for s in stats["splits"].values()) > 300
    hf = datasets.load_from_disk(str(tmp_path / "out" / "hf"))
    for split in SPLITS:
        tokens = sum(hf[split]["num_tokens"])
        assert stats["output"]["shards"][split] <= math.ceil(tokens / config.tokens_per_shard) + 1
        assert sorted(hf[split]["id"]) == expected_rows[split]
        assert len(list((tmp_path / "out" / "parquet").glob(f"{split}-*"))) == stats["output"]["shards"][split]
    assert stats["splits"] == expected["splits"] and not (tmp_path / "out" / "_temporary").exists()


def test_packed_shards_are_merged_with_the_packed_schema(tmp_path, monkeypatch):
    """--packing with one-row bundles: the merged shards keep seq_lengths and every packed example."""
    write_corpus(tmp_path / "in", n=60)
    config = RunConfig(
        input=[str(tmp_path / "in" / "part-*")], output=str(tmp_path / "out"),
        max_seq_length=256, val_fraction=0.2, tokens_per_shard=2000, packing=True,
    )  # fmt: skip
    process = write._WriteRolling.process

    def one_row_bundles(self, element):
        process(self, element)
        for split in list(self._open):
            self._done.append(self._open.pop(split).close())

    monkeypatch.setattr(write._WriteRolling, "process", one_row_bundles)
    stats = run_job(config, IN_PROCESS)
    hf = datasets.load_from_disk(str(tmp_path / "out" / "hf"))
    for split in SPLITS:
        rows = hf[split].to_list()
        assert sum(len(r["id"]) for r in rows) == stats["splits"][split]["examples"]
        assert all(sum(r["seq_lengths"]) == len(r["input_ids"]) == len(r["labels"]) for r in rows)
        tokens = sum(len(r["input_ids"]) for r in rows)
        assert stats["output"]["shards"][split] <= math.ceil(tokens / config.tokens_per_shard) + 1
