"""Hostile single records among ordinary dialogues (issue 18): exit code, wall time, peak memory.

Each case is a small .jsonl (or .json / .parquet) corpus of 40 ordinary dialogues (benchmarks/
corpus.py) with one odd record at line 2; `beam_prep run` runs over it in a child process whose
process tree is sampled from /proc (benchmarks/memory.py). Prints one JSON line per case.

    python benchmarks/hostile.py --work /tmp/hostile                      # every case
    python benchmarks/hostile.py --work /tmp/hostile --cases deep,big20   # some
    PYTHONPATH=/path/to/other/tree python benchmarks/hostile.py ...       # another tree's code

Cases: deep (a valid dialogue with a `meta` field nested 500 levels), big20 / big60 / big100 (one
user turn of 20 / 60 / 100 MB; 100 MB is over the default --max_record_mb), two_values (two JSON
values without ids on one line of a .json file), text_turns (a turn with `text` instead of
`content`), binary_parquet (binary UTF-8 columns), mid_bom (a BOM at the start of line 3, as after
concatenating files).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.corpus import make_dialogue  # noqa: E402
from benchmarks.memory import TreeSampler  # noqa: E402

CASES = ("deep", "big20", "big60", "big100", "two_values", "text_turns", "binary_parquet", "mid_bom")


def _ordinary(n: int = 40) -> list[dict]:
    return [make_dialogue(18, i, pairs=2) for i in range(n)]


def _pair(user: str, assistant: str = "Sure.") -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def _jsonl(folder: Path, odd: str) -> None:
    lines = [json.dumps(d) for d in _ordinary()]
    (folder / "data.jsonl").write_text("\n".join(lines[:1] + [odd] + lines[1:]) + "\n", encoding="utf-8")


def write_case(case: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if case == "deep":
        meta = "[" * 500 + "]" * 500
        _jsonl(folder, json.dumps({"id": "deep", **_pair("hi")})[:-1] + f', "meta": {meta}}}')
    elif case in ("big20", "big60", "big100"):
        size = int(case[3:]) << 20
        _jsonl(folder, json.dumps({"id": "big", **_pair("word " * (size // 5))}))
    elif case == "two_values":
        a, b = _pair("What is one plus one?"), _pair("Name a colour, please, a bright one.", "Red.")
        (folder / "data.json").write_text(json.dumps(a) + " " + json.dumps(b) + "\n", encoding="utf-8")
    elif case == "text_turns":
        turns = [{"role": "user", "text": "hello there"}, {"role": "assistant", "text": "hi"}]
        _jsonl(folder, json.dumps({"id": "text", "messages": turns}))
    elif case == "binary_parquet":
        rows = [{"id": d["id"].encode(), "messages": d["messages"]} for d in _ordinary(10)]
        for row in rows:
            row["messages"] = [{"role": m["role"].encode(), "content": m["content"].encode()} for m in row["messages"]]
        pq.write_table(pa.Table.from_pylist(rows), folder / "data.parquet")
    elif case == "mid_bom":
        lines = [json.dumps(d) for d in _ordinary()]
        lines[2] = "\ufeff" + lines[2]
        (folder / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        raise SystemExit(f"unknown case {case!r}: one of {', '.join(CASES)}")


def run_case(case: str, work: Path, extra: list[str]) -> dict:
    data, out = work / case / "in", work / case / "out"
    if not data.exists():
        write_case(case, data)
    cmd = [sys.executable, "-m", "beam_prep", "--input", str(data / "*"), "--output", str(out)]
    cmd += ["--max_seq_length", "512", "--runner=FnApiRunner", "--direct_num_workers=2", *extra]
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = TreeSampler(child.pid, 0.1)
    sampler.start()
    log, _ = child.communicate()
    wall = time.perf_counter() - started
    peaks = sampler.stop()
    (work / case / "log.txt").write_text(log)
    stats = {}
    if (out / "stats.json").is_file() and child.returncode == 0:
        stats = json.loads((out / "stats.json").read_text())
    return {
        "case": case,
        "exit": child.returncode,
        "wall_s": round(wall, 1),
        "tree_rss_mib": peaks["tree_rss_mib"],
        "largest_child_rss_mib": peaks["largest_child_rss_mib"],
        "load_1min": round(os.getloadavg()[0], 2),
        "records": stats.get("records"),
        "rejects": stats.get("rejects"),
        "examples": {s: v["examples"] for s, v in stats.get("splits", {}).items()},
        "last_log_line": log.strip().splitlines()[-1][:200] if log.strip() else "",
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/beam_prep_hostile")
    ap.add_argument("--cases", default=",".join(CASES))
    args, extra = ap.parse_known_args(argv)
    work = Path(args.work)
    for case in args.cases.split(","):
        print(json.dumps(run_case(case, work, extra)), flush=True)


if __name__ == "__main__":
    main()
