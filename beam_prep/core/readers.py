"""Decode input files into RawRecords: .jsonl, .json, .parquet, each optionally .gz.

Pure functions over an open binary file object, so they are tested without Beam or a filesystem.
Nothing raises out of `iter_records`: a record that cannot be decoded becomes a RawRecord with an
error (invalid_utf8, invalid_json), and a file that breaks part-way (a torn gzip, a JSON array cut
off, a damaged parquet row group) yields what could be read, then one RawRecord with
error="unreadable_file" for each part it could not read. An empty file yields nothing.

A byte order mark is skipped wherever a record may start (the start of any line, between the
values of a .json file), as files concatenated with `cat` carry one at each join. Binary columns of a
Parquet file are decoded as UTF-8 (a value that is not UTF-8 is an invalid_utf8 record).

A line (a .json value) longer than `max_record_bytes` (characters for .json) is a record_too_large
record without being decoded or held whole: a reader holds at most that much of one line.

A .json file holds one array of records; a .json file that does not start with `[` is read as
JSON values one after another (one object, or JSON lines), as `datasets.load_dataset("json")` does.

A big file is read as several Parts, each by a different worker, with exactly the records of the
whole file: `plan_parts` cuts a .jsonl file (gzipped or not) at line starts every `chunk_bytes` of
decompressed text and a plain .parquet file between row groups; `iter_records(..., part)` reads one.
A .json file, a gzipped .parquet file and a small file are one part, WHOLE.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from beam_prep.core.records import RawRecord

EXCERPT_CHARS = 300
SUFFIXES = (".jsonl", ".json", ".parquet")
BOM = "\ufeff"
_BOM_BYTES = BOM.encode("utf-8")
_WS = " \t\r\n" + BOM
_BLOCK = 1 << 20  # bytes asked of one read while scanning or reading JSON lines
_HEAD_BYTES = 4 * EXCERPT_CHARS  # what is kept of a line over the size cap, for its excerpt


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of one input file that one worker reads; Part() (WHOLE) is the whole file of any kind.

    jsonl: the lines that start in [start, end) of the decompressed bytes, `first` the number of the
    first one (1-based, blank lines counted). parquet: row groups start..end-1, `first` the index of
    their first row. end None: to the end of the file; first None: the start of the file (1 or 0).
    """

    start: int = 0
    end: int | None = None
    first: int | None = None


WHOLE = Part()


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


def plan_parts(kind: str, gz: bool, fileobj: BinaryIO, size: int, chunk_bytes: int) -> list[Part]:
    """The parts of one file (`size` bytes as stored) for workers to read, in order, covering it once.

    Never raises: a file that cannot be planned (torn, unreadable footer) is left to the reader of
    its last part, which reports it as reading it whole would.
    """
    if kind == "jsonl" and size > (chunk_bytes // 4 if gz else chunk_bytes):
        stream = gzip.GzipFile(fileobj=fileobj, mode="rb") if gz else fileobj
        return _jsonl_parts(_reader(stream, gz), chunk_bytes)
    if kind == "parquet" and not gz and size > chunk_bytes:
        try:
            return _parquet_parts(fileobj, chunk_bytes)
        except Exception:  # no footer: the reader reports the file
            return [WHOLE]
    return [WHOLE]


def iter_records(
    source: str, kind: str, gz: bool, fileobj: BinaryIO, part: Part = WHOLE, max_record_bytes: int = 0
) -> Iterator[RawRecord]:
    """Every record of one file (or of one part of it), in order; decoding errors become RawRecords
    with an error. `max_record_bytes` (0: no limit) caps one line or .json value."""
    if kind == "json" and part != WHOLE:
        raise ValueError(f"a .json file is read whole, not as {part}")
    first_unread = part.first if part.first is not None else 1 if kind == "jsonl" else 0  # lines 1-based, rows 0-based
    try:
        stream: BinaryIO = gzip.GzipFile(fileobj=fileobj, mode="rb") if gz else fileobj
        if kind == "jsonl":
            if part.start and not gz:
                stream.seek(part.start)
            skip = part.start if gz else 0  # a gzip stream is read from its start, as plan_parts read it
            limit = None if part.end is None else part.end - part.start
            lines = _lines(_reader(stream, gz), skip, limit, max_record_bytes)
            records = _jsonl(source, lines, first_unread, max_record_bytes)
        elif kind == "json":
            records = _json_file(source, stream.read(), max_record_bytes)
        else:
            records = _parquet(source, stream if not gz else io.BytesIO(stream.read()), part)
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


def _reader(stream: BinaryIO, gz: bool) -> Callable[[int], bytes]:
    # read1 on gzip: every byte decompressed before a tear, and the same reads for planner and readers
    return stream.read1 if gz else stream.read


def too_large(source: str, line: int, size: int, cap: int, head: bytes | str) -> RawRecord:
    """The record that reports a line (a .json value) over the size cap, with its first characters."""
    detail = f"{size:,} bytes, over the cap of {cap:,} (--max_record_mb)"
    return RawRecord(source, line, error="record_too_large", excerpt=excerpt(head), detail=detail)


@dataclass(frozen=True, slots=True)
class _Oversize:
    """A line over the cap, as _lines yields it: its size and first bytes, never the whole."""

    size: int
    head: bytes


def _jsonl(source: str, lines: Iterator[bytes | _Oversize], line_no: int, cap: int = 0) -> Iterator[RawRecord]:
    """Records of JSON lines numbered from `line_no`. If the stream breaks: one unreadable_file
    record from the first line not read (blank lines count), after the records read."""
    try:
        for raw in lines:
            if isinstance(raw, _Oversize):
                yield too_large(source, line_no, raw.size, cap, raw.head)
                line_no += 1
                continue
            while raw.startswith(_BOM_BYTES):  # a byte order mark: at the start, or where files were joined
                raw = raw[len(_BOM_BYTES) :]
            if raw.strip():
                yield decode_line(source, line_no, raw)
            line_no += 1
    except Exception as exc:
        yield unreadable(source, line_no, exc)


def _lines(read: Callable[[int], bytes], skip: int, limit: int | None, cap: int = 0) -> Iterator[bytes | _Oversize]:
    """The lines (each with its b"\\n", the last maybe without) that start within `limit` bytes after
    the first `skip` bytes read. Reads no block after the one that ends the last line, so the reader
    of a part never reads into the next part (nor into a tear after it). A line longer than `cap`
    bytes (0: no cap) is an _Oversize: its bytes past the first few are dropped as they are read."""
    at, head, held = 0, [], 0  # offset from `skip` of the next line; its bytes in earlier blocks, their size
    while limit is None or at < limit:
        block = read(_BLOCK)
        if not block:
            break
        if skip:
            block, skip = block[skip:], max(skip - len(block), 0)
        *lines, rest = block.split(b"\n")
        for k, line in enumerate(lines):
            if limit is not None and at >= limit:
                return
            size = len(line) + 1 + (held if k == 0 else 0)
            if k == 0 and head:
                line, head, held = b"".join([*head, line]), [], 0
            at += size
            yield _Oversize(size - 1, line[:_HEAD_BYTES]) if cap and size - 1 > cap else line + b"\n"
        if rest:
            held += len(rest)
            head.append(rest)
            if cap and held > cap:  # keep its first bytes for the excerpt, count the rest
                head = [b"".join(head)[:_HEAD_BYTES]]
    if head and (limit is None or at < limit):
        yield _Oversize(held, head[0][:_HEAD_BYTES]) if cap and held > cap else b"".join(head)


def _jsonl_parts(read: Callable[[int], bytes], chunk_bytes: int) -> list[Part]:
    """Cut at the first line start at or after every `chunk_bytes` since the previous cut, in one scan."""
    parts = [Part(0, None, 1)]
    pos, line = 0, 1  # offset of the next block; number of the line it is in
    try:
        while block := read(_BLOCK):
            counted = 0  # the newlines of block[:counted] are in `line`
            while (nl := block.find(b"\n", max(parts[-1].start + chunk_bytes - 1 - pos, counted))) >= 0:
                line += block.count(b"\n", counted, nl + 1)
                counted = nl + 1
                parts.append(Part(pos + counted, None, line))
            line += block.count(b"\n", counted)
            pos += len(block)
    except Exception:  # torn: the parts so far, the last one open-ended, whose reader reports it
        pass
    if parts[-1].start == pos:
        parts.pop()  # a cut at the very end: no line after it
    if len(parts) <= 1:
        return [WHOLE]
    return [replace(part, end=after.start) for part, after in zip(parts, parts[1:])] + parts[-1:]


def _json_file(source: str, data: bytes, cap: int = 0) -> Iterator[RawRecord]:
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
        yield from _json_array(source, text, pos + 1, lossy, cap)
    else:
        yield from _json_values(source, text, pos, lossy, cap)


def _json_array(source: str, text: str, pos: int, lossy: bool, cap: int = 0) -> Iterator[RawRecord]:
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
        yield _element(source, index, value, text, pos, end, lossy, cap)
        index += 1
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            break
    yield RawRecord(source, index, error="unreadable_file", excerpt=excerpt(f"JSON array is not closed: {text[pos:]}"))


def _json_values(source: str, text: str, pos: int, lossy: bool, cap: int = 0) -> Iterator[RawRecord]:
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
            yield _element(source, line, value, text, pos, end, lossy, cap)
        nxt = _skip_ws(text, end)
        line += text.count("\n", pos, nxt)
        pos = nxt


def _element(source: str, index: int, value, text: str, pos: int, end: int, lossy: bool, cap: int) -> RawRecord:
    """The record of the value decoded from text[pos:end]."""
    if cap and end - pos > cap:
        return too_large(source, index, end - pos, cap, text[pos : pos + EXCERPT_CHARS + 1])
    if lossy and _has_bad_bytes(text[pos:end]):
        return RawRecord(source, index, error="invalid_utf8", excerpt=excerpt(text[pos:end]))
    return RawRecord(source, index, value=value)


def _has_bad_bytes(text: str) -> bool:
    """Whether surrogateescape decoding put an undecodable byte (U+DC80..U+DCFF) in `text`."""
    return any("\udc80" <= c <= "\udcff" for c in text)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _parquet_parts(fileobj: BinaryIO, chunk_bytes: int) -> list[Part]:
    """Consecutive row groups, about `chunk_bytes` of uncompressed data (at least one group) a part."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(fileobj).metadata
    parts, start, first, rows, size = [], 0, 0, 0, 0
    for group in range(metadata.num_row_groups):
        size += metadata.row_group(group).total_byte_size
        rows += metadata.row_group(group).num_rows
        if size >= chunk_bytes or group == metadata.num_row_groups - 1:
            parts.append(Part(start, group + 1, first))
            start, first, size = group + 1, rows, 0
    if len(parts) <= 1:
        return [WHOLE]
    return parts[:-1] + [replace(parts[-1], end=None)]


def _parquet(source: str, stream: BinaryIO, part: Part = WHOLE) -> Iterator[RawRecord]:
    """Rows of a parquet file, row group by row group: a damaged row group is reported and skipped."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(stream)  # no footer (truncated, garbage): the caller reports the file
    binary = _has_binary(parquet.schema_arrow)
    index = part.first or 0
    for group in range(part.start, parquet.num_row_groups if part.end is None else part.end):
        start, rows = index, parquet.metadata.row_group(group).num_rows
        try:
            for batch in parquet.iter_batches(1024, row_groups=[group]):
                for value in batch.to_pylist():
                    yield _decoded(source, index, value) if binary else RawRecord(source, index, value=value)
                    index += 1
        except Exception as exc:  # pyarrow raises OSError, ArrowInvalid and friends for damaged pages
            yield unreadable(source, index, f"row group {group} ({rows} rows): {type(exc).__name__}: {exc}")
            index = start + rows


def _has_binary(schema) -> bool:
    """Whether a column holds binary values at any depth (lists, structs, maps)."""
    import pyarrow as pa

    def binary(t) -> bool:
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            return True
        return any(binary(t.field(i).type) for i in range(t.num_fields))

    return any(binary(field.type) for field in schema)


def _decoded(source: str, index: int, value) -> RawRecord:
    """A row whose binary values are decoded as UTF-8 text, or an invalid_utf8 record."""
    try:
        return RawRecord(source, index, value=_utf8(value))
    except UnicodeDecodeError as exc:
        return RawRecord(source, index, error="invalid_utf8", excerpt=excerpt(exc.object), detail="a binary column")


def _utf8(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {k: _utf8(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_utf8(v) for v in value]
    return value
