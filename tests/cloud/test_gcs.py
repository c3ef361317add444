"""GCS end to end against gcp-storage-emulator: gzipped shards and the tokenizer in a bucket, output
to the bucket, and a separate process (as a training job would be) loading hf/ from it. One run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from beam_prep.config import ConfigError, RunConfig
from beam_prep.core.records import SPLITS
from beam_prep.io.fs import url_to_fs
from beam_prep.job import check, run_job
from tests.cloud.buckets import BEAM_ARGS, OUTPUT_TOP, expected_ids, job_config, keys_under, put_corpus, put_tokenizer
from tests.cloud.conftest import BUCKET, gcs_env
from tests.pipeline.corpus import make_dialogues

OUT = f"gs://{BUCKET}/runs/out"
# What a training job runs: datasets + gcsfs, nothing of beam_prep. gcsfs's default class would probe
# the bucket type over gRPC, which the emulator does not serve; GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false
# (set before gcsfs is imported) selects the plain HTTP class.
LOADER = """
import json, sys
import datasets
ds = datasets.load_from_disk(sys.argv[1], storage_options={"token": "anon"})
print(json.dumps({s: ds[s].select_columns(["id", "text", "input_ids"]).to_list() for s in ds}))
"""


def config(**overrides) -> RunConfig:
    return job_config(f"gs://{BUCKET}", **overrides)


@pytest.fixture(scope="module")
def run(gcs_server):
    dialogues = make_dialogues(90, seed=7)
    with gcs_env(gcs_server):
        fs, _ = url_to_fs(f"gs://{BUCKET}")
        put_corpus(fs, f"{BUCKET}/raw", dialogues)
        put_tokenizer(fs, f"{BUCKET}/tokenizers/mistral")
        stats = run_job(config(), BEAM_ARGS)
        keys = keys_under(fs, f"{BUCKET}/runs/out")
    return dialogues, stats, keys


def test_output_is_complete_on_the_bucket(run):
    _, stats, keys = run
    assert "_SUCCESS" in keys
    assert {k.split("/")[0] for k in keys} - {"_SUCCESS"} <= OUTPUT_TOP
    assert not [k for k in keys if k.startswith("_temporary") or "probe" in k]
    n = stats["output"]["shards"]["train"]
    assert [k for k in keys if k.startswith("hf/train/data-")] == [
        f"hf/train/data-{i:05d}-of-{n:05d}.arrow" for i in range(n)
    ]


def test_a_training_job_loads_hf_from_the_bucket(run, gcs_server, encoder):
    dialogues, stats, _ = run
    env = {**os.environ, "STORAGE_EMULATOR_HOST": gcs_server.endpoint, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    done = subprocess.run(
        [sys.executable, "-c", LOADER, f"{OUT}/hf"], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(loaded) == set(SPLITS)
    ids = []
    for split in SPLITS:
        assert len(loaded[split]) == stats["splits"][split]["examples"] > 0
        for row in loaded[split]:
            assert row["input_ids"] == encoder.encode_text(row["text"])
        ids += [row["id"] for row in loaded[split]]
    assert sorted(ids) == sorted(expected_ids(dialogues))


def test_missing_bucket_is_a_one_line_error(run, gcs_server):
    with gcs_env(gcs_server), pytest.raises(ConfigError) as info:
        check(config(output="gs://no-such-bucket/out"))
    message = str(info.value)
    assert message.startswith("--output 'gs://no-such-bucket/out': not found") and "\n" not in message
    assert "STORAGE_EMULATOR_HOST" in message
