"""CPU seconds of each stage of a worker's work, in one process, beside the floor on the same turns.

What a worker does to a corpus, stage by stage and without Beam: read and normalise, Fitter.fit in
batches of 64 dialogues (the tokenizer's own CPU, `encode_batch`, counted apart), window_text +
example_row, rows_to_table per 1,024 rows, then the Parquet, JSONL and Arrow writes (to memory).
The floor, every turn tokenized once (phases.py floor), runs in the same process before and after,
and the faster of the two counts. CPU seconds (process_time: all threads, the Rust pool's too) are
steadier than wall time on a shared machine. The garbage collector is set as in a worker.

    python benchmarks/stages.py --corpus /tmp/beam_prep_bench/corpus-6000-0
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq

from beam_prep.core.explode import explode
from beam_prep.core.fit import window_texts
from beam_prep.core.normalize import normalize
from beam_prep.core.records import Example, RawRecord
from beam_prep.io.shards import PARQUET_OPTIONS, ShardFiles, _arrow_schema, _json_lines, rows_to_table
from beam_prep.pipeline.render import example_row
from beam_prep.pipeline.worker import tune_collector
from benchmarks.corpus import corpus_files_of, read_corpus
from benchmarks.phases import BATCH
from benchmarks.scaling import BATCH_DIALOGUES, make_fitter


class _Clock:
    def __init__(self):
        self.cpu: dict[str, float] = {}

    def add(self, name: str, started: float) -> float:
        now = time.process_time()
        self.cpu[name] = self.cpu.get(name, 0.0) + now - started
        return now


def floor_cpu(backend, texts: list[str]) -> float:
    started = time.process_time()
    for i in range(0, len(texts), BATCH):
        backend.encode_batch(texts[i : i + BATCH], add_special_tokens=False)
    return time.process_time() - started


def measure(corpus: str) -> dict:
    fitter = make_fitter()
    tune_collector()  # as a worker does once its Fitter is loaded (pipeline/worker.py)
    clock = _Clock()
    t = time.process_time()
    raws = list(read_corpus(corpus_files_of(corpus)))
    dialogues = [d for i, raw in enumerate(raws) if (d := normalize(RawRecord("bench.jsonl", i + 1, raw))[0])]
    t = clock.add("read and normalise", t)
    texts = [m["content"] for raw in raws for m in raw["messages"]]
    floor = [floor_cpu(fitter.encoder.backend, texts)]
    encoder = fitter.encoder
    real_plain = encoder.plain

    class Counted:  # the tokenizer's CPU inside Fitter.fit, counted apart
        def __getattr__(self, name):
            method = getattr(real_plain, name)

            def timed(*args, **kwargs):
                started = time.process_time()
                out = method(*args, **kwargs)
                clock.add("fit: tokenizer (encode_batch)", started)
                return out

            return timed

    encoder.plain = Counted()
    rows, tables, tokens = [], [], 0
    t = time.process_time()
    for i in range(0, len(dialogues), BATCH_DIALOGUES):
        batch = [(d, explode(d, "per_response")) for d in dialogues[i : i + BATCH_DIALOGUES]]
        examples = [e for e in fitter.fit(batch, "per_response") if isinstance(e, Example)]
        t = clock.add("fit: all", t)
        for ex, text in zip(examples, window_texts(fitter, examples)):
            rows.append(example_row(ex, *text))
            tokens += len(ex.input_ids)
        t = clock.add("render (window_text, example_row)", t)
        while len(rows) >= 1024 or (rows and i + BATCH_DIALOGUES >= len(dialogues)):
            chunk, rows = rows[:1024], rows[1024:]
            tables.append((chunk, rows_to_table(chunk)))
            t = clock.add("rows_to_table", t)
    encoder.plain = real_plain
    parquet, arrow = io.BytesIO(), io.BytesIO()
    t = time.process_time()
    writer = pq.ParquetWriter(parquet, tables[0][1].schema, **PARQUET_OPTIONS)
    for _, table in tables:
        writer.write_table(table, row_group_size=ShardFiles.ROW_GROUP_ROWS)
    writer.close()
    t = clock.add("write Parquet", t)
    jsonl = sum(len(_json_lines(chunk, table)) for chunk, table in tables)
    t = clock.add("write JSONL", t)
    with pa.ipc.new_stream(arrow, _arrow_schema()) as stream:
        for _, table in tables:
            stream.write_table(table.replace_schema_metadata(_arrow_schema().metadata), max_chunksize=1000)
    clock.add("write Arrow", t)
    floor.append(floor_cpu(encoder.backend, texts))
    cpu = dict(clock.cpu)
    cpu["fit: Python (all but the tokenizer)"] = cpu.pop("fit: all") - cpu["fit: tokenizer (encode_batch)"]
    return {
        "floor_cpu_s": min(floor),
        "floor_runs": floor,
        "stages_cpu_s": cpu,
        "output_tokens": tokens,
        "bytes": {"parquet": parquet.tell(), "jsonl": jsonl, "arrow": arrow.tell()},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    args = ap.parse_args(argv)
    r = measure(args.corpus)
    floor = r["floor_cpu_s"]
    print(f"floor: {floor:.2f} CPU-s (runs {', '.join(f'{x:.2f}' for x in r['floor_runs'])})")
    print(f"{'stage':40} {'CPU-s':>7} {'x floor':>8}")
    for name, cpu in sorted(r["stages_cpu_s"].items(), key=lambda kv: -kv[1]):
        print(f"{name:40} {cpu:7.2f} {cpu / floor:8.2f}")
    total = sum(r["stages_cpu_s"].values())
    print(f"{'total':40} {total:7.2f} {total / floor:8.2f}")
    print(
        f"output tokens {r['output_tokens']:,}; bytes per token: "
        + ", ".join(f"{k} {v / r['output_tokens']:.2f}" for k, v in r["bytes"].items())
    )


if __name__ == "__main__":
    main()
