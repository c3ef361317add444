"""The benchmark phases, each run in a fresh child process by run.py (so its memory is its own).

    python -m benchmarks.phases {floor,baseline,beam_prep,scaling} --corpus DIR --work DIR --result FILE

floor      every turn of the corpus tokenized once, batched, with the bundled tokenizer's Rust backend
           (--sharegpt: every turn of every record, the copies' too)
baseline   datasets.load_dataset('json') + map(batched=True, num_proc=2) re-tokenizing (baseline.py)
beam_prep  beam_prep.job.run_job on the FnApiRunner with 2 multi_processing workers: read, explode,
           truncate, render, write Parquet, JSONL and hf/
scaling    per-example cost of beam_prep's core on 400-turn vs 10-turn dialogues (scaling.py)
write      the output alone: beam_prep's rows (read back from its Parquet shards, untimed) written
           again as Parquet, JSONL and Arrow by io.shards.ShardFiles, in one process

Each writes a JSON dict: `seconds` (the timed work), and counts to cross-check the phases.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import corpus_files_of as corpus_files
from benchmarks.corpus import read_corpus, turn_texts

MAX_SEQ_LENGTH = 4096
TEMPLATE = "llama2-chat-memory"
BEAM_ARGS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing"]
BATCH = 1024


def floor(args) -> dict:
    from transformers import AutoTokenizer

    from beam_prep.config import BUNDLED_TOKENIZER

    started = time.perf_counter()
    texts = [t for d in read_corpus(corpus_files(args.corpus)) for t in turn_texts(d)]
    read = time.perf_counter() - started
    backend = AutoTokenizer.from_pretrained(BUNDLED_TOKENIZER).backend_tokenizer
    started, cpu = time.perf_counter(), time.process_time()  # process_time: CPU of all the process's threads
    tokens = 0
    for i in range(0, len(texts), BATCH):
        tokens += sum(len(e.ids) for e in backend.encode_batch(texts[i : i + BATCH], add_special_tokens=False))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "read_seconds": read, "turns": len(texts), "tokens": tokens}


def baseline(args) -> dict:
    import pyarrow.compute as pc

    from beam_prep.config import BUNDLED_TOKENIZER
    from benchmarks.baseline import run_baseline

    cache = os.path.join(args.work, "baseline_cache")
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    ds = run_baseline(corpus_files(args.corpus), BUNDLED_TOKENIZER, MAX_SEQ_LENGTH, cache, num_proc=2)
    seconds = time.perf_counter() - started
    tokens = pc.sum(ds.data.column("num_tokens")).as_py()
    result = {"seconds": seconds, "examples": len(ds), "tokens": tokens, "output_bytes": _du(cache)}
    if not args.keep:
        shutil.rmtree(cache, ignore_errors=True)
    return result


def beam_prep(args) -> dict:
    from beam_prep.config import RunConfig
    from beam_prep.job import run_job

    out = os.path.join(args.work, "beam_prep_out")
    shutil.rmtree(out, ignore_errors=True)
    files = [os.path.join(args.corpus, "part-*.jsonl.gz")]
    config = RunConfig(input=files, output=out, max_seq_length=MAX_SEQ_LENGTH, template=TEMPLATE)
    if args.sharegpt:  # the records as a dump holds them: its conversations are rejoined by id
        config = replace(config, input_format="sharegpt")
    started = time.perf_counter()
    stats = run_job(config, [*BEAM_ARGS, f"--direct_num_workers={args.workers}"])
    seconds = time.perf_counter() - started
    splits = stats["splits"]
    tokens = sum(int(k) * v for dist in stats["num_tokens"].values() for k, v in dist.get("histogram", {}).items())
    result = {
        "seconds": seconds,
        "examples": sum(s["examples"] for s in splits.values()),
        "tokens": tokens,
        "rejects": stats.get("rejects", {}),
        "output_bytes": _du(out),
    }
    kept = os.path.join(args.work, "beam_prep_parquet")  # for the write phase
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(os.path.join(out, "parquet"), kept)
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


def write(args) -> dict:
    """Writing beam_prep's output rows in the three formats, timed alone: a lower bound that any tool
    producing this output pays on top of tokenizing."""
    from beam_prep.io.shard_writer import ROWS_PER_TABLE
    from beam_prep.io.shards import ShardFiles
    from benchmarks.write_cost import writer_rows

    kept = Path(args.work, "beam_prep_parquet")
    files = sorted(kept.glob("*.parquet"))
    if not files:
        raise SystemExit(f"no Parquet shards under {kept}: run the beam_prep phase first")
    out = Path(args.work, "write_out")
    seconds, cpu, rows_written, tokens = 0.0, 0.0, 0, 0
    for i, f in enumerate(files):
        rows = writer_rows(f)
        shutil.rmtree(out, ignore_errors=True)
        started, cpu_started = time.perf_counter(), time.process_time()
        shard = ShardFiles({fmt: str(out / f"{i}.{fmt}") for fmt in ("parquet", "jsonl", "arrow")})
        for j in range(0, len(rows), ROWS_PER_TABLE):
            shard.write(rows[j : j + ROWS_PER_TABLE])
        shard.close()
        seconds, cpu = seconds + time.perf_counter() - started, cpu + time.process_time() - cpu_started
        rows_written, tokens = rows_written + shard.rows, tokens + shard.tokens
        del rows
    shutil.rmtree(out, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(kept, ignore_errors=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "examples": rows_written, "tokens": tokens}


def scaling(args) -> dict:
    from benchmarks.scaling import measure_scaling

    return measure_scaling(examples=args.examples, seed=args.seed)


def _du(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


PHASES = {"floor": floor, "baseline": baseline, "beam_prep": beam_prep, "scaling": scaling, "write": write}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=sorted(PHASES))
    ap.add_argument("--corpus", default="")
    ap.add_argument("--work", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--examples", type=int, default=4000, help="scaling: examples per dialogue length")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="beam_prep: local SDK worker processes")
    ap.add_argument("--keep", action="store_true", help="keep the outputs of baseline and beam_prep")
    ap.add_argument("--sharegpt", action="store_true", help="beam_prep: the corpus holds ShareGPT records")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = PHASES[args.phase](args)
    Path(args.result).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
