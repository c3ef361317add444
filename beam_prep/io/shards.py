"""Write one shard of rows as Parquet, JSON lines and a Hugging Face Arrow file, from one table."""

from __future__ import annotations

import json
from array import array

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from beam_prep.io.fs import url_to_fs

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("dialogue_id", pa.string()),
        ("turn_index", pa.int32()),
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("text", pa.string()),
        ("num_tokens", pa.int32()),
        ("context_turns", pa.int32()),
        ("dropped_turns", pa.int32()),
        ("input_ids", pa.list_(pa.int32())),
        ("labels", pa.list_(pa.int32())),
    ]
)
_TOKEN_COLUMNS = ("input_ids", "labels")


def rows_to_table(rows: list[dict]) -> pa.Table:
    """A table of SCHEMA; token columns may be array('i') and are converted without Python loops."""
    columns = {}
    for field in SCHEMA:
        name = field.name
        if name in _TOKEN_COLUMNS:
            values = [r[name] for r in rows]
            offsets = array("i", [0])
            flat = array("i")
            for v in values:
                flat.extend(v)
                offsets.append(len(flat))
            # Through numpy: pyarrow reads the array's buffer at once instead of element by element.
            columns[name] = pa.ListArray.from_arrays(
                pa.array(np.frombuffer(offsets, dtype=np.int32)),
                pa.array(np.frombuffer(flat, dtype=np.int32)),
                type=field.type,
            )
        else:
            columns[name] = pa.array([r[name] for r in rows], field.type)
    return pa.table(columns, schema=SCHEMA)


def write_parquet(table: pa.Table, url: str) -> None:
    fs, path = url_to_fs(url)
    with fs.open(path, "wb") as f:
        pq.write_table(table, f, compression="zstd", row_group_size=4096)


def write_jsonl(rows_or_table, url: str) -> None:
    fs, path = url_to_fs(url)
    rows = rows_or_table.to_pylist() if isinstance(rows_or_table, pa.Table) else rows_or_table
    with fs.open(path, "wb") as f:
        for row in rows:
            f.write(json.dumps(_plain(row), ensure_ascii=False).encode("utf-8") + b"\n")


def _plain(row: dict) -> dict:
    return {k: (list(v) if isinstance(v, array) else v) for k, v in row.items()}


def write_arrow(table: pa.Table, url: str) -> None:
    """An Arrow stream file as `datasets.Dataset.save_to_disk` writes it (schema with HF features)."""
    fs, path = url_to_fs(url)
    schema = table.schema.with_metadata({"huggingface": json.dumps({"info": {"features": hf_features().to_dict()}})})
    with fs.open(path, "wb") as f, pa.ipc.new_stream(f, schema) as writer:
        writer.write_table(table.replace_schema_metadata(schema.metadata), max_chunksize=1000)


def hf_features():
    from datasets import Features

    return Features.from_arrow_schema(SCHEMA)
