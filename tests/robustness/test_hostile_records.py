"""Odd records among ordinary dialogues: every run exits 0, every record is accounted for,
and the ordinary dialogues come out as they would alone.

One real run as a user makes it (two worker processes): a 500-deep `meta` field, a line over
--max_record_mb, a turn far over the budget, `text` turns, a BOM where files were joined, values
sharing a line of a .json file, and a template that raises on long windows. One in-process run where
normalising, fitting and rendering fail on one record each (injected): three internal_error rejects.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from beam_prep.cli import main
from beam_prep.config import RunConfig
from beam_prep.core.records import REJECT_REASONS
from beam_prep.core.templates import templates_dir
from beam_prep.job import run_job
from beam_prep.report import summary_lines
from tests.pipeline.corpus import make_dialogues

BEAM_ARGS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
BUDGET = 256


def pair(user: str, assistant: str = "Sure.", **extra) -> dict:
    return {**extra, "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def read_output(out: Path):
    rows = [r for f in sorted((out / "parquet").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    rejects = [
        json.loads(x) for f in sorted((out / "rejects").glob("*.jsonl")) for x in f.read_text().split("\n") if x
    ]  # not splitlines: \x1e, \u2028 are text
    return json.loads((out / "stats.json").read_text()), rows, rejects


def assert_accounted(stats: dict, rejects: list[dict]) -> None:
    """Every record read is a kept dialogue or one reject line; every reject has a known reason."""
    for name, f in stats["files"].items():
        assert f["records_read"] == f["dialogues_kept"] + f["records_rejected"], name
    assert sum(stats["rejects"].values()) == len(rejects)
    assert {r["reason"] for r in rejects} <= set(REJECT_REASONS)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    (root / "in").mkdir()
    ordinary = [json.dumps(d) for d in make_dialogues(24, seed=3)]
    huge_turn = {
        "id": "huge-turn",
        "messages": [
            {"role": "user", "content": "a question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "paste " * 25_000},  # 150 kB: cut, never tokenized whole
            {"role": "assistant", "content": "too long to read"},
            {"role": "user", "content": "and now?"},
            {"role": "assistant", "content": "fine"},
        ],
    }
    odd = {
        2: json.dumps({**pair("deep one"), "id": "deep"})[:-1] + ', "meta": ' + "[" * 500 + "]" * 500 + "}",
        5: json.dumps(
            {"id": "text-turns", "messages": [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "yo"}]}
        ),
        8: "\ufeff" + json.dumps(pair("after a join", id="bom")),
        11: json.dumps(pair("x" * 300_000, id="over-cap")),
        14: json.dumps(huge_turn),
    }
    lines = list(ordinary)
    for at, line in sorted(odd.items()):
        lines.insert(at - 1, line)
    (root / "in" / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    short, long = pair("Short?", "Yes."), {"messages": pair("q1", "a1")["messages"] + pair("q2", "a2")["messages"]}
    # Two values without ids, then two sharing the id "same" (not copies of the first two: dedup
    # would drop those): the second "same" is a duplicate id, reported, never mixed with the first.
    again = {"messages": pair("Short again?", "Yes.")["messages"]}
    again_long = {"messages": pair("q3", "a3")["messages"] + pair("q4", "a4")["messages"]}
    line = " ".join(json.dumps(v) for v in (short, long, {**again, "id": "same"}, {**again_long, "id": "same"}))
    (root / "in" / "two.json").write_text(line + "\n", encoding="utf-8")
    for suffix in (".jinja", ".yaml"):
        shutil.copy(templates_dir() / f"llama2-chat-memory{suffix}", root / f"picky{suffix}")
    template = root / "picky.jinja"
    raising = "{%- if messages|length > 7 %}{{ raise_exception('too many messages') }}{% endif -%}\n"
    template.write_text(raising + template.read_text())
    out = root / "out"
    argv = ["--input", str(root / "in" / "*"), "--output", str(out), "--template", str(template)]
    argv += ["--max_seq_length", str(BUDGET), "--max_record_mb", "0.2", "--val_fraction", "0.2"]
    code = main(["run", *argv, *BEAM_ARGS])
    return code, *read_output(out)


def test_the_run_exits_0_and_accounts_for_every_record(hostile):
    code, stats, rows, rejects = hostile
    assert code == 0
    assert_accounted(stats, rejects)
    data = stats["files"]["data.jsonl"]
    assert data["records_read"] == 24 + 5 and data["rejects"]["record_too_large"] == 1
    assert stats["files"]["two.json"]["records_read"] == 4 and "internal_error" not in stats["rejects"]


def test_odd_but_valid_records_are_kept(hostile):
    _, _, rows, rejects = hostile
    ids = {r["dialogue_id"] for r in rows}
    assert {"deep", "text-turns", "bom"} <= ids
    (over,) = [r for r in rejects if r["reason"] == "record_too_large"]
    assert (over["source"], over["line"]) == ("data.jsonl", 11) and "over the cap" in over["detail"]


def test_a_turn_far_over_the_budget_costs_only_its_own_examples(hostile):
    _, _, rows, rejects = hostile
    kept = sorted((r["turn_index"], r["dropped_turns"]) for r in rows if r["dialogue_id"] == "huge-turn")
    assert kept == [(1, 0), (5, 4)]  # the last one's memory starts after the pasted turn
    lost = [r for r in rejects if r["dialogue_id"] == "huge-turn"]
    assert [r["reason"] for r in lost] == ["too_long"]


def test_values_sharing_a_line_are_separate_dialogues(hostile, encoder):
    _, _, rows, rejects = hostile
    from_two = [r for r in rows if r["dialogue_id"] == "same" or r["dialogue_id"].startswith("auto-")]
    assert len({r["dialogue_id"] for r in from_two}) == 3
    for r in from_two:  # each row's tokens are its own text's, as the trainer's tokenizer sees it
        assert encoder.encode_text(r["text"]) == r["input_ids"]
    # One of the two "same" values is kept whole (which one: by content id, the same on every run)
    assert sorted(r["turn_index"] for r in from_two if r["dialogue_id"] == "same") in ([1], [1, 3])
    (second,) = [r for r in rejects if r["source"] == "two.json"]
    assert (second["reason"], second["dialogue_id"]) == ("duplicate_id", "same")


def test_a_template_that_raises_on_long_windows_costs_those_examples_only(hostile):
    _, stats, rows, rejects = hostile
    raised = [r for r in rejects if r["reason"] == "template_error"]
    assert raised and all("too many messages" in r["detail"] for r in raised)
    assert stats["examples_rejected"]["template_error"] == len(raised)
    assert len(rows) > 24  # the ordinary short windows still render


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """One in-process run where normalising, fitting, rendering and writing each fail on one record."""
    from beam_prep.core import fit as core_fit
    from beam_prep.io import shards
    from beam_prep.pipeline import read, render

    root = tmp_path_factory.mktemp("failing")
    (root / "in").mkdir()
    names = ["bad-norm", "bad-fit", "bad-render", "bad-write"]
    records = [pair(f"question {i}", id=f"ok-{i}") for i in range(6)]
    # Each with its own content: copies of one dialogue would be dropped as duplicates before they fail.
    records += [
        {"id": n, "messages": pair(f"q1 {n}", "a1")["messages"] + pair(f"q2 {n}", "a2")["messages"]} for n in names
    ]
    (root / "in" / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    def fail_on(name, fn, id_of):
        def patched(*args, **kwargs):
            if id_of(*args) == name:
                raise ValueError(f"injected failure on {name}")
            return fn(*args, **kwargs)

        return patched

    normalize, fit_batch, window_text = read.normalize, core_fit.Fitter.fit, render.window_text
    rows_to_table = shards.rows_to_table

    def to_table(rows, *schema):
        if any(r["dialogue_id"] == "bad-write" for r in rows):
            raise OverflowError("injected failure on bad-write")
        return rows_to_table(rows, *schema)

    def fit(self, items, mode):
        items = list(items)
        if any(d.id == "bad-fit" for d, _ in items):
            raise ValueError("injected failure on bad-fit")
        return fit_batch(self, items, mode)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(read, "normalize", fail_on("bad-norm", normalize, lambda r, *_: r.value.get("id")))
        mp.setattr(core_fit.Fitter, "fit", fit)
        mp.setattr(shards, "rows_to_table", to_table)
        mp.setattr(
            render, "window_text", fail_on("bad-render3", window_text, lambda f, ex, *_: ex.dialogue.id + str(ex.end))
        )
        config = RunConfig(input=[str(root / "in" / "*")], output=str(root / "out"), max_seq_length=BUDGET)
        stats = run_job(config, IN_PROCESS)
        strict = RunConfig(**{**config.__dict__, "output": str(root / "strict"), "internal_errors": "fail"})
        with pytest.raises(Exception, match="injected failure"):
            run_job(strict, IN_PROCESS)
    return root, stats, *read_output(root / "out")[1:]


def test_a_failure_in_any_stage_is_one_reject_and_the_run_goes_on(failing):
    root, stats, rows, rejects = failing
    assert_accounted(stats, rejects)
    errors = sorted(
        (r["dialogue_id"] or str(r["line"]), r["detail"]) for r in rejects if r["reason"] == "internal_error"
    )
    assert [who for who, _ in errors] == ["7", "bad-fit", "bad-render", "bad-write", "bad-write"]  # 7: bad-norm's line
    for _, detail in errors:
        assert "Error: injected failure on bad-" in detail
    kept = sorted((r["dialogue_id"], r["turn_index"]) for r in rows)
    # bad-render lost the one example that failed, bad-write both, bad-fit its dialogue; the rest are there
    assert kept == sorted([(f"ok-{i}", 1) for i in range(6)] + [("bad-render", 1)])
    assert stats["rejects"] == {"internal_error": 5}
    lengths = {length for d in stats["num_tokens"].values() for length in d.get("histogram", {})}
    assert sum(d["count"] for d in stats["num_tokens"].values()) == len(rows)  # rejected rows taken back
    assert lengths == {str(r["num_tokens"]) for r in rows}
    # bad-fit was admitted (a kept record) before its fitting failed: its loss is one example reject
    assert stats["records"]["dialogues_kept"] == 9 and stats["splits"]["train"]["examples"] + stats["splits"][
        "validation"
    ]["examples"] == len(rows)


def test_the_summary_shows_internal_errors_first_and_strict_mode_fails(failing):
    root, stats, _, _ = failing
    lines = summary_lines(stats, str(root / "out"), BUDGET)
    assert lines[0].startswith("WARNING: beam_prep failed on 5 record(s)")
    assert not (root / "strict" / "_SUCCESS").exists()
