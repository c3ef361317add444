"""The shard writers without a runner: streamed shards load alike in all three formats, a worker's
buffer and each shard stay bounded, and Finalize's naming is complete and ordered."""

from __future__ import annotations

import json
import random
from array import array

import datasets
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

import beam_prep.io.shard_writer as shard_writer
from beam_prep.core.records import Reject
from beam_prep.core.stats import Outcome, Stat
from beam_prep.io.naming import final_names, missing_shards, shard_paths
from beam_prep.io.results import NOWHERE, KeyedRow, Position, ShardPaths, ShardWritten
from beam_prep.io.shard_writer import write_shard
from beam_prep.io.shards import ShardFiles, _json_lines, rows_to_table
from beam_prep.pipeline.write import _WriteRolling


def make_row(i: int, n_tokens: int) -> dict:
    text = f"row {i} " + "é" * (i % 5)
    return {
        "id": f"d{i}/1",
        "dialogue_id": f"d{i}",
        "turn_index": 1,
        "prompt": text[:3],
        "completion": text[3:],
        "text": text,
        "num_tokens": n_tokens,
        "context_turns": 1,
        "dropped_turns": 0,
        "input_ids": array("i", range(n_tokens)),
        "labels": array("i", [-100] * (n_tokens // 2) + list(range(n_tokens - n_tokens // 2))),
    }


def plain(row: dict) -> dict:
    """The row as every format loads it: lists, and the attention_mask the writer adds (all ones)."""
    out = {k: (list(v) if isinstance(v, array) else v) for k, v in row.items()}
    return {**out, "attention_mask": [1] * len(out["input_ids"])}


def test_shard_written_table_by_table_loads_the_same_in_every_format(tmp_path):
    rows = [make_row(i, random.Random(i).randint(1, 50)) for i in range(2500)]
    urls = {fmt: str(tmp_path / f"shard.{fmt}") for fmt in ("parquet", "jsonl", "arrow")}
    files = ShardFiles(urls)
    for i in range(0, len(rows), 700):
        files.write(rows[i : i + 700])
    files.close()
    expected = [plain(r) for r in rows]
    assert files.rows == 2500 and files.tokens == sum(r["num_tokens"] for r in rows)
    metadata = pq.ParquetFile(urls["parquet"]).metadata
    assert metadata.num_row_groups == 4  # one per table written
    columns = [metadata.row_group(0).column(i) for i in range(metadata.num_columns)]
    assert {c.compression for c in columns} == {"ZSTD"}  # the codec and encoding of benchmarks/sizes.py
    assert not any("DICTIONARY" in e for c in columns for e in c.encodings)
    assert pq.read_table(urls["parquet"]).to_pylist() == expected
    with open(urls["jsonl"], encoding="utf-8") as f:
        assert [json.loads(line) for line in f] == expected
    with open(urls["arrow"], "rb") as f:
        assert ipc.open_stream(f).read_all().to_pylist() == expected
    assert datasets.Dataset.from_file(urls["arrow"], in_memory=True).to_list() == expected


def test_json_lines_of_a_table_read_back_as_the_rows_in_column_order():
    rows = [make_row(i, n) for i, n in enumerate([0, 1, 5, 300])]
    rows[1]["text"] = 'quote " back \\ slash / tab \t nl \n ctrl \x01 \x7f \u2028 emoji \U0001f600 中文'
    rows[2]["prompt"] = ""
    rows[3]["labels"] = array("i", [-100, 2**31 - 1, -(2**31)] + [0] * 297)
    table = rows_to_table(rows)
    lines = _json_lines(rows, table).split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(rows) + 1
    for line, row in zip(lines, rows):
        back = json.loads(line)
        assert list(back) == table.schema.names and back == plain(row)
    sliced = table.slice(1, 2)  # a table whose token columns start past offset 0
    assert [json.loads(x) for x in _json_lines(rows[1:3], sliced).splitlines()] == [plain(r) for r in rows[1:3]]


def test_a_shard_without_rows_writes_nothing_unless_asked(tmp_path):
    urls = {fmt: str(tmp_path / f"a.{fmt}") for fmt in ("parquet", "jsonl", "arrow")}
    ShardFiles(urls).close()
    assert not list(tmp_path.iterdir())
    w, _ = write_shard(str(tmp_path), "validation", [])
    assert w.rows == 0 and pq.read_table(tmp_path / w.paths.parquet).num_rows == 0
    assert (tmp_path / w.paths.jsonl).read_bytes() == b""
    assert len(datasets.Dataset.from_file(str(tmp_path / w.paths.arrow))) == 0


def run_bundle(fn: _WriteRolling, elements) -> list:
    """The bundle's ShardWritten, then the rejects (and counts) of the rows it refused."""
    fn.start_bundle()
    for e in elements:
        fn.process(e)
    return [out.value.value if hasattr(out, "tag") else out.value for out in fn.finish_bundle()]


def test_rolling_writer_bounds_its_buffer_and_its_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(shard_writer, "ROWS_PER_TABLE", 50)
    monkeypatch.setattr(shard_writer, "TOKENS_PER_TABLE", 400)
    tables = []
    real_write = ShardFiles.write
    monkeypatch.setattr(ShardFiles, "write", lambda self, rows: (tables.append(list(rows)), real_write(self, rows)))
    rng = random.Random(7)
    rows = [make_row(i, rng.choice([1, 3, 20, 90])) for i in range(3000)]
    elements = [KeyedRow("train" if i % 7 else "validation", Position("f", i, 1), r) for i, r in enumerate(rows)]
    per_shard = 2000
    shards = run_bundle(_WriteRolling(str(tmp_path), per_shard), elements)

    assert tables and max(len(t) for t in tables) <= 50
    assert max(sum(r["num_tokens"] for r in t) for t in tables) < 400 + 90
    for split in ("train", "validation"):
        mine = sorted((w for w in shards if w.split == split), key=lambda w: w.first)
        assert all(per_shard <= w.tokens < per_shard + 90 for w in mine[:-1])
        assert 0 < mine[-1].tokens < per_shard + 90
        written_rows = [r for w in mine for r in pq.read_table(tmp_path / w.paths.parquet).to_pylist()]
        assert written_rows == [plain(r) for s, _, r in elements if s == split]  # input order, nothing lost
        assert sum(w.rows for w in mine) == len(written_rows)


def test_final_names_number_each_splits_shards_in_input_order():
    def w(split, first, name, shard=None):
        paths = ShardPaths(*(f"{fmt}/{name}.{fmt}" for fmt in ("parquet", "jsonl", "arrow")))
        return ShardWritten(split, first, shard, 1, 1, paths)

    shards = [
        w("train", Position("b", 1, 1), "x"),
        w("train", Position("a", 9, 1), "y"),
        w("validation", Position("a", 2, 1), "z"),
    ]
    moves, counts = final_names(shards, 0)
    assert counts == {"train": 2, "validation": 1}
    assert ("parquet/y.parquet", shard_paths("train", 0, 2).parquet) in moves
    assert ("arrow/x.arrow", "hf/train/data-00001-of-00002.arrow") in moves
    assert ("jsonl/z.jsonl", "jsonl/validation-00000-of-00001.jsonl") in moves
    assert len(moves) == 9

    fixed = [w("train", NOWHERE, "p", 2), w("train", NOWHERE, "q", 0)]
    assert missing_shards(fixed, ("train", "validation"), 3) == [("train", 1)] + [("validation", i) for i in range(3)]
    moves, counts = final_names(fixed, 3)
    assert counts == {"train": 3}
    assert ("parquet/p.parquet", "parquet/train-00002-of-00003.parquet") in moves
    assert missing_shards(shards[:2], ("train", "validation"), 0) == [("validation", None)]


@pytest.mark.parametrize("split", ["train", "validation"])
def test_shard_paths_follow_the_contract(split):
    assert shard_paths(split, 3, 12)._asdict() == {
        "parquet": f"parquet/{split}-00003-of-00012.parquet",
        "jsonl": f"jsonl/{split}-00003-of-00012.jsonl",
        "arrow": f"hf/{split}/data-00003-of-00012.arrow",
    }


def test_a_file_that_fails_to_close_does_not_leave_the_others_open(tmp_path):
    urls = {fmt: str(tmp_path / f"s.{fmt}") for fmt in ("parquet", "jsonl", "arrow")}
    files = ShardFiles(urls)
    files.write([make_row(i, 5) for i in range(10)])
    handles = list(files._files)  # parquet, jsonl, arrow

    def refuse():
        raise PermissionError("Access Denied")

    handles[1].close = refuse  # the JSONL upload is refused
    with pytest.raises(PermissionError):
        files.close()
    assert handles[0].closed and handles[2].closed
    assert pq.read_table(urls["parquet"]).num_rows == 10  # finished, not cut off
    with open(urls["arrow"], "rb") as f:
        assert ipc.open_stream(f).read_all().num_rows == 10


def test_a_failed_write_drops_its_files(tmp_path, monkeypatch):
    urls = {fmt: str(tmp_path / f"s.{fmt}") for fmt in ("parquet", "jsonl", "arrow")}
    files = ShardFiles(urls)
    files.write([make_row(0, 5)])
    handles = list(files._files)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files._writers[0], "write_table", disk_full)
    with pytest.raises(OSError):
        files.write([make_row(1, 5)])
    assert all(h.closed for h in handles) and files._files == []
    files.close()  # nothing left to finish: no error, nothing reopened


def test_token_columns_concatenate_with_a_dataset_tokenized_by_datasets(tmp_path, encoder):
    """Token columns typed as `datasets.map(tokenizer)` types them: no cast error on concatenation."""
    urls = {fmt: str(tmp_path / f"shard.{fmt}") for fmt in ("parquet", "jsonl", "arrow")}
    files = ShardFiles(urls)
    files.write([make_row(i, 4) for i in range(3)])
    files.close()
    ours = datasets.Dataset.from_file(urls["arrow"]).select_columns(["input_ids", "attention_mask", "labels"])
    theirs = datasets.Dataset.from_dict({"text": ["Hello there", "Bye"]}).map(
        lambda r: {**encoder.hf(r["text"]), "labels": encoder.hf(r["text"])["input_ids"]}, remove_columns=["text"]
    )
    both = datasets.concatenate_datasets([ours, theirs.select_columns(["input_ids", "attention_mask", "labels"])])
    assert len(both) == 5 and both[3]["input_ids"] == encoder.hf("Hello there")["input_ids"]
    parquet = datasets.Dataset.from_parquet(urls["parquet"]).select_columns(["input_ids", "attention_mask", "labels"])
    assert len(datasets.concatenate_datasets([parquet, ours])) == 6


def test_rows_arrow_refuses_are_rejected_and_the_rest_of_their_table_written(tmp_path):
    """A row that cannot be encoded is a reject of that row, not a failed shard."""
    rows = [make_row(i, 5) for i in range(6)]
    rows[2] = {**rows[2], "turn_index": 2**40}  # over int32: pyarrow refuses it
    rows[4] = {**rows[4], "text": "lone \ud800 surrogate"}
    shards = run_bundle(
        _WriteRolling(str(tmp_path), 10**9),
        [KeyedRow("train", Position("f.jsonl", i, 1), r) for i, r in enumerate(rows)],
    )
    outputs = [w for w in shards if isinstance(w, ShardWritten)]
    assert [w.rows for w in outputs] == [4]
    written = pq.read_table(tmp_path / outputs[0].paths.parquet).to_pylist()
    assert written == [plain(r) for i, r in enumerate(rows) if i not in (2, 4)]
    with pytest.raises(Exception) as refused:  # the reference: pyarrow itself, on that value alone
        rows_to_table([rows[2]])
    rejects = [w for w in shards if isinstance(w, Reject)]
    assert [(r.reason, r.line, r.dialogue_id) for r in rejects] == [
        ("internal_error", 2, "d2"),
        ("internal_error", 4, "d4"),
    ]
    assert type(refused.value).__name__ in rejects[0].detail
    counts = next(w for w in shards if isinstance(w, dict))  # the rows' counts taken back
    assert counts[Stat(Outcome.EXAMPLE_REJECTED, "f.jsonl", reason="internal_error")] == 2
    assert counts[Stat(Outcome.EXAMPLE, "f.jsonl", "train")] == -2


def test_a_finished_local_shard_is_synced_and_leaves_the_page_cache(tmp_path, monkeypatch):
    """io/shards.py _settle_local: each local file of a closed shard is fdatasync'ed (on disk before
    the commit renames it) and its pages dropped (POSIX_FADV_DONTNEED), after the writers' footers:
    the files read back whole."""
    import os

    synced, dropped = [], []
    real_sync, real_advise = os.fdatasync, os.posix_fadvise

    def sync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_sync(fd)

    def advise(fd, offset, length, advice):
        if advice == os.POSIX_FADV_DONTNEED:
            dropped.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "fdatasync", sync)
    monkeypatch.setattr(os, "posix_fadvise", advise)
    urls = {fmt: str(tmp_path / f"s.{fmt}") for fmt in ("parquet", "jsonl", "arrow")}
    shard = ShardFiles(urls)
    shard.write([make_row(i, 50 + i) for i in range(30)])
    shard.close()
    assert sorted(synced) == sorted(dropped) == sorted(urls.values())
    assert pq.read_table(urls["parquet"]).num_rows == 30
    assert len((tmp_path / "s.jsonl").read_bytes().splitlines()) == 30
    assert ipc.open_stream(urls["arrow"]).read_all().num_rows == 30
