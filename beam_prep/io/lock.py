"""One run at a time per output folder: a `_LOCK` file naming the run that owns the folder.

Two runs into one folder would otherwise both commit and leave a folder marked complete that mixes
them. The lock is taken before the run touches anything else in the folder and removed when it
ends, whatever the ending; a lock left by a process that was killed (kill -9, a crashed machine)
is taken over when it names a process of this machine that no longer exists. On a bucket a lock
of another machine cannot be tested that way: the message names it, for removal by hand.

Locally the lock is created atomically (O_EXCL). Object stores have no portable create-if-absent
through fsspec: there the lock is written, then read back after a short wait, and the run that
does not find its own id backs off (two runs starting within that wait may both back off; neither
commits a mixed folder).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass

from beam_prep.io.fs import is_remote, join, url_to_fs

LOCK_NAME = "_LOCK"
SETTLE_SECONDS = 1.0  # buckets: how long a competing writer has to overwrite our lock
TORN_SECONDS = 10.0  # an unreadable lock older than this was left by a run killed while writing it


class LockHeld(ValueError):
    """The folder is owned by another run (the message names it)."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    pid: int
    started: str

    def alive(self) -> bool:
        """False only when this holder is a process of this machine that is gone."""
        if self.host != socket.gethostname():
            return True
        if self.pid <= 0:  # a lock file that could not be read, long enough ago: its writer is gone
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: alive
            return True
        return True


class OutputLock:
    """`with OutputLock(output, run_id):` owns the folder; LockHeld when another run does."""

    def __init__(self, output: str, run_id: str):
        self.fs, out_path = url_to_fs(output)
        self.path = join(out_path, LOCK_NAME)
        self.url = join(output, LOCK_NAME)
        self.me = Holder(run_id, socket.gethostname(), os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self._remote = is_remote(output)
        self.fs.makedirs(out_path, exist_ok=True)

    def __enter__(self) -> OutputLock:
        for _ in range(2):  # a second try after taking over a dead holder's lock
            holder = self._try_take()
            if holder is None:
                return self
            if holder.alive():
                raise LockHeld(
                    f"{self.url} is held by run {holder.run_id} (pid {holder.pid} on {holder.host}, started "
                    f"{holder.started}); wait for it to end, or remove the file if that run is gone"
                )
            self.fs.rm_file(self.path)  # its process is gone: the lock is stale
        raise LockHeld(f"{self.url}: could not take the lock")

    def __exit__(self, *exc) -> None:
        try:
            if self._read() == self.me:
                self.fs.rm_file(self.path)
        except OSError:  # best effort: a lock that stays names a dead process, which the next run takes over
            pass

    def _try_take(self) -> Holder | None:
        """None when the lock is now ours, else its holder."""
        data = json.dumps(asdict(self.me)).encode()
        if not self._remote:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return self._read() or _UNREADABLE
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return None
        holder = self._read()
        if holder is not None:
            return holder
        self.fs.pipe_file(self.path, data)
        time.sleep(SETTLE_SECONDS)
        holder = self._read()
        return None if holder == self.me else holder

    def _read(self) -> Holder | None:
        try:
            self.fs.invalidate_cache()
            with self.fs.open(self.path, "rb") as f:
                return Holder(**json.loads(f.read()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):  # torn or foreign: being written, or left by a killed run
            young = time.time() - self.fs.modified(self.path).timestamp() < TORN_SECONDS
            return _UNREADABLE if young else Holder("unknown", socket.gethostname(), 0, "unknown")


_UNREADABLE = Holder("unknown (being written)", "unknown", 0, "unknown")
