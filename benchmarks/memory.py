"""Peak memory of a process tree, sampled from /proc (Linux; no psutil needed).

A phase runs in a child process; `TreeSampler` walks the child and all its descendants (Beam's
worker subprocesses, datasets' num_proc pool) every `interval` seconds and keeps the peaks of
  - the tree's total RSS and PSS (PSS splits pages shared between forked processes fairly, so the
    sum is not inflated by copy-on-write sharing),
  - the largest single process other than the root ("per worker"), and the root itself,
and the CPU seconds (user + system) the tree used, from each process's last sample, with the system
part on its own: on this machine's VM the first touch of a page of guest memory costs about 2.7 s of
system CPU per GiB (benchmarks/README.md run 9), and the host takes freed pages back, so a phase pays
it for every page of memory or page cache it grows into, the files it writes included.
Sampling can miss a spike shorter than the interval; at 0.1 s it sees every phase that matters here.
"""

from __future__ import annotations

import os
import threading
import time

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_table() -> tuple[dict[int, list[int]], dict[int, tuple[float, float]]]:
    """(children of each pid, (user, system) CPU seconds of each pid) from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, tuple[float, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()  # fields[0] is stat field 3 (state)
        children.setdefault(int(fields[1]), []).append(int(name))
        cpu[int(name)] = (int(fields[11]) / _TICKS, int(fields[12]) / _TICKS)
    return children, cpu


def descendants(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """root and every process below it."""
    children = _proc_table()[0] if children is None else children
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def rss_pss_kib(pid: int) -> tuple[int, int]:
    """(Rss, Pss) of one process in KiB from /proc/PID/smaps_rollup; (0, 0) if it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"Pss:"):
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, pss


class TreeSampler(threading.Thread):
    """Samples the tree under `root` until `stop()`; the peaks are in `peaks()` (MiB)."""

    def __init__(self, root: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self._halt = threading.Event()
        self.tree_rss = self.tree_pss = self.root_rss = self.worker_rss = 0
        self.max_processes = self.samples = 0
        self._cpu: dict[int, tuple[float, float]] = {}  # last (user, system) seconds seen per pid

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def sample(self):
        children, cpu = _proc_table()
        pids = descendants(self.root, children)
        total_rss = total_pss = 0
        for pid in pids:
            if pid in cpu:
                self._cpu[pid] = cpu[pid]
            rss, pss = rss_pss_kib(pid)
            total_rss += rss
            total_pss += pss
            if pid == self.root:
                self.root_rss = max(self.root_rss, rss)
            else:
                self.worker_rss = max(self.worker_rss, rss)
        self.tree_rss = max(self.tree_rss, total_rss)
        self.tree_pss = max(self.tree_pss, total_pss)
        self.max_processes = max(self.max_processes, len(pids))
        self.samples += 1

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        return self.peaks()

    def peaks(self) -> dict:
        mib = 1024
        return {
            "tree_rss_mib": round(self.tree_rss / mib),
            "tree_pss_mib": round(self.tree_pss / mib),
            "root_rss_mib": round(self.root_rss / mib),
            "largest_child_rss_mib": round(self.worker_rss / mib),
            "cpu_seconds": round(sum(u + s for u, s in self._cpu.values()), 1),  # to each process's last sample
            "system_cpu_seconds": round(sum(s for _, s in self._cpu.values()), 1),
            "max_processes": self.max_processes,
            "samples": self.samples,
        }


def measure(fn, interval: float = 0.1):
    """(fn(), wall seconds, peaks) for fn run in this process (the tree under os.getpid())."""
    sampler = TreeSampler(os.getpid(), interval)
    sampler.start()
    started = time.perf_counter()
    try:
        result = fn()
    finally:
        wall = time.perf_counter() - started
        peaks = sampler.stop()
    return result, wall, peaks
