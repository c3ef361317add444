"""Rejoin and dedup give the same dataset on the portable runner (job service + external SDK
workers, the Flink/Spark path) as on the local runner with one worker: the same rows, rejects
(the kept copy of every duplicate) and counts, on the messy corpus of tests/pipeline."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from beam_prep.config import RunConfig
from beam_prep.core.records import SPLITS
from tests.distributed.conftest import FNAPI_1, run
from tests.pipeline.conversations_corpus import VAL_FRACTION, write_conversations


def _config(root, name):
    return RunConfig(
        input=[str(root / "in" / "*.jsonl")],
        output=str((root / name).resolve()),
        input_format="sharegpt",
        max_seq_length=1024,
        val_fraction=VAL_FRACTION,
    )


@pytest.fixture(scope="module")
def both(portable, tmp_path_factory):
    root = tmp_path_factory.mktemp("conversations-everywhere").resolve()
    write_conversations(root / "in")
    try:
        return run(_config(root, "fnapi_1"), FNAPI_1), run(_config(root, "portable"), portable.beam_args)
    except Exception:
        print(portable.tails())
        raise


def _content(r):
    rows = {
        s: sorted(
            (x for f in sorted((r.out / "parquet").glob(f"{s}-*.parquet")) for x in pq.read_table(f).to_pylist()),
            key=lambda x: x["id"],
        )
        for s in SPLITS
    }
    rejects = (r.out / "rejects" / "rejects-00000-of-00001.jsonl").read_text().splitlines()
    stats = {k: v for k, v in r.stats.items() if k not in ("wall_seconds", "output")}
    return rows, [json.loads(x) for x in rejects], stats


def test_same_rows_rejects_and_counts_on_the_portable_runner(both):
    local, portable = map(_content, both)
    assert local == portable
    rows, rejects, stats = local
    assert stats["conversations"]["rejoined"] == 2 and stats["duplicates"]["examples_dropped"] == 5
    assert any(r["reason"] == "duplicate" for r in rejects) and rows["validation"]
