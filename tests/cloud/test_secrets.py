"""Secrets never reach manifest.json: redaction of what a user may put in the run config (no server)."""

from __future__ import annotations

import json

from beam_prep.config import RunConfig
from beam_prep.io.redact import REDACTED, redact, redact_text
from beam_prep.job import check, manifest_for
from tests.pipeline.corpus import write_corpus

SECRET = "9Xq/secretSecretSecret+abc"


def test_secret_keys_and_assignments_are_redacted_and_nothing_else():
    options = {
        "s3_secret_access_key": SECRET,
        "s3_access_key_id": "AKIAEXAMPLE",
        "environment_options": [f"process_variables=AWS_SECRET_ACCESS_KEY={SECRET},AWS_DEFAULT_REGION=eu-west-1"],
        "environment_config": json.dumps({"command": "x", "env": {"GOOGLE_OAUTH_ACCESS_TOKEN": SECRET}}),
        "token": None,
        "project": "my-project",
    }
    out = redact({"tokenizer": "s3://b/tok", "tokens_per_shard": 5, "pipeline_options": options})
    assert SECRET not in json.dumps(out)
    assert out["tokenizer"] == "s3://b/tok" and out["tokens_per_shard"] == 5
    opts = out["pipeline_options"]
    assert opts["s3_secret_access_key"] == opts["s3_access_key_id"] == REDACTED
    kept = f"process_variables=AWS_SECRET_ACCESS_KEY={REDACTED},AWS_DEFAULT_REGION=eu-west-1"
    assert opts["environment_options"] == [kept]
    assert opts["token"] is None and opts["project"] == "my-project"
    assert redact_text("https://user:pa55@host/x.jsonl") == f"https://{REDACTED}@host/x.jsonl"


def test_secret_environment_values_are_redacted_wherever_they_appear(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert SECRET not in redact_text(f"an error that quotes {SECRET} verbatim")


def test_manifest_carries_no_secret_from_the_pipeline_options(tmp_path):
    write_corpus(tmp_path / "in", n=8)
    config = RunConfig(
        input=[str(tmp_path / "in" / "part-*")],
        output=str(tmp_path / "out"),
        pipeline_options={
            "s3_secret_access_key": SECRET,
            "environment_options": [f"process_variables=X_TOKEN={SECRET}"],
        },
    )
    checked = check(config)
    manifest = json.dumps(manifest_for(config, checked.template, checked.files, "run-1"))
    assert SECRET not in manifest and REDACTED in manifest
