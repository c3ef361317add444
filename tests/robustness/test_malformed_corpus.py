"""A real run over tests/fixtures/malformed/data: every record accounted for, every reason produced,
the exact counts per file and reason (stated by hand below), and no secret in the output."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from beam_prep.config import RunConfig
from beam_prep.core.normalize import content_id
from beam_prep.core.records import CONVERSATION_REASONS, REJECT_REASONS, SPLITS, Turn
from beam_prep.job import run_job

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "malformed" / "data"
BEAM_ARGS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
SECRETS = {"cli": "hunter2-from-the-command-line", "yaml": "hunter2-from-yaml", "env": "hunter2-from-env"}


def torn_lines() -> int:
    """Complete lines zlib itself recovers from the torn gzip: the reference, not our reader."""
    return zlib.decompressobj(31).decompress((DATA / "torn.jsonl.gz").read_bytes()).count(b"\n")


# Reasons produced by tests/robustness/test_hostile_records.py, not by this corpus.
ELSEWHERE = {"record_too_large", "internal_error", "template_error"}
UNREADABLE = {"unreadable_file": 1}
# file: (records read, dialogues kept, reject lines by reason, examples)
EXPECTED = {
    "lines.jsonl": (
        19,
        4,
        {
            "invalid_json": 2,
            "invalid_utf8": 1,
            "not_an_object": 2,
            "missing_messages": 1,
            "bad_turn": 5,
            "unknown_role": 1,
            "no_assistant_turn": 2,
            "special_tokens_in_content": 1,
            "too_long": 2,
        },
        3,
    ),
    "repairs.jsonl": (6, 6, {}, 8),
    "tools.jsonl": (
        6,
        1,
        {"bad_tools": 1, "bad_tool_call": 1, "orphan_tool_result": 1, "bad_weight": 1, "unsupported_by_template": 1},
        1,
    ),
    "torn.jsonl.gz": (torn_lines(), torn_lines(), UNREADABLE, torn_lines()),
    "cut_array.json": (5, 4, {"not_an_object": 1, **UNREADABLE}, 4),
    "lines_in.json": (4, 3, {"invalid_json": 1}, 3),
    "array_bad_bytes.json": (3, 2, {"invalid_utf8": 1}, 2),
    "garbage.jsonl": (3, 0, {"invalid_utf8": 3}, 0),
    "garbage.jsonl.gz": (0, 0, UNREADABLE, 0),
    "garbage.parquet": (0, 0, UNREADABLE, 0),
    "truncated.parquet": (0, 0, UNREADABLE, 0),
    "damaged.parquet": (20, 19, {"unknown_role": 1, **UNREADABLE}, 19),
    "empty.jsonl": (0, 0, {}, 0),
    "empty.json": (0, 0, {}, 0),
    "empty.jsonl.gz": (0, 0, {}, 0),
}
# Every reject of lines.jsonl: (line, reason).
LINES_REJECTS = {
    (2, "invalid_json"),
    (3, "invalid_utf8"),
    (4, "not_an_object"),
    (5, "not_an_object"),
    (6, "missing_messages"),
    *((n, "bad_turn") for n in range(7, 12)),
    (12, "unknown_role"),
    (13, "no_assistant_turn"),
    (14, "no_assistant_turn"),
    (15, "special_tokens_in_content"),
    (16, "too_long"),
    (17, "too_long"),
    (18, "invalid_json"),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("malformed") / "out"
    config = RunConfig(
        input=[str(DATA / "*")],
        output=str(out),
        max_seq_length=256,
        val_fraction=0.3,
        duplicates="keep",  # the files share synthetic turns (q0/a0...): dedup is tested in test_conversations.py
        pipeline_options={"api_token": SECRETS["yaml"], "direct_num_workers": 2},
    )
    os.environ["BEAM_PREP_TEST_SECRET"] = SECRETS["env"]
    try:
        stats = run_job(config, BEAM_ARGS + [f"--some_secret={SECRETS['cli']}"])
    finally:
        del os.environ["BEAM_PREP_TEST_SECRET"]
    rejects = [json.loads(x) for f in sorted((out / "rejects").glob("*.jsonl")) for x in f.read_text().splitlines()]
    rows = [r for f in sorted((out / "parquet").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return out, stats, rejects, rows


def test_every_file_is_listed_with_exact_counts(run):
    _, stats, _, _ = run
    assert set(stats["files"]) == set(EXPECTED) == {p.name for p in DATA.iterdir()}
    for name, (read, kept, reasons, examples) in EXPECTED.items():
        f = stats["files"][name]
        assert (f["records_read"], f["dialogues_kept"], f["rejects"]) == (read, kept, reasons), name
        assert f["records_read"] == f["dialogues_kept"] + f["records_rejected"], name
        assert f["unreadable"] == reasons.get("unreadable_file", 0)
        assert f["examples_rejected"] == reasons.get("too_long", 0)
        assert sum(f["examples"].values()) == examples, name


def test_totals_and_every_reason_produced(run):
    _, stats, rejects, rows = run
    # CONVERSATION_REASONS: tests/core/test_conversations.py; ELSEWHERE: test_hostile_records.py
    assert set(stats["rejects"]) == set(REJECT_REASONS) - set(CONVERSATION_REASONS) - ELSEWHERE
    assert stats["records"] == {
        "files": 15,
        "read": 66 + torn_lines(),
        "dialogues_kept": 39 + torn_lines(),
        "rejected": 27,
        "unreadable_files": 6,
    }
    assert sum(stats["rejects"].values()) == len(rejects) == 27 + 2 + 6  # records, too_long examples, unreadable parts
    assert stats["examples_rejected"] == {"too_long": 2}
    assert sum(s["examples"] for s in stats["splits"].values()) == len(rows) == 40 + torn_lines()
    assert sum(s["dialogues"] for s in stats["splits"].values()) == stats["records"]["dialogues_kept"]
    assert stats["repairs"] == {
        "dropped_empty_turn": 2,
        "dropped_leading_assistant_turn": 1,
        "merged_same_role_turns": 1,
    }


def test_reject_lines_name_source_line_reason_and_excerpt(run):
    _, _, rejects, _ = run
    assert {(r["line"], r["reason"]) for r in rejects if r["source"] == "lines.jsonl"} == LINES_REJECTS
    for r in rejects:
        assert set(r) == {"source", "line", "reason", "detail", "dialogue_id", "excerpt"}
        assert r["reason"] in REJECT_REASONS and len(r["excerpt"]) <= 303
    by_key = {(r["source"], r["line"], r["reason"]): r for r in rejects}
    assert "EOFError" in by_key["torn.jsonl.gz", torn_lines() + 1, "unreadable_file"]["excerpt"]
    assert "row group 1" in by_key["damaged.parquet", 20, "unreadable_file"]["excerpt"]
    assert by_key["cut_array.json", 5, "unreadable_file"]["excerpt"]
    assert "'wizard'" in by_key["lines.jsonl", 12, "unknown_role"]["detail"]
    assert "no tool format" in by_key["tools.jsonl", 5, "unsupported_by_template"]["detail"]
    assert by_key["lines.jsonl", 15, "special_tokens_in_content"]["dialogue_id"] == "specials"
    assert "caf" in by_key["lines.jsonl", 3, "invalid_utf8"]["excerpt"]


def test_kept_dialogues_are_the_expected_ones(run):
    _, stats, rejects, rows = run
    ids = {r["dialogue_id"] for r in rows}
    no_id = content_id([Turn("user", "q"), Turn("assistant", "a")])  # line 20's id is ""
    assert {"lines-ok", "huge-2", no_id, "rep-merge", "rep-none", "arr-3", "bytes-1"} <= ids
    assert {"huge", "specials", "arr-4", "bytes-bad", "jl-bad"}.isdisjoint(ids)
    huge2 = [r for r in rows if r["dialogue_id"] == "huge-2"]
    assert [(r["turn_index"], r["dropped_turns"]) for r in huge2] == [(3, 2)]  # memory starts after the long turn
    for row in rows:
        assert row["num_tokens"] <= 256


def test_no_secret_is_written(run):
    out, _, _, _ = run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["pipeline_options"] == {"api_token": "<redacted>", "direct_num_workers": 2}
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in SECRETS.values():
                assert secret.encode() not in data, (path, secret)


def test_output_is_complete(run):
    out, stats, _, _ = run
    assert (out / "_SUCCESS").exists() and not (out / "_temporary").exists()
    assert set(stats["splits"]) == set(SPLITS)
