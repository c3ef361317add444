"""Kill real runs (SIGKILL to the whole process group) and rerun into the same folder.

A run killed before its commit leaves the previous output as it was (its _SUCCESS included); killed
during the commit, it leaves no _SUCCESS; either way the rerun takes over the dead run's lock and
gives exactly a clean run's rows, rejects and stats with no temporary files left (docs/input.md,
"Faults and reruns"). Two kill points: mid-pipeline (as soon as the first shard is written under
_temporary/) and inside finalize, after the old outputs were removed and the new shards moved in but
before _SUCCESS (made reachable by stalling finalize once stats.json is written, in an in-process
runner).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from tests.pipeline.corpus import write_corpus

REPO = Path(__file__).resolve().parents[2]
FLAGS = ["--max_seq_length", "256", "--num_shards", "2", "--val_fraction", "0.2"]
MULTI = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
TIMEOUT = 300

# Runs the CLI with the commit's _write_json stalled after stats.json: the marker file says "now".
STALL_FINALIZE = """
import sys, time, pathlib
import beam_prep.io.commit as finalize
marker, argv = pathlib.Path(sys.argv[1]), sys.argv[2:]
write_json = finalize._write_json
def stalled(fs, path, value):
    write_json(fs, path, value)
    if str(path).endswith("stats.json"):
        marker.touch()
        time.sleep(600)
finalize._write_json = stalled
from beam_prep.cli import main
sys.exit(main(argv))
"""


def start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        args, cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def beam_prep(inputs: str, out: Path, runner=IN_PROCESS) -> list[str]:
    return [sys.executable, "-m", "beam_prep", "--input", inputs, "--output", str(out), *FLAGS, *runner]


def run_to_end(args: list[str]) -> None:
    proc = start(args)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()[-3000:]


def kill_when(proc: subprocess.Popen, ready) -> None:
    """SIGKILL the run's process group (driver and Beam workers) as soon as `ready()` holds."""
    deadline = time.time() + TIMEOUT
    try:
        while not ready():
            assert proc.poll() is None, f"the run ended before the kill point: {proc.stderr.read().decode()[-2000:]}"
            assert time.time() < deadline, "the kill point was never reached"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def result(out: Path) -> dict:
    """Everything a reader uses, by content: rows of every parquet shard, jsonl and rejects text, stats."""
    return {
        "names": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
        "parquet": {p.name: pq.read_table(p).to_pylist() for p in sorted((out / "parquet").glob("*.parquet"))},
        "jsonl": {p.name: p.read_text() for p in sorted((out / "jsonl").glob("*.jsonl"))},
        "rejects": {p.name: p.read_text() for p in sorted((out / "rejects").glob("*.jsonl"))},
        "stats": json.loads((out / "stats.json").read_text()),
    }


def test_killed_runs_leave_no_success_and_a_rerun_equals_a_clean_run(tmp_path):
    write_corpus(tmp_path / "in", n=150)
    inputs = str(tmp_path / "in" / "part-*")
    clean, out = tmp_path / "clean", tmp_path / "out"
    run_to_end(beam_prep(inputs, clean))
    expected = result(clean)
    assert sum(len(rows) for rows in expected["parquet"].values()) > 300 and expected["rejects"]
    shutil.copytree(clean, out)  # a complete earlier output, which the killed runs start from

    # 1. Killed mid-pipeline, once the first shard is written to _temporary/ (driver + worker processes).
    proc = start(beam_prep(inputs, out, MULTI))
    kill_when(proc, lambda: any((out / "_temporary").glob("*/*/*")))
    # The old output is untouched and still complete: _SUCCESS goes only when a run starts to commit.
    assert (out / "_SUCCESS").exists() and (out / "_LOCK").exists()  # the lock names a dead process
    assert result(out)["parquet"] == expected["parquet"]

    # 2. Killed inside finalize: old outputs removed, new shards moved, stats.json written, no _SUCCESS.
    marker = tmp_path / "stalled"
    proc = start([sys.executable, "-c", STALL_FINALIZE, str(marker), *beam_prep(inputs, out)[3:]])
    kill_when(proc, marker.exists)
    assert not (out / "_SUCCESS").exists()
    assert (out / "stats.json").exists() and not (out / "manifest.json").exists()  # a mixed folder
    assert len(list((out / "_temporary").iterdir())) == 1  # a run owning the folder clears earlier runs' files

    # 3. The same command again: exactly the clean result, nothing temporary left.
    run_to_end(beam_prep(inputs, out))
    assert (out / "_SUCCESS").exists() and not (out / "_temporary").exists() and not (out / "_LOCK").exists()
    assert result(out) == expected
