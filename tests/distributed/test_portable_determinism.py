"""One dataset wherever it runs: the local FnApiRunner with 1 worker, with 2 worker processes, and
the portable runner (job service + external SDK workers, the Flink/Spark path).

With automatic sharding (rows written where they are rendered, as bundles come), every run writes the
same rows, in the same splits, with the same counts; rows are compared one by one. With a fixed
--num_shards, outputs are compared file by file, byte for byte (Parquet, JSONL, Arrow, rejects,
stats.json, hf/ metadata, the dataset card), with the run id masked; only manifest.json (run id,
creation time) may differ. Split assignment is checked against BLAKE2b computed here, not against
our own code.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from beam_prep.core.records import SPLITS
from tests.distributed.conftest import FNAPI_1, FNAPI_2, JOB, config_for, run

FIXED_SHARDS = 3
RUNS = ("fnapi_1", "fnapi_2", "portable")


@pytest.fixture(scope="module")
def runs(corpus, portable, tmp_path_factory):
    root, _ = corpus
    out = tmp_path_factory.mktemp("determinism").resolve()
    args = {"fnapi_1": FNAPI_1, "fnapi_2": FNAPI_2, "portable": portable.beam_args}
    done = {}
    try:
        for name in RUNS:
            done[name] = run(config_for(root, out / name), args[name])
        for name in RUNS:
            done[f"{name}_fixed"] = run(config_for(root, out / f"{name}_fixed", num_shards=FIXED_SHARDS), args[name])
    except Exception:
        print(portable.tails())
        raise
    for name, r in done.items():
        print(f"{name}: {r.seconds:.1f} s  {' '.join(r.beam_args)}")
    return done


def output_files(out: Path) -> dict[str, bytes]:
    """Every file of an output by relative path, with the run id (in hf/*/state.json's fingerprint
    and the dataset card) masked; without manifest.json (run id, creation time) and _SUCCESS."""
    run_id = json.loads((out / "manifest.json").read_text())["run_id"].encode()
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel not in ("manifest.json", "_SUCCESS"):
            files[rel] = path.read_bytes().replace(run_id, b"<run_id>")
    return files


def parquet_rows(out: Path, split: str) -> list[dict]:
    return [r for f in sorted((out / "parquet").glob(f"{split}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def blake2b_split(dialogue_id: str, seed: int, val_fraction: float) -> str:
    digest = hashlib.blake2b(f"{seed}\x1f{dialogue_id}".encode(), digest_size=8).digest()
    return "validation" if int.from_bytes(digest, "big") / 2**64 < val_fraction else "train"


def test_portable_run_writes_a_complete_loadable_dataset(runs, encoder):
    out = runs["portable"].out
    assert (out / "_SUCCESS").exists() and not (out / "_temporary").exists()
    hf = datasets.load_from_disk(str(out / "hf"))
    assert set(hf) == set(SPLITS)
    for split in SPLITS:
        rows = hf[split].to_list()
        assert rows and rows == parquet_rows(out, split)
        for row in rows:
            assert row["input_ids"] == encoder.encode_text(row["text"])


@pytest.mark.parametrize("other", ["fnapi_2_fixed", "portable_fixed"])
def test_fixed_shards_are_the_same_files_as_one_worker(runs, other):
    reference, candidate = output_files(runs["fnapi_1_fixed"].out), output_files(runs[other].out)
    assert sorted(candidate) == sorted(reference)
    differ = [rel for rel in reference if candidate[rel] != reference[rel]]
    assert not differ, f"{other} wrote different bytes in {differ}"
    assert without_timing(runs[other].stats) == without_timing(runs["fnapi_1_fixed"].stats)


def without_timing(stats: dict, shards: bool = True) -> dict:
    drop = {"wall_seconds"} | (set() if shards else {"output"})
    return {k: v for k, v in stats.items() if k not in drop}


@pytest.mark.parametrize("other", ["fnapi_2", "portable"])
def test_same_counts_as_one_worker(runs, other):
    assert without_timing(runs[other].stats, shards=False) == without_timing(runs["fnapi_1"].stats, shards=False)
    for rel in ("rejects/rejects-00000-of-00001.jsonl", "hf/dataset_dict.json"):
        assert output_files(runs[other].out)[rel] == output_files(runs["fnapi_1"].out)[rel]


def test_same_rows_in_the_same_splits_everywhere(runs, corpus):
    _, dialogues = corpus
    compared = 0
    by_run = {
        name: {split: sorted(parquet_rows(runs[name].out, split), key=lambda r: r["id"]) for split in SPLITS}
        for name in RUNS
    }
    for split in SPLITS:
        reference = by_run["fnapi_1"][split]
        for name in RUNS[1:]:
            rows = by_run[name][split]
            assert len(rows) == len(reference)
            for a, b in zip(rows, reference):
                assert a == b
            compared += len(rows)
        for row in reference:
            assert blake2b_split(row["dialogue_id"], 0, JOB["val_fraction"]) == split
    kept = {r["dialogue_id"] for split in SPLITS for r in by_run["fnapi_1"][split]}
    assert kept <= {d["id"] for d in dialogues} and len(kept) > 0.9 * len(dialogues)
    print(f"rows compared row by row against the 1-worker run: {compared}")


@pytest.mark.parametrize("name", RUNS)
def test_shard_count_follows_the_data_size(runs, name):
    """Each worker closes a shard once it holds --tokens_per_shard tokens and Finalize merges the
    short ones bundle ends leave (pipeline/compact.py): every shard but one per split is at least
    that big, a written one bigger by less than one example, a merged one by less than twice."""
    out, per_shard = runs[name].out, JOB["tokens_per_shard"]
    for split in SPLITS:
        files = sorted((out / "parquet").glob(f"{split}-*.parquet"))
        n = runs[name].stats["output"]["shards"][split]
        assert [f.name for f in files] == [f"{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
        tokens = [sum(pq.read_table(f, columns=["num_tokens"]).column(0).to_pylist()) for f in files]
        assert all(t < 2 * per_shard for t in tokens), tokens
        assert math.ceil(sum(tokens) / (2 * per_shard)) <= n <= math.ceil(sum(tokens) / per_shard) + 1
        assert sum(t >= per_shard for t in tokens) >= n - 1, tokens  # at most one short shard per split
    assert runs[name].stats["output"]["shards"]["train"] > FIXED_SHARDS


def test_num_shards_overrides_and_fixes_shard_contents(runs):
    fixed = runs["fnapi_2_fixed"].out
    for split in SPLITS:
        names = sorted(p.name for p in (fixed / "parquet").glob(f"{split}-*.parquet"))
        assert names == [f"{split}-{i:05d}-of-{FIXED_SHARDS:05d}.parquet" for i in range(FIXED_SHARDS)]
        assert len(list((fixed / "hf" / split).glob("*.arrow"))) == FIXED_SHARDS
    for split in SPLITS:  # the same rows as the size-sharded run, only grouped in other shards
        by_id = sorted(parquet_rows(fixed, split), key=lambda r: r["id"])
        assert by_id == sorted(parquet_rows(runs["fnapi_1"].out, split), key=lambda r: r["id"])
