"""A py-spy raw profile of a Beam run (see spy_summary.py) in a few categories: each sample goes
to the first category one of its frames matches (idle: by the innermost frame only), workers and
runner apart. py-spy does not sample the tokenizer's Rust threads.

    python benchmarks/spy_categories.py /tmp/beam.folded
"""

from __future__ import annotations

import argparse
from collections import Counter

CATEGORIES = [
    (
        "idle (Condition.wait, gRPC spin)",
        ("Condition.wait", "channel_spin", "_serve (grpc", "Event.wait", "Popen._try_wait"),
    ),
    ("worker start-up: TextEncoder.__init__", ("TextEncoder.__init__",)),
    ("merge of small shards (merge_shards)", ("merge_shards",)),
    ("Finalize: commit, card, histogram", ("commit_output", "_Commit.process", "write_reports")),
    ("Fitter.fit (truncation, tokenizer calls)", ("Fitter.fit",)),
    ("writing shards (ShardFiles.write)", ("ShardFiles.write", "ShardWriter.flush", "ShardWriter.close")),
    ("render (window_text, example_row)", ("_Render.process",)),
    ("plan keys (example_keys, place, decide)", ("example_keys", "place (", "_later_records", "_decided", "_id_of")),
    ("read, parse, normalise (3 passes)", ("_ReadPart.process", "_ConversationOf.process", "_PlanParts.process")),
    ("Beam coders, pickling", ("coders", "pickle", "cloudpickle")),
    ("imports (Beam, other)", ("<module>", "_find_and_load")),
]


def categorise(path: str) -> tuple[Counter, Counter]:
    totals, counts = Counter(), Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            procs = [x for x in frames if x.startswith("process ")]
            kind = "workers" if any("sdk_worker_main" in p for p in procs) else "runner"
            totals[kind] += int(n)
            leaf = frames[-1] if len(frames) > len(procs) else ""
            found = "other"
            for name, keys in CATEGORIES:
                where = leaf if name.startswith("idle") else stack
                if any(k in where for k in keys):
                    found = name
                    break
            counts[(kind, found)] += int(n)
    return totals, counts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    totals, counts = categorise(ap.parse_args(argv).path)
    for kind in ("workers", "runner"):
        print(f"== {kind}: {totals[kind]} samples")
        for (k, name), n in counts.most_common():
            if k == kind:
                print(f"{100 * n / totals[kind]:5.1f}%  {n:6d}  {name}")


if __name__ == "__main__":
    main()
