"""Fixtures for the distributed-engine tests: a small corpus, Beam's portable job service with an
external worker pool on loopback, and `run`, which runs one job with a bounded wait.

The job service and the worker pool are the job API and SDK-harness path that the Flink and Spark
runners use (their jars cannot be fetched here). Both are started here and always stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from beam_prep.config import RunConfig
from beam_prep.job import run_job
from tests.pipeline.corpus import write_corpus

RUN_TIMEOUT_S = 300
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10
FNAPI_1 = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=1"]
FNAPI_2 = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
# The job's settings for the determinism runs: small shards so each split has several.
JOB = {"max_seq_length": 256, "val_fraction": 0.2, "tokens_per_shard": 8000}


@dataclass
class Run:
    out: Path
    stats: dict
    seconds: float
    beam_args: list[str]


def run(config: RunConfig, beam_args: list[str], timeout: float = RUN_TIMEOUT_S) -> Run:
    """run_job in a thread, waited on for at most `timeout` seconds (a runner that hangs fails)."""
    result: dict = {}

    def target():
        try:
            result["stats"] = run_job(config, beam_args)
        except BaseException as exc:  # handed to the test below
            result["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True, name="beam_prep-run")
    thread.start()
    thread.join(timeout)
    seconds = time.monotonic() - started
    if thread.is_alive():
        pytest.fail(f"run with {beam_args} did not finish in {timeout} s")
    if "error" in result:
        raise result["error"]
    return Run(Path(config.output), result["stats"], seconds, beam_args)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, list[dict]]:
    """120 dialogues in .jsonl, .jsonl.gz, .json and .parquet, plus 2 bad lines (absolute paths)."""
    root = tmp_path_factory.mktemp("distributed-corpus").resolve()
    return root, write_corpus(root / "in")


def config_for(corpus_root: Path, output: Path, **overrides) -> RunConfig:
    return RunConfig(input=[str(corpus_root / "in" / "part-*")], output=str(output.resolve()), **{**JOB, **overrides})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{proc.args} not listening on 127.0.0.1:{port} after {START_TIMEOUT_S} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _stop(proc: subprocess.Popen) -> None:
    """Stop a server we started and the SDK workers it spawned (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)
    try:  # SDK harnesses left in the group by a pool that died first
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Services:
    job_port: int
    pool_port: int
    logs: Path

    @property
    def beam_args(self) -> list[str]:
        return [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.pool_port}",
        ]

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{_tail(p)}" for p in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="session")
def portable(tmp_path_factory):
    """Beam's local job service and an external worker pool, both children of this test session.

    The pool starts each SDK harness as `python -c ...` from PATH, so PATH starts with the folder
    of this interpreter (the venv's python, which has beam_prep installed).
    """
    logs = tmp_path_factory.mktemp("portable-services").resolve()
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    job_port, pool_port = free_port(), free_port()
    commands = {
        "job_service": [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            f"--port={job_port}",
            f"--staging_dir={logs / 'staging'}",
        ],
        "worker_pool": [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={pool_port}",
        ],
    }
    procs = []
    try:
        for name, port in (("job_service", job_port), ("worker_pool", pool_port)):
            log = logs / f"{name}.log"
            with log.open("wb") as f:
                proc = subprocess.Popen(
                    commands[name], stdout=f, stderr=subprocess.STDOUT, cwd=logs, env=env, start_new_session=True
                )
            procs.append(proc)
            _wait_listening(port, proc, log)
        yield Services(job_port, pool_port, logs)
    finally:
        for proc in reversed(procs):
            _stop(proc)
