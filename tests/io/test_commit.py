"""The commit of an output without a pipeline (io/commit.py): shards written by the shard writer,
committed, then read back by `datasets` and pyarrow, the readers a trainer uses."""

from __future__ import annotations

import json

import datasets
import pyarrow.parquet as pq

from beam_prep.config import RunConfig
from beam_prep.core.records import SPLITS
from beam_prep.core.stats import Outcome, Stat
from beam_prep.core.templates import load_template
from beam_prep.io.commit import OUTPUT_ENTRIES, SUCCESS, TEMP_DIR, Target, clear_previous, commit_output
from beam_prep.io.fs import url_to_fs
from beam_prep.io.naming import rejects_path
from beam_prep.io.results import Position, RejectsWritten
from beam_prep.io.shard_writer import write_shard
from beam_prep.manifest import manifest_for
from tests.pipeline.test_write import make_row, plain


def target_for(out, fixed: int = 0) -> Target:
    config = RunConfig(input=["in.jsonl"], output=str(out), num_shards=fixed)
    manifest = manifest_for(config, load_template(config.template), ["in.jsonl"], "run-1")
    return Target(str(out), str(out / TEMP_DIR / "run-1"), manifest, fixed)


def test_shards_rejects_and_metadata_are_committed_and_load(tmp_path):
    out = tmp_path / "out"
    target = target_for(out)
    rows = [make_row(i, 3 + i) for i in range(5)]
    # Two train shards written out of input order: the output names them in input order.
    later, _ = write_shard(target.tmp_root, "train", rows[3:], [Position("b.jsonl", 1, 1)] * 2)
    first, _ = write_shard(target.tmp_root, "train", rows[:3], [Position("a.jsonl", 7, 1)] * 3)
    reject_file = rejects_path(0, 1)
    (out / TEMP_DIR / "run-1" / "rejects").mkdir(parents=True)
    (out / TEMP_DIR / "run-1" / reject_file).write_text('{"reason": "invalid_json"}\n')
    counts = {Stat(Outcome.RECORD_READ, "a.jsonl"): 6, Stat(Outcome.EXAMPLE, "a.jsonl", "train"): 5}

    stats = commit_output(target, [later, first], [RejectsWritten(1, reject_file)], counts)

    hf = datasets.load_from_disk(str(out / "hf"))
    assert set(hf) == set(SPLITS) and len(hf["validation"]) == 0  # an empty split still loads
    assert hf["train"].to_list() == [plain(r) for r in rows]
    assert pq.read_table(out / "parquet" / "train-00000-of-00002.parquet").to_pylist() == [plain(r) for r in rows[:3]]
    assert json.loads((out / "stats.json").read_text()) == stats
    assert stats["output"] == {"shards": {"train": 2, "validation": 1}, "rejects_files": 1}
    assert json.loads((out / "manifest.json").read_text())["run_id"] == "run-1"
    assert (out / reject_file).read_text() == '{"reason": "invalid_json"}\n'
    assert (out / SUCCESS).exists() and not (out / TEMP_DIR).exists()


def test_fixed_shard_count_fills_every_number(tmp_path):
    out = tmp_path / "out"
    target = target_for(out, fixed=3)
    two, _ = write_shard(target.tmp_root, "train", [make_row(0, 4)], [Position("a", 0, 1)], number=2)
    stats = commit_output(target, [two], [], {})
    assert stats["output"]["shards"] == {"train": 3, "validation": 3}
    tables = [pq.read_table(out / "parquet" / f"train-{i:05d}-of-00003.parquet") for i in range(3)]
    assert [t.num_rows for t in tables] == [0, 0, 1]
    assert len(datasets.load_from_disk(str(out / "hf"))["train"]) == 1


def test_clearing_the_previous_output_keeps_what_a_run_does_not_write(tmp_path):
    for entry in OUTPUT_ENTRIES:  # folders (parquet, hf...) and files (stats.json...)
        if "." in entry:
            (tmp_path / entry).write_text("x")
        else:
            (tmp_path / entry / "old").mkdir(parents=True)
    (tmp_path / SUCCESS).write_text("")
    (tmp_path / "_LOCK").write_text("lock")
    (tmp_path / "notes.txt").write_text("mine")
    fs, path = url_to_fs(str(tmp_path))
    clear_previous(fs, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_LOCK", "notes.txt"]
