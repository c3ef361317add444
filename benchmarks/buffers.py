"""What the local runner holds: bytes and writes per FnApiRunner buffer of a beam_prep run.

Runs `python -m beam_prep ARGS` in this process with Beam's FnApiRunner buffers instrumented
(GroupingBuffer: a GroupByKey's input, kept in the runner decoded until it is read; ListBuffer: a
Flatten or side input, kept encoded) and prints, every 5 s and at the end, the runner's RSS and the
encoded bytes each buffer received, largest first. It patches Beam internals (2.77): a tool to find
what a shuffle costs the runner, not a measurement of peak memory (benchmarks/conversations.py).

    python benchmarks/buffers.py --log /tmp/buffers.log -- --input 'corpus/*.jsonl.gz' --output /tmp/out \\
        --input_format sharegpt --runner=FnApiRunner --direct_num_workers=2 --direct_running_mode=multi_processing
"""

from __future__ import annotations

import argparse
import runpy
import sys
import threading
import time

from apache_beam.runners.portability.fn_api_runner import execution

_received: dict[str, list[int]] = {}  # buffer id -> [writes, bytes]


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--top", type=int, default=12)
    split = sys.argv.index("--") if "--" in sys.argv else len(sys.argv)
    args = ap.parse_args(sys.argv[1:split])
    log = open(args.log, "w", buffering=1)  # noqa: SIM115 (written by a thread until the end)

    def report():
        while True:
            time.sleep(5)
            log.write(f"{time.strftime('%H:%M:%S')} runner RSS {_rss_mib()} MiB\n" + "\n".join(_lines(args.top)) + "\n")

    _instrument()
    threading.Thread(target=report, daemon=True).start()
    sys.argv = ["beam_prep", *sys.argv[split + 1 :]]
    try:
        runpy.run_module("beam_prep", run_name="__main__")
    finally:
        log.write(f"END runner RSS {_rss_mib()} MiB\n" + "\n".join(_lines(10_000)) + "\n")


if __name__ == "__main__":
    main()
