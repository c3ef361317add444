"""--packing: best-fit decreasing packs without losing or changing an example; packed and unpacked
runs hold the same examples, token for token; rows never mix splits; stats and card report the fill."""

from __future__ import annotations

import json
import random

import datasets
import pytest

from beam_prep.config import ConfigError, RunConfig
from beam_prep.core.pack import best_fit_decreasing
from tests.clients.conftest import run_sample

MAX = 512


def test_best_fit_decreasing_places_every_item_once_within_capacity():
    rng = random.Random(3)
    for n, capacity in [(1, 10), (50, 64), (2000, 4096)]:
        lengths = [rng.randint(1, capacity) for _ in range(n)]
        bins = best_fit_decreasing(lengths, capacity)
        assert sorted(i for b in bins for i in b) == list(range(n))
        loads = sorted(sum(lengths[i] for i in b) for b in bins)
        assert loads[-1] <= capacity
        # no two rows could have been one: an item opens a new row only when no open row holds it
        assert len(loads) < 2 or loads[0] + loads[1] > capacity


def test_best_fit_decreasing_picks_the_tightest_row():
    # 6 and 5 open two rows; 4 fills 6's row (room 4: the tightest), 3 and 2 fill 5's
    assert best_fit_decreasing([6, 5, 4, 3, 2], 10) == [[0, 2], [1, 3, 4]]
    with pytest.raises(ValueError, match="does not fit"):
        best_fit_decreasing([11], 10)


def test_packing_with_fixed_shards_is_a_config_error():
    with pytest.raises(ConfigError, match="--packing"):
        RunConfig(input=["x"], output="o", packing=True, num_shards=2).validate()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    plain = run_sample("llama2-chat-memory", tmp_path_factory.mktemp("plain"), max_seq_length=MAX)
    packed = run_sample("llama2-chat-memory", tmp_path_factory.mktemp("packed"), max_seq_length=MAX, packing=True)
    return plain, packed


def test_packed_and_unpacked_runs_hold_the_same_examples(runs):
    plain, packed = runs
    ours, theirs = datasets.load_from_disk(str(plain / "hf")), datasets.load_from_disk(str(packed / "hf"))
    for split in ("train", "validation"):
        examples = {r["id"]: r for r in ours[split]}
        seen = []
        for row in theirs[split]:
            lengths = row["seq_lengths"]
            assert sum(lengths) == len(row["input_ids"]) == len(row["labels"]) == row["num_tokens"] <= MAX
            assert row["attention_mask"] == [1] * row["num_tokens"]
            at = 0
            for i, n in enumerate(lengths):
                example = examples[row["id"][i]]  # KeyError: an example of another split or run
                assert row["dialogue_id"][i] == example["dialogue_id"]
                assert row["turn_index"][i] == example["turn_index"]
                assert row["input_ids"][at : at + n] == example["input_ids"]
                assert row["labels"][at : at + n] == example["labels"]
                at += n
            seen += row["id"]
        assert sorted(seen) == sorted(examples)  # each example exactly once
        assert len(theirs[split]) < len(ours[split])


def test_packed_parquet_and_jsonl_agree_with_hf(runs):
    _, packed = runs
    hf = datasets.load_from_disk(str(packed / "hf"))["train"].to_list()
    parquet = datasets.load_dataset("parquet", data_files=str(packed / "parquet" / "train-*.parquet"))["train"]
    jsonl = [
        json.loads(line) for f in sorted((packed / "jsonl").glob("train-*")) for line in f.read_text().splitlines()
    ]
    assert parquet.to_list() == hf == jsonl


def test_stats_and_card_report_the_fill_ratio(runs):
    _, packed = runs
    stats = json.loads((packed / "stats.json").read_text())
    hf = datasets.load_from_disk(str(packed / "hf"))
    for split in ("train", "validation"):
        entry = stats["packing"][split]
        tokens = sum(hf[split]["num_tokens"])
        assert entry["rows"] == len(hf[split]) and entry["tokens"] == tokens
        assert entry["fill_ratio"] == round(tokens / (len(hf[split]) * MAX), 4)
    assert f"{stats['packing']['train']['fill_ratio']:.1%}" in (packed / "README.md").read_text()
