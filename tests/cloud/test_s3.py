"""S3 end to end against moto's server: gzipped shards and the tokenizer in a bucket, output to the
bucket, datasets.load_from_disk from it; a failed run, a rerun, wrong and too narrow credentials.

Three pipeline runs in all (module fixtures): the first run, a run that fails in its workers, a rerun.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import datasets
import pytest

from beam_prep.config import ConfigError, RunConfig
from beam_prep.core.records import SPLITS
from beam_prep.io.fs import url_to_fs
from beam_prep.io.naming import shard_paths
from beam_prep.job import check, run_job
from tests.cloud.buckets import (
    BEAM_ARGS,
    OUTPUT_TOP,
    contents_as_text,
    expected_ids,
    job_config,
    keys_under,
    put_corpus,
    put_tokenizer,
)
from tests.cloud.conftest import BUCKET, aws_env
from tests.pipeline.corpus import make_dialogues

OUT = f"s3://{BUCKET}/runs/out"


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def config(**overrides) -> RunConfig:
    return job_config(f"s3://{BUCKET}", **overrides)


@pytest.fixture(scope="module")
def uploaded(s3_server):
    """Three gzipped JSON-lines shards and the bundled tokenizer folder in the bucket."""
    dialogues = make_dialogues(150, seed=4)
    with aws_env(s3_server, "writer"):
        fs, _ = url_to_fs(f"s3://{BUCKET}")
        put_corpus(fs, f"{BUCKET}/raw", dialogues)
        put_tokenizer(fs, f"{BUCKET}/tokenizers/mistral")
    return dialogues


@pytest.fixture(scope="module")
def first_run(s3_server, uploaded):
    """One run as `writer`, with every log line kept."""
    dialogues = uploaded
    with aws_env(s3_server, "writer"):
        fs, _ = url_to_fs(f"s3://{BUCKET}")
        root = logging.getLogger()
        handler, level = _Collect(), root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            stats = run_job(config(), BEAM_ARGS)
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
        keys = keys_under(fs, f"{BUCKET}/runs/out")
    return dialogues, stats, keys, handler.lines


def test_output_is_complete_on_the_bucket(first_run):
    _, stats, keys, _ = first_run
    assert keys[-1] == "_SUCCESS" or "_SUCCESS" in keys
    assert {k.split("/")[0] for k in keys} - {"_SUCCESS"} <= OUTPUT_TOP
    assert not [k for k in keys if k.startswith("_temporary") or "probe" in k]
    n = stats["output"]["shards"]["train"]
    assert n > 1  # several Arrow shards per split, each written by a worker
    assert [k for k in keys if k.startswith("hf/train/data-")] == [
        f"hf/train/data-{i:05d}-of-{n:05d}.arrow" for i in range(n)
    ]


def test_load_from_disk_from_the_bucket(first_run, s3_server, encoder):
    dialogues, stats, _, _ = first_run
    ds = datasets.load_from_disk(f"{OUT}/hf", storage_options=s3_server.storage_options())
    assert set(ds) == set(SPLITS)
    ids = []
    for split in SPLITS:
        rows = ds[split].to_list()
        assert len(rows) == stats["splits"][split]["examples"] > 0
        for row in rows:
            assert row["input_ids"] == encoder.encode_text(row["text"])
            assert row["prompt"] + row["completion"] == row["text"]
        ids += [r["id"] for r in rows]
    assert sorted(ids) == sorted(expected_ids(dialogues))  # every assistant turn of the gzipped shards


def test_no_credential_in_any_output_file_or_log(first_run, s3_server):
    _, _, keys, log_lines = first_run
    key = s3_server.keys["writer"]
    with aws_env(s3_server, "writer"):
        fs, _ = url_to_fs(OUT)
        for k in keys:
            data = contents_as_text(fs, f"{BUCKET}/runs/out/{k}")
            assert key.secret.encode() not in data, k
            assert key.id.encode() not in data, k
    assert log_lines  # the run did log (workers' lines come back to this process)
    assert not [line for line in log_lines if key.secret in line or key.id in line]


def test_failed_run_leaves_no_success_and_a_rerun_replaces_it_cleanly(first_run, s3_server):
    _, stats, keys, _ = first_run
    with aws_env(s3_server, "no_hf"):  # may write everything but the Arrow shards of hf/
        with pytest.raises(Exception, match="Access Denied|AccessDenied|Forbidden"):
            run_job(config(), BEAM_ARGS)
        fs, _ = url_to_fs(OUT)
        after_failure = keys_under(fs, f"{BUCKET}/runs/out")
    # The old output is untouched and still marked complete (its _SUCCESS goes only when a run
    # commits); the failed run removed its own temporary objects and its lock.
    assert [k for k in after_failure if k.startswith("_temporary/") or k == "_LOCK"] == []
    assert after_failure == keys
    with aws_env(s3_server, "writer"):
        fs, _ = url_to_fs(OUT)
        fs.pipe_file(f"{BUCKET}/runs/out/parquet/stale-00000-of-00001.parquet", b"old")
        again = run_job(config(), BEAM_ARGS)
        after_rerun = keys_under(fs, f"{BUCKET}/runs/out")
    # The objects of a clean run: no stale shard, no temporary object. How many shards the rows
    # fill depends on the bundles a run happened to get, so shard files are checked against the
    # rerun's own count.
    assert [k for k in after_rerun if not is_shard(k)] == [k for k in keys if not is_shard(k)]
    assert sorted(k for k in after_rerun if is_shard(k)) == shard_keys(again["output"]["shards"])
    assert again["splits"] == stats["splits"]


def is_shard(key: str) -> bool:
    return key.startswith(("parquet/", "jsonl/", "hf/train/data-", "hf/validation/data-"))


def shard_keys(counts: dict) -> list[str]:
    return sorted(rel for split, n in counts.items() for i in range(n) for rel in shard_paths(split, i, n))


def test_wrong_secret_is_a_one_line_error_from_the_cli(uploaded, s3_server):
    wrong = "wRoNg" + s3_server.keys["writer"].secret[5:]
    with aws_env(s3_server, "writer"):
        env = {**os.environ, "AWS_SECRET_ACCESS_KEY": wrong}
    args = ["--input", *config().input, "--tokenizer", config().tokenizer, "--output", f"{OUT}-cli"]
    done = subprocess.run(
        [sys.executable, "-m", "beam_prep", *args, *BEAM_ARGS], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    # The inputs are checked first (before the tokenizer is fetched and loaded).
    assert lines[0].startswith(f"beam_prep: error: --input '{config().input[0]}': access denied")
    assert "AWS_ACCESS_KEY_ID" in lines[0]  # says where credentials come from
    assert wrong not in done.stderr + done.stdout and s3_server.keys["writer"].secret not in done.stderr


def test_read_only_credentials_fail_on_the_output_before_the_pipeline(uploaded, s3_server):
    with aws_env(s3_server, "reader"), pytest.raises(ConfigError) as info:
        check(config(output=f"{OUT}-readonly"))
    message = str(info.value)
    assert message.startswith(f"--output '{OUT}-readonly': access denied") and "\n" not in message
    with aws_env(s3_server, "writer"):
        fs, _ = url_to_fs(OUT)
        assert not fs.find(f"{BUCKET}/runs/out-readonly")  # the probe left nothing behind
