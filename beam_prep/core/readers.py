"""Decode input files into RawRecords: .jsonl, .json, .parquet, each optionally .gz.

Pure functions over an open binary file object, so they are tested without Beam or a filesystem.
Nothing raises out of `iter_records`: a record that cannot be decoded becomes a RawRecord with an
error (invalid_utf8, invalid_json), and a file that breaks part-way (a torn gzip, a JSON array cut
off, a damaged parquet row group) yields what could be read, then one RawRecord with
error="unreadable_file" for each part it could not read. An empty file yields nothing.

A .json file holds one array of records; a .json file that does not start with `[` is read as
JSON values one after another (one object, or JSON lines), as `datasets.load_dataset("json")` does.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from typing import BinaryIO

from beam_prep.core.records import RawRecord

EXCERPT_CHARS = 300
SUFFIXES = (".jsonl", ".json", ".parquet")
BOM = "\ufeff"
_WS = " \t\r\n"


def excerpt(raw: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """A bounded, printable excerpt of a raw record for the rejects output."""
    if isinstance(raw, bytes):
        raw = raw[: limit * 4].decode("utf-8", errors="replace")
    raw = raw[: limit + 1].encode("utf-8", errors="replace").decode("utf-8")  # lone surrogates -> '?'
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
    first_unread = 1 if kind == "jsonl" else 0  # jsonl lines are 1-based, array/row indices 0-based
    try:
        stream: BinaryIO = gzip.GzipFile(fileobj=fileobj, mode="rb") if gz else fileobj
        if kind == "jsonl":
            records = _jsonl(source, stream)
        elif kind == "json":
            records = _json_file(source, stream.read())
        else:
            records = _parquet(source, stream if not gz else io.BytesIO(stream.read()))
        for record in records:
            first_unread = record.line + 1
            yield record
    except Exception as exc:  # torn compression, garbage, I/O errors: keep what was read, report the rest
        yield unreadable(source, first_unread, exc)


def unreadable(source: str, line: int, exc: BaseException | str) -> RawRecord:
    """The record that reports an unreadable file or part of a file: the error in the excerpt."""
    message = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return RawRecord(source, line, error="unreadable_file", excerpt=excerpt(message))


def decode_line(source: str, line_no: int, raw: bytes) -> RawRecord:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return RawRecord(source, line_no, error="invalid_utf8", excerpt=excerpt(raw))
    try:
        return RawRecord(source, line_no, value=json.loads(text))
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return RawRecord(source, line_no, error="invalid_json", excerpt=excerpt(text))


def _jsonl(source: str, stream: BinaryIO) -> Iterator[RawRecord]:
    for line_no, raw in enumerate(stream, start=1):
        if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
            raw = raw[3:]
        if raw.strip():
            yield decode_line(source, line_no, raw)


def _json_file(source: str, data: bytes) -> Iterator[RawRecord]:
    try:
        text, lossy = data.decode("utf-8"), False
    except UnicodeDecodeError:
        # Keep the records that are valid UTF-8; undecodable bytes become lone surrogates that
        # mark their record invalid_utf8 (or, outside any string, make the rest unreadable).
        text, lossy = data.decode("utf-8", errors="surrogateescape"), True
    pos = _skip_ws(text, 1 if text.startswith(BOM) else 0)
    if pos == len(text):
        return  # an empty file holds no records
    if text[pos] == "[":
        yield from _json_array(source, text, pos + 1, lossy)
    else:
        yield from _json_values(source, text, pos, lossy)


def _json_array(source: str, text: str, pos: int, lossy: bool) -> Iterator[RawRecord]:
    """Elements of a top-level JSON array, decoded one by one so a cut-off array keeps its head."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, pos)
    index = 0
    if pos < len(text) and text[pos] == "]":
        return
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            yield RawRecord(source, index, error="unreadable_file", excerpt=excerpt(f"{exc}: {text[pos:]}"))
            return
        yield _element(source, index, value, text[pos:end], lossy)
        index += 1
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            break
    yield RawRecord(source, index, error="unreadable_file", excerpt=excerpt(f"JSON array is not closed: {text[pos:]}"))


def _json_values(source: str, text: str, pos: int, lossy: bool) -> Iterator[RawRecord]:
    """JSON values one after another (one object, or JSON lines); `line` is where each starts.

    A value that does not decode is reported as invalid_json up to the end of its line, and
    reading resumes on the next line, as for a .jsonl file.
    """
    decoder = json.JSONDecoder()
    line = 1 + text.count("\n", 0, pos)
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            reason = "invalid_utf8" if lossy and _has_bad_bytes(text[pos:end]) else "invalid_json"
            yield RawRecord(source, line, error=reason, excerpt=excerpt(text[pos:end]))
        else:
            yield _element(source, line, value, text[pos:end], lossy)
        nxt = _skip_ws(text, end)
        line += text.count("\n", pos, nxt)
        pos = nxt


def _element(source: str, index: int, value, raw: str, lossy: bool) -> RawRecord:
    if lossy and _has_bad_bytes(raw):
        return RawRecord(source, index, error="invalid_utf8", excerpt=excerpt(raw))
    return RawRecord(source, index, value=value)


def _has_bad_bytes(text: str) -> bool:
    """Whether surrogateescape decoding put an undecodable byte (U+DC80..U+DCFF) in `text`."""
    return any("\udc80" <= c <= "\udcff" for c in text)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _parquet(source: str, stream: BinaryIO) -> Iterator[RawRecord]:
    """Rows of a parquet file, row group by row group: a damaged row group is reported and skipped."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(stream)  # no footer (truncated, garbage): the caller reports the file
    index = 0
    for group in range(parquet.num_row_groups):
        start, rows = index, parquet.metadata.row_group(group).num_rows
        try:
            for batch in parquet.iter_batches(1024, row_groups=[group]):
                for value in batch.to_pylist():
                    yield RawRecord(source, index, value=value)
                    index += 1
        except Exception as exc:  # pyarrow raises OSError, ArrowInvalid and friends for damaged pages
            yield unreadable(source, index, f"row group {group} ({rows} rows): {type(exc).__name__}: {exc}")
            index = start + rows
