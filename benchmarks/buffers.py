"""What the local runner holds: bytes and writes per FnApiRunner buffer of a beam_prep run.

Runs `python -m beam_prep ARGS` in this process with Beam's FnApiRunner buffers instrumented
(GroupingBuffer: a GroupByKey's input, kept in the runner decoded until it is read; ListBuffer: a
Flatten or side input, kept encoded) and prints, every 5 s and at the end, the runner's RSS and the
encoded bytes each buffer received, largest first. It patches Beam internals (2.77): a tool to find
what a shuffle costs the runner, not a measurement of peak memory (benchmarks/conversations.py).
With `--tracemalloc`, the runner's Python allocations are traced too, and each time the traced total
reaches a new high (sampled every 20 s) the log gets the allocation sites that hold the most, with
their callers: what the runner's memory is, where RSS alone cannot say.

    python benchmarks/buffers.py --log /tmp/buffers.log -- --input 'corpus/*.jsonl.gz' --output /tmp/out \\
        --input_format sharegpt --runner=FnApiRunner --direct_num_workers=2 --direct_running_mode=multi_processing
"""

from __future__ import annotations

import argparse
import runpy
import sys
import threading
import time
import tracemalloc

from apache_beam.runners.portability.fn_api_runner import execution

_received: dict[str, list[int]] = {}  # buffer id -> [writes, bytes]
_FRAMES = 6  # callers kept per traced allocation, all of them printed: each printed group is distinct


def _rss_mib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


def _instrument() -> None:
    get_buffer = execution.BundleContextManager.get_buffer

    def named(self, buffer_id, transform_id):
        buffer = get_buffer(self, buffer_id, transform_id)
        if getattr(buffer, "_probe", None) is None:
            buffer._probe = buffer_id.decode(errors="replace")
        return buffer

    execution.BundleContextManager.get_buffer = named
    for cls in (execution.GroupingBuffer, execution.ListBuffer):
        append = cls.append

        def counted(self, data, _append=append):
            if name := getattr(self, "_probe", None):
                seen = _received.setdefault(name, [0, 0])
                seen[0] += 1
                seen[1] += len(data)
            return _append(self, data)

        cls.append = counted
        cls._probe = None


def _lines(top: int) -> list[str]:
    biggest = sorted(((b, name, n) for name, (n, b) in _received.items()), reverse=True)[:top]
    return [f"  {b / 2**20:9.1f} MiB {n:7d} writes  {name}" for b, name, n in biggest]


def _holders(top: int) -> str:
    """The `top` allocation sites holding the most traced memory, each with its innermost callers."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    current, peak = tracemalloc.get_traced_memory()
    lines = [f"traced {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f}), runner RSS {_rss_mib()} MiB"]
    for stat in snapshot.statistics("traceback")[:top]:
        lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks")
        lines += [f"      {frame.filename}:{frame.lineno}" for frame in stat.traceback]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--tracemalloc", action="store_true", help="trace the runner's Python allocations")
    split = sys.argv.index("--") if "--" in sys.argv else len(sys.argv)
    args = ap.parse_args(sys.argv[1:split])
    log = open(args.log, "w", buffering=1)  # noqa: SIM115 (written by a thread until the end)

    def report():
        high, tick = 0, 0
        while True:
            time.sleep(5)
            tick += 1
            log.write(f"{time.strftime('%H:%M:%S')} runner RSS {_rss_mib()} MiB\n" + "\n".join(_lines(args.top)) + "\n")
            if args.tracemalloc and tick % 4 == 0 and (traced := tracemalloc.get_traced_memory()[0]) > high * 1.05:
                high = traced
                log.write(f"{time.strftime('%H:%M:%S')} NEW HIGH " + _holders(args.top) + "\n")

    _instrument()
    if args.tracemalloc:
        tracemalloc.start(_FRAMES)
    threading.Thread(target=report, daemon=True).start()
    sys.argv = ["beam_prep", *sys.argv[split + 1 :]]
    try:
        runpy.run_module("beam_prep", run_name="__main__")
    finally:
        log.write(f"END runner RSS {_rss_mib()} MiB\n" + "\n".join(_lines(10_000)) + "\n")
        if args.tracemalloc:
            log.write("END " + _holders(args.top) + "\n")


if __name__ == "__main__":
    main()
