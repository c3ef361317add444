"""Output size per format, and the Parquet codec and encoding chosen by measurement (issue 15 item 2).

Reads the rows of a beam_prep output's Parquet shards, turns them back into the writer's tables
(io.shards.rows_to_table, 1,024 rows a table), then writes them once per variant and reports bytes
per output token and the CPU seconds of the write. Variants: Parquet codecs and levels, dictionary
encoding of the token columns on or off, int64 instead of int32 token columns, and an all-ones
`attention_mask` column (issue 13's) to price it; JSONL (io.shards._json_lines) and the HF Arrow
stream as written.

    python benchmarks/sizes.py --parquet /tmp/beam_prep_bench/beam_prep_parquet [--max_rows 20000]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from beam_prep.io import shards
from beam_prep.io.shard_writer import ROWS_PER_TABLE
from beam_prep.io.shards import _arrow_schema, _json_lines, rows_to_table
from benchmarks.write_cost import writer_rows

TOKENS = ("input_ids", "labels")
# name: (codec, level, dictionary on the token columns (None: on no column), token type, attention_mask)
VARIANTS = {
    "zstd-1 dict int32 (before)": ("zstd", 1, True, pa.int32(), False),
    "zstd-3 dict int32": ("zstd", 3, True, pa.int32(), False),
    "zstd-9 dict int32": ("zstd", 9, True, pa.int32(), False),
    "zstd-1 plain int32": ("zstd", 1, False, pa.int32(), False),
    "zstd-2 plain int32": ("zstd", 2, False, pa.int32(), False),
    "zstd-3 plain int32": ("zstd", 3, False, pa.int32(), False),
    "zstd-3 no dictionary at all": ("zstd", 3, None, pa.int32(), False),
    "zstd-5 plain int32": ("zstd", 5, False, pa.int32(), False),
    "zstd-9 plain int32": ("zstd", 9, False, pa.int32(), False),
    "snappy dict int32": ("snappy", None, True, pa.int32(), False),
    "lz4 dict int32": ("lz4", None, True, pa.int32(), False),
    "none dict int32": ("none", None, True, pa.int32(), False),
    "zstd-3 plain int64": ("zstd", 3, False, pa.int64(), False),
    "zstd-3 plain int32 +mask": ("zstd", 3, False, pa.int32(), True),
    "zstd-3 plain int64 +mask": ("zstd", 3, False, pa.int64(), True),
}


def load_tables(folder: str, max_rows: int) -> tuple[list[pa.Table], list[list[dict]]]:
    tables, row_lists, n = [], [], 0
    for f in sorted(Path(folder).glob("*.parquet")):
        rows = writer_rows(f)
        for i in range(0, len(rows), ROWS_PER_TABLE):
            chunk = rows[i : i + ROWS_PER_TABLE]
            row_lists.append(chunk)
            tables.append(rows_to_table(chunk))
            n += len(chunk)
            if n >= max_rows:
                return tables, row_lists
    return tables, row_lists


def variant_table(table: pa.Table, token_type, mask: bool) -> pa.Table:
    """The writer's table with the variant's token type, and with or without an all-ones mask of
    that type (the writer's own int8 mask, issue 13, is dropped first: each variant says its own)."""
    table = table.drop_columns([n for n in ("attention_mask",) if n in table.schema.names])
    for name in TOKENS:
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, table.column(name).cast(pa.list_(token_type)))
    if mask:
        ids = table.column("input_ids").combine_chunks()
        ones = pa.array(np.ones(len(ids.values), dtype=token_type.to_pandas_dtype()))
        table = table.append_column("attention_mask", pa.ListArray.from_arrays(ids.offsets, ones))
    return table


def write_parquet(tables, codec, level, dictionary, token_type, mask) -> tuple[int, float]:
    tables = [variant_table(t, token_type, mask) for t in tables]
    sink = io.BytesIO()
    names = tables[0].schema.names
    plain = (*TOKENS, "attention_mask")
    use_dict = False if dictionary is None else True if dictionary else [n for n in names if n not in plain]
    cpu = time.process_time()
    writer = pq.ParquetWriter(
        sink, tables[0].schema, compression=codec, compression_level=level, use_dictionary=use_dict
    )
    for t in tables:
        writer.write_table(t, row_group_size=shards.ShardFiles.ROW_GROUP_ROWS)
    writer.close()
    return sink.tell(), time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parquet", required=True, help="a folder of beam_prep Parquet shards")
    ap.add_argument("--max_rows", type=int, default=20_000)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args(argv)
    tables, row_lists = load_tables(args.parquet, args.max_rows)
    tokens = sum(sum(t.column("num_tokens").to_pylist()) for t in tables)
    text_bytes = sum(sum(len(s.encode()) for s in t.column("text").to_pylist()) for t in tables)
    results = {"rows": sum(t.num_rows for t in tables), "tokens": tokens, "text_bytes_per_token": text_bytes / tokens}
    figures = {}
    for name, spec in VARIANTS.items():
        size, cpu = write_parquet(tables, *spec)
        figures[f"parquet {name}"] = (size, cpu)
    cpu = time.process_time()
    jsonl = sum(len(_json_lines(rows, t)) for rows, t in zip(row_lists, tables))
    figures["jsonl (orjson)"] = (jsonl, time.process_time() - cpu)
    sink = io.BytesIO()
    cpu = time.process_time()
    with pa.ipc.new_stream(sink, _arrow_schema()) as arrow:
        for t in tables:
            arrow.write_table(t.replace_schema_metadata(_arrow_schema().metadata), max_chunksize=1000)
    figures["arrow (hf/)"] = (sink.tell(), time.process_time() - cpu)
    for token_type, label in ((pa.int32(), "int32 +mask"), (pa.int64(), "int64 +mask")):
        wider = [variant_table(t, token_type, True) for t in tables]
        cpu = time.process_time()
        jsonl = sum(len(_json_lines(rows, t)) for rows, t in zip(row_lists, wider))
        figures[f"jsonl {label}"] = (jsonl, time.process_time() - cpu)
        sink = io.BytesIO()
        cpu = time.process_time()
        with pa.ipc.new_stream(sink, wider[0].schema) as arrow:
            for t in wider:
                arrow.write_table(t, max_chunksize=1000)
        figures[f"arrow {label}"] = (sink.tell(), time.process_time() - cpu)
    print(f"{results['rows']} rows, {tokens:,} tokens; text {results['text_bytes_per_token']:.2f} bytes/token a column")
    print(f"{'format':34} {'bytes/token':>11} {'MB':>8} {'write CPU s/M tokens':>20}")
    for name, (size, cpu) in figures.items():
        print(f"{name:34} {size / tokens:11.2f} {size / 1e6:8.1f} {cpu / tokens * 1e6:20.3f}")
    results["formats"] = {k: {"bytes": s, "bytes_per_token": s / tokens, "cpu_s": c} for k, (s, c) in figures.items()}
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
