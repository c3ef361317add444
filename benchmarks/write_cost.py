"""What writing the output costs, step by step and Parquet column by column (issue 15).

Reads the rows of a beam_prep output's Parquet shards back (untimed) as the writer receives them
(token columns as array('i'), no attention_mask), then times each step io/shards.py takes for
1,024-row tables: rows_to_table, the JSON lines, the Parquet write (all columns, then each column
alone), the HF Arrow stream; then the bytes of the Arrow stream and JSONL written to a local file
through fsspec (as ShardFiles does) and through a native pyarrow file. CPU seconds of the process,
fastest of --repeat; nanoseconds per output token.

    python benchmarks/write_cost.py --parquet /tmp/beam_prep_bench/beam_prep_parquet [--max_rows 3000]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
from array import array
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq

from beam_prep.io.fs import url_to_fs
from beam_prep.io.shard_writer import ROWS_PER_TABLE
from beam_prep.io.shards import _TOKEN_COLUMNS as LISTS
from beam_prep.io.shards import PARQUET_OPTIONS, SCHEMA, ShardFiles, _arrow_schema, _json_lines, rows_to_table


def writer_rows(path: str | Path) -> list[dict]:
    """The rows of one output Parquet shard as the writer receives them (pipeline/render.py
    example_row): token columns as array('i'), no attention_mask (the table derives it)."""
    rows = pq.read_table(path).to_pylist()
    for r in rows:
        r.pop("attention_mask", None)
        r["input_ids"], r["labels"] = array("i", r["input_ids"]), array("i", r["labels"])
    return rows


def load_rows(folder: str, max_rows: int) -> list[dict]:
    rows = []
    for path in sorted(Path(folder).glob("*.parquet")):
        rows += writer_rows(path)
        if len(rows) >= max_rows:
            return rows[:max_rows]
    return rows


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best_cpu(step, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = _cpu()
        step()
        best = min(best, _cpu() - started)
    return best


def measure(rows: list[dict], repeat: int = 3) -> dict[str, float]:
    """CPU seconds of each step over all `rows`."""
    batches = [rows[i : i + ROWS_PER_TABLE] for i in range(0, len(rows), ROWS_PER_TABLE)]
    tables = [rows_to_table(b) for b in batches]
    lines = [_json_lines(b, t) for b, t in zip(batches, tables)]
    steps = {
        "rows_to_table": lambda: [rows_to_table(b) for b in batches],
        "_json_lines": lambda: [_json_lines(b, t) for b, t in zip(batches, tables)],
        "parquet, all columns": lambda: _parquet(tables, SCHEMA.names),
        "parquet, the token lists": lambda: _parquet(tables, LISTS),
        "parquet, the other columns": lambda: _parquet(tables, [n for n in SCHEMA.names if n not in LISTS]),
        **{f"parquet, {name} alone": (lambda name=name: _parquet(tables, [name])) for name in SCHEMA.names},
        "arrow stream, to memory": lambda: _arrow(tables, io.BytesIO()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "shard")
        for native in (False, True):
            how = "native pa.OSFile" if native else "fsspec, as ShardFiles"
            steps[f"arrow stream, to a file ({how})"] = lambda n=native: _arrow(tables, _open(path, n))
            steps[f"jsonl bytes, to a file ({how})"] = lambda n=native: _write_lines(lines, _open(path, n))
        return {name: best_cpu(step, repeat) for name, step in steps.items()}


def _parquet(tables: list[pa.Table], columns) -> None:
    schema = pa.schema([SCHEMA.field(c) for c in columns])
    writer = pq.ParquetWriter(io.BytesIO(), schema, **PARQUET_OPTIONS)
    for t in tables:
        writer.write_table(t.select(list(columns)), row_group_size=ShardFiles.ROW_GROUP_ROWS)
    writer.close()


def _open(path: str, native: bool):
    if native:
        return pa.OSFile(path, "wb")
    fs, local = url_to_fs(path)
    return fs.open(local, "wb")


def _arrow(tables: list[pa.Table], handle) -> None:
    schema = _arrow_schema()
    with pa.ipc.new_stream(handle, schema) as stream:
        for t in tables:
            stream.write_table(t.replace_schema_metadata(schema.metadata), max_chunksize=1000)
    handle.close()


def _write_lines(lines: list[bytes], handle) -> None:
    for chunk in lines:
        handle.write(chunk)
    handle.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parquet", required=True, help="a beam_prep output's parquet/ folder (or run.py's kept copy)")
    ap.add_argument("--max_rows", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = load_rows(args.parquet, args.max_rows)
    if not rows:
        raise SystemExit(f"no rows in {args.parquet}/*.parquet")
    tokens = sum(r["num_tokens"] for r in rows)
    print(f"{len(rows):,} rows, {tokens:,} output tokens; CPU seconds, fastest of {args.repeat}")
    for name, cpu in measure(rows, args.repeat).items():
        print(f"{name:48} {cpu:7.3f} CPU-s {cpu / tokens * 1e9:7.1f} ns/token")


if __name__ == "__main__":
    main()
