"""Split conversations and duplicates on a ShareGPT-like corpus: figures, run time and peak memory.

Runs `python -m beam_prep` on the corpus of `benchmarks/corpus.py --sharegpt` as a child process,
samples its process tree (benchmarks/memory.py: the runner process and the largest worker), and
reads the output: examples per split, conversations rejoined, responses recovered, duplicates
dropped, and the validation examples whose conversation also has training examples (a leak; the
conversation of a row is its dialogue id without the `_<n>` or `_<a>-<b>` suffix). `--tree` runs
another checkout of beam_prep (e.g. the code before a change) with the same interpreter.
`--split_pass` runs only the light pass that finds the conversations of several records
(pipeline/rejoin.py SplitConversations) on the same runner and workers: the cost of that extra pass.

    python benchmarks/conversations.py --dialogues 20000 --workdir /tmp/conv [--tree /tmp/base] [--messages]
    python benchmarks/conversations.py --dialogues 20000 --workdir /tmp/conv --split_pass
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import corpus_files_of, write_corpus
from benchmarks.memory import TreeSampler

_SUFFIX = re.compile(r"_\d+(-\d+)?$")


def leak(out: Path) -> dict:
    """Validation examples (and conversations) whose conversation also has training examples."""
    splits_of = defaultdict(set)
    rows = {}
    for split in ("train", "validation"):
        ids = [
            i
            for f in sorted((out / "parquet").glob(f"{split}-*.parquet"))
            for i in pq.read_table(f).column("dialogue_id").to_pylist()
        ]
        rows[split] = ids
        for i in ids:
            splits_of[_SUFFIX.sub("", i)].add(split)
    both = {c for c, s in splits_of.items() if len(s) == 2}
    return {
        "examples": {s: len(v) for s, v in rows.items()},
        "validation_examples_whose_conversation_trains": sum(_SUFFIX.sub("", i) in both for i in rows["validation"]),
        "conversations_in_both_splits": len(both),
    }


def _sampled(cmd: list[str], tree: str | None) -> tuple[bytes, float, dict]:
    """Run `cmd` (with `tree` first on PYTHONPATH) while its process tree is sampled: its stdout,
    wall seconds and peaks; exit with its stderr if it fails."""
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tree or None)
    sampler = TreeSampler(proc.pid, 0.2)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    peaks = sampler.stop()
    if proc.returncode:
        raise SystemExit(err.decode()[-3000:])
    return out, wall, peaks


def run(corpus: Path, out: Path, workers: int, tree: str | None, schema: str = "sharegpt") -> dict:
    cmd = [sys.executable, "-m", "beam_prep", "--input", str(corpus / "part-*.jsonl.gz"), "--output", str(out)]
    cmd += ["--input_format", schema, "--max_seq_length", "2048", "--runner=FnApiRunner"]
    cmd += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    _, wall, peaks = _sampled(cmd, tree)
    stats = json.loads((out / "stats.json").read_text())
    figures = {k: stats[k] for k in ("conversations", "duplicates", "validation_train_targets") if k in stats}
    return {
        "wall_seconds": round(wall, 1),
        "runner_rss_mib": peaks["root_rss_mib"],
        "largest_worker_rss_mib": peaks["largest_child_rss_mib"],
        "tree_pss_mib": peaks["tree_pss_mib"],
        "cpu_seconds": peaks["cpu_seconds"],
        "records_read": stats["records"]["read"],
        "split_dialogues": {s: v["dialogues"] for s, v in stats["splits"].items()},
        "rejects": stats["rejects"],
        **figures,
        **leak(out),
    }


def split_pass(corpus: Path, workers: int, tree: str | None) -> dict:
    """CPU, wall and memory of a job that is only SplitConversations (and a count of what it found)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_split_child", str(corpus), "--workers", str(workers)]
    cmd += ["--workdir", str(corpus.parent)]
    out, wall, peaks = _sampled(cmd, tree)
    return {
        "wall_seconds": round(wall, 1),
        "runner_rss_mib": peaks["root_rss_mib"],
        "largest_worker_rss_mib": peaks["largest_child_rss_mib"],
        "cpu_seconds": peaks["cpu_seconds"],
        **json.loads(out.decode().strip().splitlines()[-1]),
    }


def _split_child(corpus: str, workers: int) -> None:
    """The child of split_pass: SplitConversations over the corpus, the count of conversations on stdout."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_prep.config import RunConfig
    from beam_prep.io.globs import common_root
    from beam_prep.pipeline.rejoin import SplitConversations

    files = sorted(str(f) for f in corpus_files_of(corpus))
    config = RunConfig(input_format="sharegpt")
    chunk, cap = int(config.input_chunk_mb * (1 << 20)), int(config.max_record_mb * (1 << 20))
    options = PipelineOptions(
        ["--runner=FnApiRunner", f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    )
    found = Path(corpus) / "split-pass.count"
    with beam.Pipeline(options=options) as p:
        _ = (
            p
            | SplitConversations(files, common_root(files), chunk, cap, config.conversation_key_spec())
            | beam.combiners.Count.Globally()
            | beam.Map(lambda n: found.write_text(str(n)))
        )
    print(json.dumps({"conversations_of_several_records": int(found.read_text())}))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dialogues", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--tree", help="a beam_prep checkout to run instead of the installed one")
    ap.add_argument("--label", default="run")
    ap.add_argument("--messages", action="store_true", help="the plain messages corpus (no parts, no copies)")
    ap.add_argument("--split_pass", action="store_true", help="only the SplitConversations pass: its cost alone")
    ap.add_argument("--_split_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._split_child:
        _split_child(args._split_child, args.workers)
        return
    work = Path(args.workdir)
    schema = "messages" if args.messages else "sharegpt"
    corpus = work / f"corpus-{schema}-{args.dialogues}-{args.seed}"
    if not corpus_files_of(corpus):
        write_corpus(corpus, args.dialogues, args.seed, sharegpt=not args.messages)
    if args.split_pass:
        result = split_pass(corpus, args.workers, args.tree)
    else:
        result = run(corpus, work / f"out-{args.label}-{args.dialogues}", args.workers, args.tree, schema)
    print(json.dumps({"label": args.label, "dialogues": args.dialogues, "workers": args.workers, **result}))


if __name__ == "__main__":
    main()
