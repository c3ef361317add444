from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_prep.core.readers import file_kind, iter_records

DIALOGUE = {"id": "a", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def read(kind, data: bytes, gz=False):
    return list(iter_records("f", kind, gz, io.BytesIO(gzip.compress(data) if gz else data)))


@pytest.mark.parametrize("gz", [False, True])
def test_jsonl_with_bad_lines(gz):
    data = (json.dumps(DIALOGUE) + "\n\nnot json\n" + "\xff\n").encode("utf-8") + b"\xff\xfe\n"
    records = read("jsonl", data, gz)
    expected = [(1, None), (3, "invalid_json"), (4, "invalid_json"), (5, "invalid_utf8")]
    assert [(r.line, r.error) for r in records] == expected
    assert records[0].value == DIALOGUE


@pytest.mark.parametrize("gz", [False, True])
def test_json_array(gz):
    records = read("json", json.dumps([DIALOGUE, DIALOGUE]).encode(), gz)
    assert [(r.line, r.value) for r in records] == [(0, DIALOGUE), (1, DIALOGUE)]


def test_json_array_cut_off_keeps_its_head():
    data = json.dumps([DIALOGUE, DIALOGUE])[:-30].encode()
    records = read("json", data)
    assert records[0].value == DIALOGUE and records[-1].error == "unreadable_file"


@pytest.mark.parametrize("gz", [False, True])
def test_parquet(gz):
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([DIALOGUE, DIALOGUE]), buf)
    records = read("parquet", buf.getvalue(), gz)
    assert [r.value for r in records] == [DIALOGUE, DIALOGUE]


def test_torn_gzip_keeps_what_was_read():
    data = gzip.compress((json.dumps(DIALOGUE) + "\n").encode() * 2000)
    records = list(iter_records("f", "jsonl", True, io.BytesIO(data[: len(data) // 2])))
    assert records[0].value == DIALOGUE
    assert records[-1].error == "unreadable_file" and len(records) > 10


def test_garbage_parquet_is_unreadable_not_a_crash():
    assert [r.error for r in read("parquet", b"garbage bytes")] == ["unreadable_file"]


def test_file_kind():
    assert file_kind("s3://b/x/part-1.jsonl.gz") == ("jsonl", True)
    assert file_kind("a.PARQUET") == ("parquet", False)
    with pytest.raises(ValueError, match="unsupported input file"):
        file_kind("a.csv")
