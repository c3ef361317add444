"""Decode input files into RawRecords: .jsonl, .json (one array), .parquet, each optionally .gz.

Pure functions over an open binary file object, so they are tested without Beam or a filesystem.
A file that breaks part-way (a torn gzip, a JSON array cut off) yields what could be read and then
one RawRecord with error="unreadable_file"; nothing raises out of `iter_records`.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from beam_prep.core.records import RawRecord

EXCERPT_CHARS = 300
SUFFIXES = (".jsonl", ".json", ".parquet")


def excerpt(raw: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """A bounded, printable excerpt of a raw record for the rejects output."""
    if isinstance(raw, bytes):
        raw = raw[: limit * 4].decode("utf-8", errors="replace")
    return raw[:limit] + ("..." if len(raw) > limit else "")


def file_kind(path: str) -> tuple[str, bool]:
    """('jsonl' | 'json' | 'parquet', gzipped) from a file name; ValueError for anything else."""
    name = path.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix[1:], gz
    raise ValueError(f"unsupported input file {path!r}: expected one of {', '.join(SUFFIXES)} (optionally .gz)")


def iter_records(source: str, kind: str, gz: bool, fileobj: BinaryIO) -> Iterator[RawRecord]:
    """Every record of one file, in order; decoding errors become RawRecords with an error."""
    stream: BinaryIO = gzip.GzipFile(fileobj=fileobj, mode="rb") if gz else fileobj
    try:
        if kind == "jsonl":
            yield from _jsonl(source, stream)
        elif kind == "json":
            yield from _json_array(source, stream.read())
        else:
            yield from _parquet(source, stream if not gz else io.BytesIO(stream.read()))
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        # Torn compression, truncated parquet, I/O errors: keep what was read, report the rest.
        yield RawRecord(source, 0, error="unreadable_file", excerpt=f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])


def decode_line(source: str, line_no: int, raw: bytes) -> RawRecord:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return RawRecord(source, line_no, error="invalid_utf8", excerpt=excerpt(raw))
    try:
        return RawRecord(source, line_no, value=json.loads(text))
    except ValueError:
        return RawRecord(source, line_no, error="invalid_json", excerpt=excerpt(text))


def _jsonl(source: str, stream: BinaryIO) -> Iterator[RawRecord]:
    for line_no, raw in enumerate(stream, start=1):
        if raw.strip():
            yield decode_line(source, line_no, raw)


def _json_array(source: str, data: bytes) -> Iterator[RawRecord]:
    """Elements of a top-level JSON array, decoded one by one so a cut-off array keeps its head."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield RawRecord(source, 0, error="invalid_utf8", excerpt=excerpt(data))
        return
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos == len(text):
        return  # an empty file holds no records
    if text[pos] != "[":
        yield RawRecord(source, 0, error="invalid_json", excerpt=excerpt(text[pos:]))
        return
    pos = _skip_ws(text, pos + 1)
    index = 0
    if pos < len(text) and text[pos] == "]":
        return
    while pos < len(text):
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            yield RawRecord(source, index, error="unreadable_file", excerpt=excerpt(text[pos:]))
            return
        yield RawRecord(source, index, value=value)
        index += 1
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            break
    yield RawRecord(source, index, error="unreadable_file", excerpt="JSON array is not closed")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _parquet(source: str, stream: BinaryIO) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends for garbage
        yield RawRecord(source, 0, error="unreadable_file", excerpt=f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])
        return
    index = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield RawRecord(source, index, value=row)
            index += 1
