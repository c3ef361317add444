"""No secret of a run is ever echoed: not on stdout or stderr (ours, Beam's, a worker's prints and
log lines, a failed run's traceback with --verbose), not in any file under the output.

Real runs as a user makes them, with a fake secret in each place a user puts one: a Beam option
(--s3_secret_access_key), an environment variable, Beam's --environment_config JSON, the password
of an input URL (a tiny HTTP store here), a presigned query string, an unknown option. Where a
secret is quoted, the redaction marker must be there instead, so each test fails if redaction
stops working (and not only if the secret was never printed).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from beam_prep.cli import main
from beam_prep.io.redact import REDACTED
from tests.pipeline.corpus import make_dialogues

ROOT = Path(__file__).resolve().parents[2]
OPTION_SECRET = "OptSecret-7f3a9c2e51"  # --s3_secret_access_key
ENV_SECRET = "EnvSecret-0b8d6e4f27"  # AWS_SECRET_ACCESS_KEY
JSON_SECRET = "JsonSecret-93c1a7d5e8"  # a token in --environment_config
URL_SECRET = "UrlSecret-4e2f8a0c66"  # user:password@ of an input URL
QUERY_SECRET = "QuerySecret-5d7b3e1a90"  # a presigned URL's signature
YAML_SECRET = "YamlSecret-61e0c4b2f3"  # a YAML's pipeline_options
TYPO_SECRET = "TypoSecret-2a9e5c7d14"  # given to a mistyped option
SECRETS = (OPTION_SECRET, ENV_SECRET, JSON_SECRET, URL_SECRET, QUERY_SECRET, YAML_SECRET, TYPO_SECRET)
TWO_WORKERS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def secret_options() -> list[str]:
    config = json.dumps({"command": "unused", "env": {"HF_TOKEN": JSON_SECRET}})
    return ["--s3_secret_access_key", OPTION_SECRET, f"--environment_config={config}"]


def assert_nothing_leaks(*texts: str, folder: Path | None = None) -> str:
    """Every text and every file under `folder` without any secret; returns all of it, joined."""
    everything = list(texts)
    if folder is not None and folder.exists():
        everything += [p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file()]
    joined = "\n".join(everything)
    for secret in SECRETS:
        assert secret not in joined, f"{secret} leaked"
    return joined


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tiny HTTP store serving a folder (any user:password is accepted, as a presigned URL is)."""
    folder = tmp_path_factory.mktemp("store")
    lines = [json.dumps(d) for d in make_dialogues(6, seed=5, prefix="remote-")]
    (folder / "remote.jsonl").write_text("\n".join(lines + ["{remote line that is not json"]) + "\n")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://reader:{URL_SECRET}@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    lines = [json.dumps(d) for d in make_dialogues(16, seed=4)]
    leak = {"id": "leak", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    quoted = f'{{"id": "bad", "note": "the key is {OPTION_SECRET}", '  # cut off: invalid_json, excerpt quotes it
    (root / "local.jsonl").write_text("\n".join([*lines, json.dumps(leak), quoted]) + "\n")
    return root


def run_cli(args: list[str], fail_on_leak_record: bool = False) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, in its own process with two worker processes; the leaky
    library loaded into each (tests/robustness/leaky_worker.py, by leaky_site/sitecustomize.py)."""
    env = {
        **os.environ,
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
        "BEAM_PREP_TEST_LEAKED_VALUE": OPTION_SECRET,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "leaky_site"), str(ROOT)]),
    }
    strict = ["--internal_errors", "fail"] if fail_on_leak_record else []
    cmd = [sys.executable, "-m", "beam_prep", *args, "--verbose", *strict, *TWO_WORKERS, *secret_options()]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_a_real_run_with_secrets_everywhere_echoes_none(tmp_path, corpus, store):
    out = tmp_path / "out"
    inputs = [str(corpus / "*.jsonl"), f"{store}/remote.jsonl"]
    config = tmp_path / "run.yaml"
    config.write_text(f"pipeline_options:\n  s3_session_token: {YAML_SECRET}\n")
    proc = run_cli(["--config", str(config), "--input", *inputs, "--output", str(out), "--max_seq_length", "512"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "_SUCCESS").exists()
    assert_nothing_leaks(proc.stdout, proc.stderr, folder=out)
    # Where the secrets were quoted, the marker is: the worker's print, stderr and log line ...
    assert f"debug: connecting with key {REDACTED}" in proc.stdout + proc.stderr
    assert f"key {REDACTED} is about to expire" in proc.stderr
    assert f"retrying with key {REDACTED}" in proc.stderr
    # ... the rejects: the library's failure, a line quoting the key, the remote file's name
    rejects = [json.loads(x) for f in sorted((out / "rejects").glob("*.jsonl")) for x in f.read_text().splitlines()]
    [failed] = [r for r in rejects if r["reason"] == "internal_error"]  # the "leak" record
    assert f"authentication failed for key {REDACTED}" in failed["detail"]
    [quoted] = [r for r in rejects if r["reason"] == "invalid_json" and r["source"].endswith("local.jsonl")]
    assert f"the key is {REDACTED}" in quoted["excerpt"]
    [remote] = [r for r in rejects if r["reason"] == "invalid_json" and r["source"].endswith("remote.jsonl")]
    assert remote["source"].startswith(f"http://{REDACTED}@127.0.0.1:")
    stats = json.loads((out / "stats.json").read_text())
    assert any(name.startswith(f"http://{REDACTED}@") for name in stats["files"])  # the remote file was read
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["pipeline_options"]["s3_session_token"] == REDACTED
    assert manifest["config"]["input"][1].startswith(f"http://{REDACTED}@")


def test_a_failed_run_with_verbose_prints_its_traceback_redacted(tmp_path, corpus):
    out = tmp_path / "out"
    args = ["--input", str(corpus / "*.jsonl"), "--output", str(out)]
    proc = run_cli(args, fail_on_leak_record=True)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert not (out / "_SUCCESS").exists()
    assert_nothing_leaks(proc.stdout, proc.stderr, folder=out)
    assert "Traceback (most recent call last)" in proc.stderr  # --verbose: the traceback is printed
    assert f"authentication failed for key {REDACTED}" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("beam_prep: error: the run failed: ")


@pytest.mark.parametrize(
    "case",
    [
        "unknown_option_with_the_secret",  # a typo in a secret option's name: neither name nor value echoed back
        "unknown_option_then_value",
        "stray_value_after_a_secret_option",
        "secret_quoted_in_a_beam_error",
        "password_of_an_unreachable_input_url",
        "presigned_query_of_a_missing_input",
        "password_of_an_unreachable_output_url",
    ],
)
def test_configuration_mistakes_never_echo_a_secret(case, tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
    good = ["--input", str(corpus / "*.jsonl"), "--output", str(tmp_path / "out"), *secret_options()]
    argv, quoted = {
        "unknown_option_with_the_secret": ([*good, f"--s3_secret_acess_key={TYPO_SECRET}"], False),
        "unknown_option_then_value": ([*good, "--s3_secret_acess_key", TYPO_SECRET], False),
        "stray_value_after_a_secret_option": ([*good, "--s3_secret_access_key", OPTION_SECRET, OPTION_SECRET], True),
        "secret_quoted_in_a_beam_error": ([*good, f"--direct_num_workers={OPTION_SECRET}"], True),
        "password_of_an_unreachable_input_url": (
            ["--input", f"http://u:{URL_SECRET}@127.0.0.1:9/x.jsonl", "--output", str(tmp_path / "o")],
            True,
        ),
        "presigned_query_of_a_missing_input": (
            ["--input", f"{corpus}/gone.jsonl?X-Amz-Signature={QUERY_SECRET}", "--output", str(tmp_path / "o")],
            True,
        ),
        "password_of_an_unreachable_output_url": (
            ["--input", str(corpus / "*.jsonl"), "--output", f"http://u:{URL_SECRET}@127.0.0.1:9/out"],
            True,
        ),
    }[case]
    assert main(["run", *argv, "--verbose"]) == 2
    captured = capsys.readouterr()
    text = assert_nothing_leaks(captured.out, captured.err, folder=tmp_path)
    [line] = [x for x in captured.err.splitlines() if x.startswith("beam_prep: error: ")]
    assert (REDACTED in line) == quoted, line
    if case.startswith("unknown_option"):
        assert "--s3_secret_acess_key" in line and "did you mean --s3_secret_access_key" in line
    assert text.count(REDACTED) == (1 if quoted else 0)  # nothing else printed quotes a secret


def test_a_dry_run_plan_and_the_yaml_pipeline_options_echo_no_secret(tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_SECRET)
    config = tmp_path / "run.yaml"
    out = f"{tmp_path}/out?X-Amz-Security-Token={QUERY_SECRET}"  # a presigned-style output URL, quoted by the plan
    config.write_text(
        f"input: {corpus}/*.jsonl\noutput: {out}\npipeline_options:\n  s3_session_token: {YAML_SECRET}\n"
        f"  environment_type: PROCESS\n  environment_options:\n"
        f"    - process_command=/bin/true\n    - process_variables=HF_TOKEN={JSON_SECRET},REGION=eu\n"
    )
    local = ["--runner=FnApiRunner", "--s3_secret_access_key", OPTION_SECRET]  # workers here: nothing logs options
    assert main(["run", "--config", str(config), "--dry_run", "--verbose", *local]) == 0
    captured = capsys.readouterr()
    assert_nothing_leaks(captured.out, captured.err)
    assert "dry run:" in captured.out and [p.name for p in tmp_path.iterdir()] == ["run.yaml"]  # nothing written
    assert f"output would go to: {tmp_path}/out?X-Amz-Security-Token={REDACTED}" in captured.out


REMOTE = {
    "dataflow": ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/tmp"],
    "portable": ["--runner=PortableRunner", "--job_endpoint=localhost:1"],
}
IN_BEAM_OPTIONS = {  # (where the secret is, the name the error gives)
    "option": (["--s3_secret_access_key", OPTION_SECRET], "--s3_secret_access_key"),
    "option_equals": ([f"--s3_session_token={OPTION_SECRET}"], "--s3_session_token"),
    "process_variables": (
        ["--environment_type=PROCESS", f"--environment_options=process_variables=HF_TOKEN={JSON_SECRET},REGION=eu"],
        "--environment_options",
    ),
    "environment_config": (secret_options()[2:], "--environment_config"),
    "yaml": ([], "pipeline_options key 's3_secret_access_key'"),
}


@pytest.mark.parametrize("runner", sorted(REMOTE))
@pytest.mark.parametrize("case", sorted(IN_BEAM_OPTIONS))
def test_a_credential_in_beam_options_is_refused_where_workers_log_their_options(
    runner, case, tmp_path, capsys, monkeypatch
):
    """Beam's worker harness logs its options at start-up, before our redaction is loaded: where
    workers run through it, a credential in Beam's options is a config mistake (exit 2, named, not
    quoted), found before anything is touched."""
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    args, named = IN_BEAM_OPTIONS[case]
    config = tmp_path / "run.yaml"
    yaml_options = f"pipeline_options:\n  s3_secret_access_key: {YAML_SECRET}\n" if case == "yaml" else ""
    config.write_text(f"input: [s3://bucket/in/*.jsonl]\noutput: s3://bucket/out\n{yaml_options}")
    code = main(["run", "--config", str(config), "--dry_run", *REMOTE[runner], *args])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    line = assert_nothing_leaks(captured.out, captured.err).strip()
    assert line.startswith(f"beam_prep: error: {named} holds a credential"), line
    assert line.count("\n") == 0 and [p.name for p in tmp_path.iterdir()] == ["run.yaml"]
