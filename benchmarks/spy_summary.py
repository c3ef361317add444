"""Summarise a py-spy raw (collapsed stacks) profile of a Beam run: worker processes vs the runner.

    py-spy record --subprocesses --format raw --rate 50 -o /tmp/beam.folded -- \\
        python -m benchmarks.phases beam_prep --corpus DIR --work /tmp/w --result /tmp/w/c.json
    python benchmarks/spy_summary.py /tmp/beam.folded [--top 40]

Prints, for the SDK worker processes and for the runner (the main process) separately, the share of
samples spent inside each beam_prep / Beam coder / writer function (inclusive), and the top frames
by self time. py-spy counts a native call (the Rust tokenizer, Arrow) in the Python frame calling it.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

_LINE = re.compile(r":\d+\)")
INTERESTING = ("beam_prep", "fit.py", "units.py", "tokenizer.py", "templates.py", "coders", "json", "pyarrow", "pickle")


def summarise(path: str, top: int = 40) -> str:
    inclusive: Counter = Counter()
    own: Counter = Counter()
    totals: Counter = Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            n = int(count)
            frames = stack.split(";")
            procs = [x for x in frames if x.startswith("process ")]
            kind = "workers" if any("sdk_worker_main" in p for p in procs) else "runner"
            totals[kind] += n
            rest = [_LINE.sub(")", x) for x in frames[len(procs) :]]
            for name in set(rest):
                inclusive[(kind, name)] += n
            if rest:
                own[(kind, rest[-1])] += n
    out = [f"samples: {dict(totals)}"]
    for kind in ("workers", "runner"):
        total = totals[kind] or 1
        out.append(f"== {kind}: inclusive share of beam_prep, coder, writer frames")
        for (k, name), n in inclusive.most_common():
            if k == kind and any(s in name for s in INTERESTING) and n / total >= 0.005:
                out.append(f"{100 * n / total:5.1f}%  {name[:140]}")
        out.append(f"== {kind}: top {top} frames by self time")
        shown = 0
        for (k, name), n in own.most_common():
            if k == kind and shown < top:
                out.append(f"{100 * n / total:5.1f}%  {name[:140]}")
                shown += 1
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args(argv)
    print(summarise(args.path, args.top))


if __name__ == "__main__":
    main()
