"""One run per output folder, and what a failed or stopped run leaves: a second
run exits 2 naming the first; the old _SUCCESS stays until a run commits; a failed run (disk full)
removes its own temporary files and a rerun succeeds; SIGINT and SIGTERM stop promptly with no
_SUCCESS, no temporary files, no lock and no process left."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beam_prep.config import RunConfig
from beam_prep.io import shards
from beam_prep.job import run_job
from tests.pipeline.corpus import write_corpus

REPO = Path(__file__).resolve().parents[2]
MULTI = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
FLAGS = ["--max_seq_length", "256", "--val_fraction", "0.2"]
TIMEOUT = 300
PROMPT_S = 30  # "promptly" on a loaded 2-core machine; Beam's own shutdown takes 2-3 s idle


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("lock-corpus")
    write_corpus(root / "in", n=150)
    return str(root / "in" / "part-*")


def start(inputs: str, out: Path, runner=MULTI) -> subprocess.Popen:
    args = [sys.executable, "-m", "beam_prep", "--input", inputs, "--output", str(out), *FLAGS, *runner]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_as_from_a_terminal,
    )


def _as_from_a_terminal() -> None:
    """SIGINT as a terminal leaves it: a shell starts a background job (`cmd &`, so pytest run that
    way) with SIGINT ignored, which its children inherit and Python then keeps; a Ctrl-C test
    started from there would test nothing and fail (the run ignores the signal and completes)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


def group_gone(pgid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_second_run_into_the_same_output_exits_2_naming_the_first(inputs, tmp_path):
    out = tmp_path / "out"
    first = start(inputs, out)
    try:
        wait_for((out / "_LOCK").exists, first, "took the lock")
        holder = json.loads((out / "_LOCK").read_text())
        second = start(inputs, out)
        _, err = second.communicate(timeout=TIMEOUT)
        assert second.returncode == 2, err.decode()[-2000:]
        line = err.decode().strip()
        assert line.count("\n") == 0 and f"is held by run {holder['run_id']} (pid {first.pid} on " in line
        _, err = first.communicate(timeout=TIMEOUT)
        assert first.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in (first,):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert (out / "_SUCCESS").exists() and not (out / "_LOCK").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_id"] == holder["run_id"]  # everything in the folder is the first run's


@pytest.mark.parametrize("how", ["SIGTERM to the driver", "SIGINT to the group (Ctrl-C)"])
def test_a_stopped_run_stops_promptly_and_leaves_nothing(inputs, tmp_path, how):
    out = tmp_path / "out"
    proc = start(inputs, out)
    try:
        wait_for(lambda: any((out / "_temporary").glob("*/*/*")), proc, "wrote a shard")
        stopped = time.monotonic()
        if how.startswith("SIGTERM"):
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=PROMPT_S)
        seconds = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert "interrupted; the output was not committed" in err.decode()
    assert seconds < PROMPT_S and group_gone(proc.pid), "a worker process outlived the run"
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left in ([], ["_temporary"]), left  # no _SUCCESS, no shard, no lock


def test_a_disk_full_failure_keeps_the_old_output_and_a_rerun_succeeds(inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    config = RunConfig(input=[inputs], output=str(out), max_seq_length=256, val_fraction=0.2)
    clean = run_job(config, IN_PROCESS)
    before = {p.name: p.read_bytes() for p in (out / "jsonl").iterdir()}

    write = shards.ShardFiles.write

    def full_disk(self, rows):
        self._open()  # the files are created, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shards.ShardFiles, "write", full_disk)
    with pytest.raises(Exception, match="No space left on device"):  # Beam wraps it
        run_job(config, IN_PROCESS)
    # The previous output is still whole and marked complete; the failed run left nothing behind.
    assert (out / "_SUCCESS").exists() and not (out / "_LOCK").exists()
    assert not (out / "_temporary").exists() or not any((out / "_temporary").iterdir())
    assert {p.name: p.read_bytes() for p in (out / "jsonl").iterdir()} == before

    monkeypatch.setattr(shards.ShardFiles, "write", write)  # the disk has room again
    shutil.rmtree(out / "jsonl")  # and the rerun does not depend on the old files
    again = run_job(config, IN_PROCESS)
    assert again["splits"] == clean["splits"] and again["records"] == clean["records"]
    assert (out / "_SUCCESS").exists() and not (out / "_temporary").exists() and not (out / "_LOCK").exists()
