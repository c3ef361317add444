"""--dry_run for the DataflowRunner (Beam's own dry run) with gs:// input and output on
gcp-storage-emulator: run_configs/dataflow.yaml as a user fills it in, the job translated (the sdist
of --setup_file built, the Dataflow job made), nothing submitted and nothing written to the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from beam_prep.cli import main
from beam_prep.io.fs import url_to_fs
from tests.cloud.buckets import keys_under, put_corpus
from tests.cloud.conftest import BUCKET, gcs_env
from tests.pipeline.corpus import make_dialogues

REPO = Path(__file__).resolve().parents[2]
STAGES = [
    "PlanDialogues", "PlanDuplicates", "ReadDialogues", "AdmitDialogues", "TruncateExamples", "RenderExamples",
    "WriteShards", "Finalize",
]  # fmt: skip


def test_dataflow_dry_run_translates_the_job_and_writes_nothing(gcs_server, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # setup_file: ./setup.py is relative to the repository root
    # gcsfs's default class would probe the bucket type over gRPC for 60 s: the emulator has none.
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    with gcs_env(gcs_server):
        fs, _ = url_to_fs(f"gs://{BUCKET}")
        put_corpus(fs, f"{BUCKET}/dry/raw", make_dialogues(30, seed=3))
        before = keys_under(fs, BUCKET)
        code = main(
            [
                "--config", "run_configs/dataflow.yaml",
                "--input", f"gs://{BUCKET}/dry/raw/part-*.jsonl.gz",
                "--output", f"gs://{BUCKET}/dry/out",
                "--project", "test-project",
                "--temp_location", f"gs://{BUCKET}/dry/tmp",
                "--staging_location", f"gs://{BUCKET}/dry/staging",
                "--dry_run",
            ]
        )  # fmt: skip
        captured = capsys.readouterr()
        after = keys_under(fs, BUCKET)
    assert code == 0, captured.err[-3000:]
    lines = captured.out.splitlines()
    assert lines[0].startswith("dry run: DataflowRunner, 3 input files, ")
    assert lines[1] == "job: beam-prep-run-001 (JOB_TYPE_BATCH), translated by Beam, not submitted"
    assert all(f". {stage}" in captured.out for stage in STAGES)
    assert "worker environments: beam:env:docker:v1" in captured.out  # Dataflow runs SDK containers
    assert lines[-1] == f"output would go to: gs://{BUCKET}/dry/out  (nothing was written)"
    assert after == before  # no probe, no lock, no staging upload, no output


def test_dataflow_dry_run_still_checks_the_config(gcs_server, capsys):
    with gcs_env(gcs_server):
        code = main(
            ["--input", "data/*.jsonl", "--output", f"gs://{BUCKET}/o", "--runner", "DataflowRunner", "--dry_run"]
        )
    assert code == 2 and "--input 'data/*.jsonl' is a local path" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
