"""A file read as parts (plan_parts, then iter_records per part) gives exactly the records of reading it whole."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beam_prep.core import readers
from beam_prep.core.readers import WHOLE, Part, decode_line, iter_records, plan_parts

MALFORMED = Path(__file__).parents[1] / "fixtures" / "malformed" / "data"
DIALOGUE = {"id": "a", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
GOOD = json.dumps(DIALOGUE).encode()
CHUNKS = [1, 7, 100, 10**9]


def jsonl_file(n: int = 40) -> bytes:
    """A BOM, blank and whitespace lines, CRLF, invalid UTF-8 and JSON, a line longer than any small chunk."""
    lines = [b"\xef\xbb\xbf" + GOOD, b"", b"  \t", GOOD + b"\r", b"\xff\xfe", b"{not json", b"[1, 2]"]
    lines += [json.dumps({**DIALOGUE, "id": f"d{i}", "pad": "x" * (i * 37 % 300)}).encode() for i in range(n)]
    lines += [b"", json.dumps({**DIALOGUE, "long": "y" * 1000}).encode(), b"\r", b"\xef\xbb\xbf" + GOOD, b"", GOOD]
    return b"\n".join(lines)  # the last line without a newline


JSONL_FILES = {
    "mixed": jsonl_file(),
    "mixed_newline_at_end": jsonl_file() + b"\n",
    "blank_lines_at_end": jsonl_file() + b"\n\n \n\n",
    "bom_only_first_line": b"\xef\xbb\xbf\n" + GOOD + b"\n\n" + GOOD,
    "one_long_line": json.dumps({**DIALOGUE, "long": "z" * 500}).encode() + b"\n",
    "only_blank_lines": b"\n" * 30,
    "empty": b"",
}


def read_parts(kind: str, gz: bool, data: bytes, chunk_bytes: int) -> tuple[list[Part], list, list]:
    """The plan, the records read part by part (a fresh file object each, as separate workers) and whole."""
    parts = plan_parts(kind, gz, io.BytesIO(data), len(data), chunk_bytes)
    by_parts = [record for part in parts for record in iter_records("f", kind, gz, io.BytesIO(data), part)]
    return parts, by_parts, list(iter_records("f", kind, gz, io.BytesIO(data)))


def assert_cover(parts: list[Part]) -> None:
    assert parts[0].start == 0 and parts[-1].end is None
    assert all(part.end == after.start for part, after in zip(parts, parts[1:]))
    assert all(part.start < part.end for part in parts[:-1])


def expected_cuts(text: bytes, chunk_bytes: int) -> list[tuple[int, int]]:
    """(offset, line number) of every cut, line by line: the first line start at or after every chunk_bytes."""
    cuts, offset = [(0, 1)], 0
    for line_no, line in enumerate(text.split(b"\n")[:-1], start=2):
        offset += len(line) + 1
        if offset < len(text) and offset >= cuts[-1][0] + chunk_bytes:
            cuts.append((offset, line_no))
    return cuts


def reference_jsonl(text: bytes) -> list:
    """What the reader did before parts: readline over the file (a BOM starting any line skipped)."""
    records = []
    for line_no, raw in enumerate(io.BytesIO(text), start=1):
        while raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.strip():
            records.append(decode_line("f", line_no, raw))
    return records


@pytest.mark.parametrize("block", [64, 1 << 20])
@pytest.mark.parametrize("chunk_bytes", CHUNKS)
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", JSONL_FILES)
def test_jsonl_parts_read_as_the_whole_file(name, gz, chunk_bytes, block):
    text = JSONL_FILES[name]
    data = gzip.compress(text, mtime=0) if gz else text
    with mock.patch.object(readers, "_BLOCK", block):  # small blocks: lines and cuts across block ends
        parts, by_parts, whole = read_parts("jsonl", gz, data, chunk_bytes)
    assert whole == reference_jsonl(text)
    assert by_parts == whole
    assert_cover(parts)
    if len(data) <= (chunk_bytes // 4 if gz else chunk_bytes):
        assert parts == [WHOLE]
    else:
        cuts = expected_cuts(text, chunk_bytes)
        assert [(part.start, part.first) for part in parts] == (cuts if len(cuts) > 1 else [(0, None)])


def test_big_jsonl_is_cut_every_chunk():
    pads = (hashlib.sha256(str(i).encode()).hexdigest() for i in range(12_000))  # does not compress away
    text = b"".join(json.dumps({**DIALOGUE, "pad": pad}).encode() + b"\n\n" for pad in pads)
    assert len(text) > 1 << 20 and len(gzip.compress(text)) > 200_000 // 4  # more than one block; gzip: parts
    for gz in (False, True):
        data = gzip.compress(text, mtime=0) if gz else text
        parts, by_parts, whole = read_parts("jsonl", gz, data, 200_000)
        assert len(parts) == -(-len(text) // 200_000) and by_parts == whole and len(whole) == 12_000
        assert [(p.start, p.first) for p in parts] == expected_cuts(text, 200_000)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.95])
@pytest.mark.parametrize("chunk_bytes", [7, 1000])
def test_torn_gzip_parts_report_the_tear_as_the_whole_file(cut, chunk_bytes):
    text = jsonl_file(60) + b"\n\n\n" + jsonl_file(60)
    gz = gzip.compress(text, mtime=0)
    data = gz[: int(len(gz) * cut)]
    with mock.patch.object(readers, "_BLOCK", 64):
        parts, by_parts, whole = read_parts("jsonl", True, data, chunk_bytes)
    assert whole[-1].error == "unreadable_file"
    assert by_parts == whole
    assert_cover(parts)
    if cut > 0.3:
        assert len(parts) > 1


def test_tear_after_blank_lines_is_reported_from_the_first_line_not_read():
    """The last part may hold only blank lines before the tear: it reports the line after them."""
    deflate = zlib.compressobj(wbits=31)  # gzip, flushed so the torn stream decompresses to exactly `head`
    head = GOOD + b"\n" + GOOD + b"\n\n \n\n"
    data = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH) + deflate.compress(GOOD * 50)[:3]
    parts, by_parts, whole = read_parts("jsonl", True, data, 1)
    assert [(r.line, r.error) for r in whole] == [(1, None), (2, None), (6, "unreadable_file")]
    assert [part.first for part in parts] == [1, 2, 3, 4, 5] and by_parts == whole


@pytest.mark.parametrize("offset", [0.2, 0.5, 0.8])
def test_corrupt_gzip_parts_report_the_damage_as_the_whole_file(offset):
    text = b"".join(json.dumps({**DIALOGUE, "id": f"d{i}"}).encode() + b"\n" for i in range(5000))
    data = bytearray(gzip.compress(text, mtime=0))
    at = int(len(data) * offset)
    data[at : at + 50] = b"\xab" * 50
    parts, by_parts, whole = read_parts("jsonl", True, bytes(data), 2000)
    assert whole[-1].error == "unreadable_file" and len(parts) > 1
    assert by_parts == whole
    assert_cover(parts)


def test_malformed_fixtures_read_as_parts():
    for path in sorted(MALFORMED.iterdir()):
        kind, gz = readers.file_kind(path.name)
        data = path.read_bytes()
        for chunk_bytes in CHUNKS:
            parts, by_parts, whole = read_parts(kind, gz, data, chunk_bytes)
            assert by_parts == whole, (path.name, chunk_bytes)
            assert_cover(parts)


def parquet_file(rows: int, row_group_size: int) -> bytes:
    buf = io.BytesIO()
    table = pa.Table.from_pylist([{**DIALOGUE, "id": f"d{i}", "pad": "x" * (i % 50)} for i in range(rows)])
    pq.write_table(table, buf, row_group_size=row_group_size)
    return buf.getvalue()


@pytest.mark.parametrize("chunk_bytes", CHUNKS + [3000])
@pytest.mark.parametrize("rows,group", [(100, 7), (50, 50), (0, 10)])
def test_parquet_parts_are_row_groups(rows, group, chunk_bytes):
    data = parquet_file(rows, group)
    parts, by_parts, whole = read_parts("parquet", False, data, chunk_bytes)
    assert by_parts == whole and [r.line for r in whole] == list(range(rows))
    assert_cover(parts)
    groups = pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups
    if groups <= 1 or len(data) <= chunk_bytes:
        assert parts == [WHOLE]
    else:
        assert len(parts) > 1 and all(part.first == part.start * group for part in parts)
        if chunk_bytes == 1:
            assert len(parts) == groups


def test_damaged_row_group_is_reported_by_its_part():
    data = (MALFORMED / "damaged.parquet").read_bytes()
    parts, by_parts, whole = read_parts("parquet", False, data, 1)
    assert parts == [Part(0, 1, 0), Part(1, None, 20)]
    assert by_parts == whole and [r.line for r in whole if r.error] == [20]


def test_whole_file_kinds_are_one_part():
    big = 10**6
    array = json.dumps([DIALOGUE] * 10).encode()
    assert plan_parts("json", False, io.BytesIO(array), big, 1) == [WHOLE]
    assert plan_parts("parquet", True, io.BytesIO(gzip.compress(parquet_file(100, 7))), big, 1) == [WHOLE]
    assert plan_parts("parquet", False, io.BytesIO(b"garbage"), big, 1) == [WHOLE]
    assert plan_parts("jsonl", True, io.BytesIO(b"\x00\x01garbage"), big, 1) == [WHOLE]
    with pytest.raises(ValueError, match="read whole"):
        list(iter_records("f", "json", False, io.BytesIO(array), Part(0, 5, 1)))


LINES = st.sampled_from(
    [GOOD, b"", b" ", b"\r", GOOD + b"\r", b"\xff", b"{", b"\xef\xbb\xbf" + GOOD, b"x" * 90, b'"\xc3\xa9"']
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(LINES, max_size=25),
    st.booleans(),
    st.booleans(),
    st.integers(1, 250),
    st.sampled_from([1, 3, 16, 1 << 20]),
    st.floats(0.3, 1.0),
)
def test_any_jsonl_reads_the_same_in_parts(lines, newline_at_end, gz, chunk_bytes, block, keep):
    text = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    data = gzip.compress(text, mtime=0) if gz else text
    data = data[: max(1, int(len(data) * keep))] if gz and keep < 1 else data  # torn
    with mock.patch.object(readers, "_BLOCK", block):
        parts, by_parts, whole = read_parts("jsonl", gz, data, chunk_bytes)
    assert by_parts == whole
    assert_cover(parts)
    if not gz:
        assert whole == reference_jsonl(text)
