"""The whole path on the local FnApiRunner: raw shards -> parquet, jsonl, hf/, rejects, stats."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from beam_prep.config import RunConfig
from beam_prep.core.records import SPLITS
from beam_prep.core.templates import load_template
from beam_prep.job import run_job
from tests.pipeline.corpus import write_corpus

BEAM_ARGS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    dialogues = write_corpus(root / "in")
    config = RunConfig(
        input=[str(root / "in" / "part-*")],
        output=str(root / "out"),
        max_seq_length=256,
        val_fraction=0.2,
        tokens_per_shard=8000,
    )
    stats = run_job(config, BEAM_ARGS)
    return root / "out", stats, dialogues, config


def test_outputs_agree_and_load(run, encoder):
    out, stats, _, _ = run
    hf = datasets.load_from_disk(str(out / "hf"))
    assert set(hf) == set(SPLITS)
    for split in SPLITS:
        jsonl_rows = [
            json.loads(line)
            for f in sorted((out / "jsonl").glob(f"{split}-*.jsonl"))
            for line in f.read_text().splitlines()
        ]
        parquet_rows = [
            r for f in sorted((out / "parquet").glob(f"{split}-*.parquet")) for r in pq.read_table(f).to_pylist()
        ]
        hf_rows = hf[split].to_list()
        assert len(hf_rows) == len(jsonl_rows) == len(parquet_rows) == stats["splits"][split]["examples"] > 0
        assert hf_rows == parquet_rows == jsonl_rows
        for row in hf_rows:
            assert row["input_ids"] == encoder.encode_text(row["text"])
            assert row["num_tokens"] == len(row["input_ids"]) <= 256
            assert row["prompt"] + row["completion"] == row["text"]
            assert row["id"] == f"{row['dialogue_id']}/{row['turn_index']}"
    assert (out / "_SUCCESS").exists() and not (out / "_temporary").exists()


def test_shard_names_follow_the_contract(run):
    out, stats, _, _ = run
    names = sorted(p.name for p in (out / "parquet").iterdir())
    n = stats["output"]["shards"]["train"]
    assert n > 1
    assert [x for x in names if x.startswith("train")] == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def test_no_dialogue_in_both_splits(run):
    out, _, _, _ = run
    hf = datasets.load_from_disk(str(out / "hf"))
    train, val = set(hf["train"]["dialogue_id"]), set(hf["validation"]["dialogue_id"])
    assert train and val and not train & val


def test_every_assistant_turn_accounted_for(run):
    out, stats, dialogues, config = run
    responses = sum(sum(m["role"] == "assistant" for m in d["messages"]) for d in dialogues)
    examples = sum(s["examples"] for s in stats["splits"].values())
    assert examples + stats["examples_rejected"].get("too_long", 0) == responses
    assert stats["records"]["read"] == len(dialogues) + 2
    assert stats["rejects"]["invalid_json"] == 1 and stats["rejects"]["not_an_object"] == 1
    rejects = [json.loads(line) for f in (out / "rejects").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert {(r["source"], r["line"], r["reason"]) for r in rejects} >= {
        ("part-0.jsonl", 31, "invalid_json"),
        ("part-0.jsonl", 32, "not_an_object"),
    }
    manifest = json.loads((out / "manifest.json").read_text())
    tokenizer_json = Path(config.tokenizer, "tokenizer.json").read_bytes()
    assert manifest["config"]["max_seq_length"] == 256
    assert manifest["tokenizer_sha256"]["tokenizer.json"] == hashlib.sha256(tokenizer_json).hexdigest()


def test_per_response_vs_whole_dialog_counts(run, tmp_path):
    _, stats, dialogues, config = run
    whole = run_job(
        RunConfig(
            **{**config.__dict__, "output": str(tmp_path / "whole"), "mode": "whole_dialog", "max_seq_length": 100_000}
        ),
        BEAM_ARGS,
    )
    kept = stats["records"]["dialogues_kept"]
    assert sum(s["examples"] for s in whole["splits"].values()) == kept == len(dialogues)
    assert sum(s["examples"] for s in stats["splits"].values()) > kept


def test_rerun_replaces_the_old_result(run, tmp_path):
    out, stats, _, config = run
    target = tmp_path / "again"
    run_job(RunConfig(**{**config.__dict__, "output": str(target)}), BEAM_ARGS)
    (target / "parquet" / "stale-00000-of-00001.parquet").write_text("old")
    second = run_job(RunConfig(**{**config.__dict__, "output": str(target)}), BEAM_ARGS)
    assert not (target / "parquet" / "stale-00000-of-00001.parquet").exists()
    assert second["splits"] == stats["splits"]
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in out.iterdir())


def test_dataset_card_loads_with_load_dataset_and_has_the_plot(run):
    """The card's YAML header is what the Hub reads: load_dataset(folder) finds both splits."""
    out, stats, _, _ = run
    card = (out / "README.md").read_text()
    assert card.startswith("---\nconfigs:") and "(num_tokens.png)" in card and "max_seq_length" not in card[:10]
    loaded = datasets.load_dataset(str(out))
    for split in SPLITS:
        assert loaded[split].num_rows == stats["splits"][split]["examples"]
    assert (out / "num_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_templates_stop_sequence_reaches_the_manifest_and_the_card(run):
    """What an inference server needs: the prompt as the generation prompt, and where to stop."""
    out, _, _, _ = run
    manifest = json.loads((out / "manifest.json").read_text())
    stop = load_template(manifest["template"]["name"]).stop_sequence
    assert stop and manifest["template"]["stop_sequence"] == stop
    assert f"stop generating at `{stop!r}`" in (out / "README.md").read_text()
