"""Progress lines from the workers of a long run, at most one per worker every few seconds.

Written to the worker's stderr: the local runner's worker processes share the terminal of the
driver, and distributed runners collect worker stderr into their logs. Counts also go to Beam
metrics (pipeline/stats.py) for runner UIs.
"""

from __future__ import annotations

import os
import sys
import time

INTERVAL_ENV = "BEAM_PREP_PROGRESS_SECONDS"


class Progress:
    def __init__(self, interval: float | None = None):
        self.interval = float(os.environ.get(INTERVAL_ENV, 10.0)) if interval is None else interval
        self.started = self.last = time.monotonic()
        self.dialogues = self.examples = self.rejects = 0

    def add(self, dialogues: int = 0, examples: int = 0, rejects: int = 0) -> None:
        self.dialogues += dialogues
        self.examples += examples
        self.rejects += rejects
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            sys.stderr.write(self.line(now) + "\n")
            sys.stderr.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        return (
            f"beam_prep progress [worker {os.getpid()}]: {self.dialogues:,} dialogues, "
            f"{self.examples:,} examples, {self.rejects:,} rejects | {self.examples / elapsed:,.0f} examples/s"
        )
