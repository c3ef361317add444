"""Split conversations rejoined, duplicates dropped, a split that never leaks, exact accounting:
real runs over a messy ShareGPT-style corpus (tests/pipeline/conversations_corpus.py) in two files."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from beam_prep.config import RunConfig
from beam_prep.core.records import SPLITS
from beam_prep.job import run_job
from tests.pipeline.conversations_corpus import VAL_FRACTION, split_of, write_conversations

FNAPI = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing"]
# The rejoined dialogues and their conversation; any other dialogue is its own conversation.
CONVERSATION = {"QWJhYvA_0-1": "QWJhYvA", "QWJhYvA_3": "QWJhYvA", "i6IyJda_0-1": "i6IyJda", "Zx9Yw8V_1": "Zx9Yw8V"}


def outputs(out):
    rows = {
        split: sorted(
            (r for f in sorted((out / "parquet").glob(f"{split}-*.parquet")) for r in pq.read_table(f).to_pylist()),
            key=lambda r: r["id"],
        )
        for split in SPLITS
    }
    rejects = [json.loads(x) for f in sorted((out / "rejects").glob("*.jsonl")) for x in f.read_text().splitlines()]
    return rows, rejects


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("conversations")
    cases = write_conversations(root / "in")
    done = {}
    for name, workers, extra in (("one", 1, {}), ("two", 2, {}), ("drop", 2, {"validation_train_targets": "drop"})):
        config = RunConfig(
            input=[str(root / "in" / "*.jsonl")],
            output=str(root / name),
            input_format="sharegpt",
            max_seq_length=1024,
            val_fraction=VAL_FRACTION,
            **extra,
        )
        stats = run_job(config, FNAPI + [f"--direct_num_workers={workers}"])
        done[name] = (stats, *outputs(root / name))
    return cases, done


def test_parts_are_rejoined_with_their_memory_and_a_gap_starts_afresh(runs):
    _, done = runs
    stats, rows, _ = done["one"]
    by_id = {r["id"]: r for split in SPLITS for r in rows[split]}
    joined = by_id["QWJhYvA_0-1/3"]["prompt"]
    assert "first question" in joined and "the start of a long answer" in joined
    assert "the start of a long answer\n\nand the rest of that answer" in by_id["QWJhYvA_0-1/1"]["completion"]
    assert by_id["QWJhYvA_0-1/3"]["context_turns"] == 3 and "second question" in joined
    after_gap = by_id["QWJhYvA_3/1"]
    assert "question four" in after_gap["prompt"] and "first question" not in after_gap["prompt"]
    assert "tail of an answer" not in after_gap["prompt"] + after_gap["completion"]
    assert "cross-file question" in by_id["i6IyJda_0-1/3"]["prompt"]  # parts in two files meet
    assert {"user_17/1", "user_18/1"} <= set(by_id)  # word-like bases are never stitched
    assert "special token" not in by_id["Zx9Yw8V_1/1"]["prompt"]  # its part 0 was rejected (special tokens)
    assert stats["conversations"] == {"rejoined": 2, "parts": 6, "gaps": 1, "responses_recovered": 3}


def test_no_conversation_in_both_splits(runs):
    _, done = runs
    _, rows, _ = done["one"]
    seen = {}
    for split in SPLITS:
        for row in rows[split]:
            conversation = CONVERSATION.get(row["dialogue_id"], row["dialogue_id"])
            assert split_of(conversation) == split, row["id"]
            assert seen.setdefault(conversation, split) == split
    assert rows["train"] and rows["validation"]


def test_duplicates_are_written_once_and_the_train_copy_is_kept(runs):
    cases, done = runs
    stats, rows, rejects = done["one"]
    ids = [r["id"] for split in SPLITS for r in rows[split]]
    assert len(ids) == len(set(ids))
    train_ids = {r["id"] for r in rows["train"]}
    dropped = {r["excerpt"].removeprefix("example "): r["detail"] for r in rejects if r["reason"] == "duplicate"}
    families = [
        {"exact-a/1", "exact-b/1", f"{cases['cross_val']}/1"},  # exact duplicates, one in validation
        {"long-a/1", "long-b/1"},  # a chat saved at two lengths
        {"long-a/3", "long-b/3"},
        {"fork-a/1", "fork-b/1"},  # the shared opening of a fork
    ]
    for family in families:
        kept = family & set(ids)
        assert len(kept) == 1 and family - kept == {x for x in dropped if x in family}, family
        assert all(dropped[x] == next(iter(kept)) for x in family - kept)
        if any(split_of(x.split("/")[0]) == "train" for x in family):
            assert kept <= train_ids  # validation never repeats a trained example
    assert {"long-a/5", "fork-a/3", "fork-b/3"} <= set(ids)  # what differs is kept
    assert stats["duplicates"] == {"examples_dropped": 5, "duplicate_ids": 1}
    [dup_id] = [r for r in rejects if r["reason"] == "duplicate_id"]
    assert (dup_id["source"], dup_id["line"]) == ("b.jsonl", 3) and "a.jsonl:6" in dup_id["detail"]  # 7 vs "7"
    assert dup_id["detail"].startswith('id 7 (number) and id "7" (string) print alike')  # the type clash named


def test_validation_targets_trained_verbatim_are_counted_and_can_be_dropped(runs):
    cases, done = runs
    stats, rows, _ = done["one"]
    trained = {r["completion"] for r in rows["train"]}  # the reference: the written rows themselves
    verbatim = [r for r in rows["validation"] if r["completion"] in trained]
    assert f"{cases['vt_val']}/1" in {r["id"] for r in verbatim}
    assert stats["validation_train_targets"] == len(verbatim)
    dstats, drows, drejects = done["drop"]
    assert dstats["validation_train_targets"] == len(verbatim)
    dropped = [
        f"{r['dialogue_id']}/{r['excerpt'].split('/')[-1]}"
        for r in drejects
        if r["reason"] == "train_target_in_validation"
    ]
    assert sorted(dropped) == sorted(r["id"] for r in verbatim)
    assert drows["train"] == rows["train"]
    assert drows["validation"] == [r for r in rows["validation"] if r not in verbatim]


def test_every_record_and_response_is_accounted_for_per_file(runs):
    cases, done = runs
    stats, rows, rejects = done["one"]
    files = stats["files"]
    assert stats["records"]["read"] == cases["records"]
    for name, (kept, reasons) in {
        "a.jsonl": (31, {"invalid_json": 1, "special_tokens_in_content": 1, "unknown_role": 1}),
        "b.jsonl": (27, {"duplicate_id": 1, "not_an_object": 1}),
    }.items():
        f = files[name]
        assert f["records_read"] == f["dialogues_kept"] + f["records_rejected"] == kept + sum(reasons.values())
        assert {k: v for k, v in f["rejects"].items() if k not in ("duplicate", "too_long")} == reasons
    examples = sum(len(rows[s]) for s in SPLITS)
    assert examples == sum(s["examples"] for s in stats["splits"].values())
    assert len(rejects) == sum(stats["rejects"].values())
    filler_responses = sum(len(d["conversations"]) // 2 for d in _filler(cases))
    responses = 23 + filler_responses  # the named cases: 23 responses in kept dialogues, by hand
    assert examples + sum(stats["examples_rejected"].values()) == responses


def _filler(cases):
    from tests.pipeline.corpus import make_dialogues, to_sharegpt

    return [to_sharegpt(d) for d in make_dialogues(40, seed=7, prefix="f")]


def test_same_rows_rejects_and_counts_with_one_and_two_workers(runs):
    _, done = runs
    (one, rows1, rejects1), (two, rows2, rejects2) = done["one"], done["two"]
    assert rows1 == rows2 and rejects1 == rejects2
    drop = {"wall_seconds", "output"}
    assert {k: v for k, v in one.items() if k not in drop} == {k: v for k, v in two.items() if k not in drop}
