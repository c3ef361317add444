"""Write shards of rows as Parquet, JSON lines and Hugging Face Arrow files, table by table."""

from __future__ import annotations

import atexit
import functools
import json
import os
import weakref
from array import array

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileOpener

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
        # The types `datasets` gives a tokenizer's output (arrow_writer.OptimizedTypedSequence:
        # input_ids int32, attention_mask int8, any other int list int64), so the dataset
        # concatenates with one tokenized by `datasets.map` without a cast.
        ("input_ids", pa.list_(pa.int32())),
        ("labels", pa.list_(pa.int64())),
        ("attention_mask", pa.list_(pa.int8())),
    ]
)
# --packing: one row holds several examples (core/pack.py); seq_lengths are their lengths.
PACKED_SCHEMA = pa.schema(
    [
        ("id", pa.list_(pa.string())),
        ("dialogue_id", pa.list_(pa.string())),
        ("turn_index", pa.list_(pa.int32())),
        ("num_tokens", pa.int32()),
        ("seq_lengths", pa.list_(pa.int32())),
        *((f.name, f.type) for f in SCHEMA if f.name in ("input_ids", "labels", "attention_mask")),
    ]
)
_TOKEN_COLUMNS = ("input_ids", "labels", "attention_mask")
_DERIVED = {"attention_mask": "input_ids"}  # built in the table from this column's offsets, not in rows
# Chosen by measurement (benchmarks/sizes.py, benchmarks/README.md): zstd level 3 without dictionary
# encoding is 1.39 bytes per output token against 1.84 for level 1 with dictionaries, at the same CPU;
# repeated memory text across rows is what compresses.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "use_dictionary": False}


def schema_for(packed: bool) -> pa.Schema:
    return PACKED_SCHEMA if packed else SCHEMA


def rows_to_table(rows: list[dict], schema: pa.Schema = SCHEMA) -> pa.Table:
    """A table of SCHEMA; token columns may be array('i') and are converted without Python loops.

    `attention_mask` (all ones, what axolotl's pre-tokenized path and collators expect) is not in
    the rows: it shares `input_ids`' offsets."""
    columns = {}
    for field in schema:
        name = field.name
        if name in _DERIVED:
            source = columns[_DERIVED[name]]
            ones = pa.array(np.ones(len(source.values), dtype=field.type.value_type.to_pandas_dtype()))
            columns[name] = pa.ListArray.from_arrays(source.offsets, ones, type=field.type)
        elif name in _TOKEN_COLUMNS:
            values = [r[name] for r in rows]
            offsets = array("i", [0])
            flat = array("i")
            for v in values:
                flat.extend(v)
                offsets.append(len(flat))
            # Through numpy: pyarrow reads the array's buffer at once instead of element by element.
            dtype = field.type.value_type.to_pandas_dtype()
            columns[name] = pa.ListArray.from_arrays(
                pa.array(np.frombuffer(offsets, dtype=np.int32)),
                pa.array(np.frombuffer(flat, dtype=np.int32).astype(dtype, copy=False)),
                type=field.type,
            )
        else:
            columns[name] = pa.array([r[name] for r in rows], field.type)
    return pa.table(columns, schema=schema)


class RowsRefused(ValueError):
    """Rows that cannot be encoded (Arrow refuses a value): nothing of them was written."""


def encode_rows(rows: list[dict], schema: pa.Schema = SCHEMA) -> tuple[pa.Table, bytes]:
    """The table and the JSON lines of `rows`; RowsRefused if a row cannot be encoded."""
    try:
        table = rows_to_table(rows, schema)
        return table, _json_lines(rows, table)
    except Exception as exc:
        raise RowsRefused(f"{type(exc).__name__}: {exc}") from exc


class ShardFiles:
    """One shard in all three formats, written table by table: Parquet (one or more row groups per
    table), JSON lines, and an Arrow stream file as `datasets.Dataset.save_to_disk` writes it (schema
    with the HF features). Files open on the first table, so a shard that gets no rows writes nothing
    unless closed with `close(empty_ok=True)`."""

    ROW_GROUP_ROWS = 4096

    def __init__(self, urls: dict[str, str], schema: pa.Schema = SCHEMA):
        self._urls, self._files, self._writers, self.schema = urls, [], None, schema
        self.rows = self.tokens = 0

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        table, lines = encode_rows(rows, self.schema)  # before the files: rows refused leave them as they were
        self.write_table(table, lines)

    def write_table(self, table: pa.Table, lines: bytes) -> None:
        """A table of this schema and its JSON lines, already encoded (written again when small
        shards are merged, pipeline/compact.py)."""
        if not table.num_rows:
            return
        try:
            parquet, jsonl, arrow = self._writers or self._open()
            parquet.write_table(table, row_group_size=self.ROW_GROUP_ROWS)
            jsonl.write(lines)
            metadata = _arrow_schema(self.schema is PACKED_SCHEMA).metadata
            arrow.write_table(table.replace_schema_metadata(metadata), max_chunksize=1000)
        except BaseException:
            self.abort()
            raise
        self.rows += table.num_rows
        self.tokens += pc.sum(table.column("num_tokens")).as_py()

    def close(self, empty_ok: bool = False) -> None:
        """Finish every file; if one fails, the others are still finished, then the error is raised."""
        if self._writers is None and empty_ok:
            self._open()
        writers = [self._writers[0], self._writers[2]] if self._writers else []
        files, self._files, self._writers = self._files, [], ()
        _UNFINISHED.discard(self)
        error = None
        steps = [w.close for w in writers]
        for f in reversed(files):
            steps += [functools.partial(_settle_local, f), f.close]
        for step in steps:
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
            pq.ParquetWriter(handles["parquet"], self.schema, **PARQUET_OPTIONS),
            handles["jsonl"],
            pa.ipc.new_stream(handles["arrow"], _arrow_schema(self.schema is PACKED_SCHEMA)),
        )
        return self._writers


_UNFINISHED: weakref.WeakSet[ShardFiles] = weakref.WeakSet()


def _settle_local(f) -> None:
    """A finished local file: on disk before io/commit.py renames it into place, and its pages
    handed back from the page cache, which nothing in the run reads again. New page-cache pages are
    what a VM charges most for: 1.56 GiB written in 100 MB files cost about 5 s of system CPU, and
    0.6 s with each file synced and dropped once done (benchmarks/README.md run 10). Files in a
    bucket have no local pages: nothing to do."""
    if not isinstance(f, LocalFileOpener) or f.closed:
        return
    f.flush()
    fd = f.fileno()
    getattr(os, "fdatasync", os.fsync)(fd)
    if hasattr(os, "posix_fadvise"):  # Linux; elsewhere the kernel keeps the pages as before
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


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
        if pa.types.is_list(field.type) and pa.types.is_integer(field.type.value_type):
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
    for name, source in _DERIVED.items():
        if source in plain:
            plain[name] = [1] * len(plain[source])
    return json.dumps(plain, ensure_ascii=False).encode("utf-8") + b"\n"


@functools.cache
def _arrow_schema(packed: bool = False) -> pa.Schema:
    features = hf_features(packed).to_dict()
    return schema_for(packed).with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def hf_features(packed: bool = False):
    from datasets import Features

    return Features.from_arrow_schema(schema_for(packed))
