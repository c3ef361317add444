"""Input forms that used to lose records silently and the record size cap:
a BOM wherever files were joined, binary Parquet columns, `text` instead of `content`, lines over
--max_record_mb. References: Python's own `utf-8-sig` codec and json module, pyarrow's own cast."""

from __future__ import annotations

import gzip
import io
import json
from unittest import mock

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from beam_prep.core import readers
from beam_prep.core.normalize import normalize
from beam_prep.core.readers import iter_records, plan_parts
from beam_prep.core.records import RawRecord

DIALOGUE = {"id": "a", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
GOOD = json.dumps(DIALOGUE).encode()
BOM = "\ufeff".encode()


def read(kind, data: bytes, gz=False, cap=0, part=readers.WHOLE):
    return list(iter_records("f", kind, gz, io.BytesIO(gzip.compress(data) if gz else data), part, cap))


def concatenated(*files: bytes) -> bytes:
    """What `cat a b c > all` makes of files written with a BOM each."""
    return b"".join(files)


@pytest.mark.parametrize("gz", [False, True])
def test_a_bom_where_files_were_joined_is_skipped_in_jsonl(gz):
    one = BOM + GOOD + b"\n" + GOOD + b"\n"
    data = concatenated(one, one, one)
    records = read("jsonl", data, gz)
    # The reference: each joined file decoded on its own with Python's BOM-aware codec.
    expected = [json.loads(line) for line in one.decode("utf-8-sig").splitlines()] * 3
    assert [r.value for r in records] == expected and all(r.error is None for r in records)
    assert [r.line for r in records] == [1, 2, 3, 4, 5, 6]


def test_a_bom_between_values_of_a_json_file_is_skipped():
    data = concatenated(BOM + GOOD + b"\n", BOM + GOOD + b"\n")
    records = read("json", data)
    assert [(r.line, r.error, r.value) for r in records] == [(1, None, DIALOGUE), (2, None, DIALOGUE)]


def test_a_bom_inside_a_string_is_content():
    value = {**DIALOGUE, "messages": [{"role": "user", "content": "a\ufeffb"}, DIALOGUE["messages"][1]]}
    [record] = read("jsonl", json.dumps(value, ensure_ascii=False).encode())
    assert record.value == value


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_binary_parquet_columns_are_decoded_as_utf8():
    rows = [
        {"id": b"b1", "messages": [{"role": b"user", "content": "über 你好 🙂".encode()}]},
        {"id": b"b2", "messages": [{"role": b"assistant", "content": b"\xff not utf-8"}]},
    ]
    table = pa.Table.from_pylist(rows)
    assert pa.types.is_binary(table.schema.field("id").type)
    records = read("parquet", parquet_bytes(table))
    # Reference: pyarrow's own binary -> string cast of the first row's values.
    first = pa.Table.from_pylist(rows[:1])
    expected_id = pc.cast(first.column("id"), pa.string()).to_pylist()[0]
    assert records[0].error is None and records[0].value["id"] == expected_id == "b1"
    assert records[0].value["messages"] == [{"role": "user", "content": "über 你好 🙂"}]
    assert records[1].error == "invalid_utf8" and "binary column" in records[1].detail


def test_string_parquet_is_read_unchanged():
    table = pa.Table.from_pylist([DIALOGUE])
    assert [r.value for r in read("parquet", parquet_bytes(table))] == [DIALOGUE]


def norm(value):
    return normalize(RawRecord("f", 1, value))


def test_a_turn_with_text_instead_of_content_is_read():
    text_turns = {"messages": [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "yo"}]}
    sharegpt = {"conversations": [{"from": "human", "text": "hi"}, {"from": "gpt", "value": "yo"}]}
    for value in (text_turns, sharegpt):
        d, repairs, reject = norm(value)
        assert reject is None and repairs == ()
        assert [(t.role, t.content) for t in d.turns] == [("user", "hi"), ("assistant", "yo")]


def test_a_turn_with_no_content_field_is_rejected_naming_the_field():
    _, _, reject = norm({"messages": [{"role": "user", "message": "hi"}, {"role": "assistant", "content": "yo"}]})
    assert reject.reason == "bad_turn" and "'content'" in reject.detail and "'text'" in reject.detail
    _, _, reject = norm({"conversations": [{"from": "human"}, {"from": "gpt", "value": "yo"}]})
    assert reject.reason == "bad_turn" and "'value'" in reject.detail


def test_a_null_content_is_still_an_empty_turn():
    d, repairs, _ = norm({"messages": [*DIALOGUE["messages"], {"role": "user", "content": None}]})
    assert repairs == ("dropped_empty_turn",) and len(d.turns) == 2


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
@pytest.mark.parametrize("gz", [False, True])
def test_lines_over_the_cap_are_rejected_unread_and_the_rest_read(block, gz):
    big = json.dumps({**DIALOGUE, "pad": "x" * 500}).encode()
    lines = [GOOD, big, GOOD, b"", big, GOOD]
    data = b"\n".join(lines)  # the last big line... then a last line without a newline
    with mock.patch.object(readers, "_BLOCK", block):
        records = read("jsonl", data, gz, cap=len(GOOD) + 10)
    got = [(r.line, r.error) for r in records]
    assert got == [(1, None), (2, "record_too_large"), (3, None), (5, "record_too_large"), (6, None)]
    assert f"{len(big):,} bytes" in records[1].detail
    assert records[1].excerpt.startswith(big[:100].decode())
    with mock.patch.object(readers, "_BLOCK", block):
        assert read("jsonl", data, gz) == read("jsonl", data, gz, cap=len(big))  # at the cap: read


def test_a_last_line_over_the_cap_without_newline():
    big = json.dumps({**DIALOGUE, "pad": "x" * 500}).encode()
    with mock.patch.object(readers, "_BLOCK", 64):
        records = read("jsonl", GOOD + b"\n" + big, cap=100)
    assert [(r.line, r.error) for r in records] == [(1, None), (2, "record_too_large")]
    assert f"{len(big):,} bytes" in records[1].detail


@pytest.mark.parametrize("chunk", [40, 200, 1000])
def test_the_cap_reads_the_same_in_parts(chunk):
    big = json.dumps({**DIALOGUE, "pad": "x" * 300}).encode()
    data = b"\n".join([GOOD, big] * 6) + b"\n"
    whole = read("jsonl", data, cap=200)
    parts = plan_parts("jsonl", False, io.BytesIO(data), len(data), chunk)
    by_parts = [r for part in parts for r in read("jsonl", data, cap=200, part=part)]
    assert by_parts == whole and [r.error for r in whole] == [None, "record_too_large"] * 6


def test_json_values_over_the_cap():
    big = json.dumps({**DIALOGUE, "pad": "x" * 500})
    records = read("json", json.dumps([DIALOGUE, json.loads(big), DIALOGUE]).encode(), cap=len(big) - 1)
    assert [(r.line, r.error) for r in records] == [(0, None), (1, "record_too_large"), (2, None)]
