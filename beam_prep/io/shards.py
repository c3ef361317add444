"""Write shards of rows as Parquet, JSON lines and Hugging Face Arrow files, table by table."""

from __future__ import annotations

import atexit
import functools
import json
import weakref
from array import array

import numpy as np
import orjson
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
# Chosen by measurement (benchmarks/sizes.py, benchmarks/README.md): zstd level 3 without dictionary
# encoding is 1.39 bytes per output token against 1.84 for level 1 with dictionaries, at the same CPU;
# repeated memory text across rows is what compresses.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "use_dictionary": False}


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


class ShardFiles:
    """One shard in all three formats, written table by table: Parquet (one or more row groups per
    table), JSON lines, and an Arrow stream file as `datasets.Dataset.save_to_disk` writes it (schema
    with the HF features). Files open on the first table, so a shard that gets no rows writes nothing
    unless closed with `close(empty_ok=True)`."""

    ROW_GROUP_ROWS = 4096

    def __init__(self, urls: dict[str, str]):
        self._urls, self._files, self._writers = urls, [], None
        self.rows = self.tokens = 0

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        try:
            table = rows_to_table(rows)
            parquet, jsonl, arrow = self._writers or self._open()
            parquet.write_table(table, row_group_size=self.ROW_GROUP_ROWS)
            jsonl.write(_json_lines(rows, table))
            arrow.write_table(table.replace_schema_metadata(_arrow_schema().metadata), max_chunksize=1000)
        except BaseException:
            self.abort()
            raise
        self.rows += len(rows)
        self.tokens += sum(r["num_tokens"] for r in rows)

    def close(self, empty_ok: bool = False) -> None:
        """Finish every file; if one fails, the others are still finished, then the error is raised."""
        if self._writers is None and empty_ok:
            self._open()
        writers = [self._writers[0], self._writers[2]] if self._writers else []
        files, self._files, self._writers = self._files, [], ()
        _UNFINISHED.discard(self)
        error = None
        for step in [w.close for w in writers] + [f.close for f in reversed(files)]:
            try:
                step()
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def abort(self) -> None:
        """Drop the files without finishing them: an object store's pending upload is discarded, so
        no file is left for a finalizer to upload later (at interpreter exit that can hang)."""
        if self._writers:
            self._writers[0].is_open = False  # else its finalizer writes a footer to the dropped file
        files, self._files, self._writers = self._files, [], ()
        _UNFINISHED.discard(self)
        for f in files:
            try:
                if hasattr(f, "discard") and hasattr(f, "buffer"):  # fsspec's buffered remote file
                    f.discard()
                    f.closed = True
                else:
                    f.close()
            except Exception:  # already failing: the first error is the one to report
                pass

    def _open(self):
        _UNFINISHED.add(self)
        handles = {}
        for fmt in ("parquet", "jsonl", "arrow"):
            fs, path = url_to_fs(self._urls[fmt])
            handles[fmt] = fs.open(path, "wb")
            self._files.append(handles[fmt])
        self._writers = (
            pq.ParquetWriter(handles["parquet"], SCHEMA, **PARQUET_OPTIONS),
            handles["jsonl"],
            pa.ipc.new_stream(handles["arrow"], _arrow_schema()),
        )
        return self._writers


_UNFINISHED: weakref.WeakSet[ShardFiles] = weakref.WeakSet()


@atexit.register
def _abort_unfinished() -> None:
    """A worker that exits with shards open (its bundle failed in another step) drops them, instead
    of letting the files' finalizers try an upload while the interpreter shuts down."""
    for shard in list(_UNFINISHED):
        shard.abort()


def write_jsonl(rows: list[dict], url: str) -> None:
    fs, path = url_to_fs(url)
    with fs.open(path, "wb") as f:
        for row in rows:
            f.write(_json_line(row))


def _json_lines(rows: list[dict], table: pa.Table) -> bytes:
    """JSON lines of the table's columns, in its column order: what `json.loads` reads back is the
    row. Token lists are serialised straight from the table's int buffers (no Python ints), the
    text columns from the rows' own strings (no second UTF-8 decoding); orjson writes compact JSON."""
    columns = []
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_list(field.type):
            column = column.combine_chunks()
            flat = column.values.to_numpy(zero_copy_only=False)
            offsets = column.offsets.to_numpy()
            columns.append(np.split(flat[offsets[0] : offsets[-1]], offsets[1:-1] - offsets[0]))
        elif field.name in rows[0]:
            columns.append([r[field.name] for r in rows])
        else:
            columns.append(column.to_pylist())
    names, dumps, numpy = table.schema.names, orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    lines = [dumps(dict(zip(names, values)), option=numpy) for values in zip(*columns)]
    lines.append(b"")
    return b"\n".join(lines)


def _json_line(row: dict) -> bytes:
    plain = {k: (v.tolist() if isinstance(v, array) else v) for k, v in row.items()}
    return json.dumps(plain, ensure_ascii=False).encode("utf-8") + b"\n"


@functools.cache
def _arrow_schema() -> pa.Schema:
    return SCHEMA.with_metadata({"huggingface": json.dumps({"info": {"features": hf_features().to_dict()}})})


def hf_features():
    from datasets import Features

    return Features.from_arrow_schema(SCHEMA)
