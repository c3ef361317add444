"""The output lock on a bucket (gcp-storage-emulator): a second run is refused naming the first, the
lock goes with the run, and a lock left by a dead process of this machine is taken over."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from beam_prep.io.fs import url_to_fs
from beam_prep.io.lock import LOCK_NAME, LockHeld, OutputLock
from tests.cloud.conftest import BUCKET, gcs_env

OUT = f"gs://{BUCKET}/locked/out"


def test_one_run_at_a_time_on_a_bucket(gcs_server, monkeypatch):
    monkeypatch.setattr("beam_prep.io.lock.SETTLE_SECONDS", 0.1)
    with gcs_env(gcs_server):
        fs, _ = url_to_fs(OUT)
        with OutputLock(OUT, "run-a"):
            assert json.loads(fs.cat_file(f"{BUCKET}/locked/out/{LOCK_NAME}"))["run_id"] == "run-a"
            with pytest.raises(LockHeld, match=r"_LOCK is held by run run-a \(pid \d+ on "), OutputLock(OUT, "run-b"):
                pass
        fs.invalidate_cache()
        assert not fs.exists(f"{BUCKET}/locked/out/{LOCK_NAME}")

        dead = subprocess.Popen(["true"])
        dead.wait()
        # A lock naming a process of this machine that is gone (a run killed with -9).
        stale = {"run_id": "killed", "host": socket.gethostname(), "pid": dead.pid, "started": "earlier"}
        fs.pipe_file(f"{BUCKET}/locked/out/{LOCK_NAME}", json.dumps(stale).encode())
        with OutputLock(OUT, "run-d"):
            assert json.loads(fs.cat_file(f"{BUCKET}/locked/out/{LOCK_NAME}"))["run_id"] == "run-d"
