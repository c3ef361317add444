"""Parsing never crashes, and every record read ends as a dialogue or a reject with a known reason."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from beam_prep.core.normalize import normalize
from beam_prep.core.readers import iter_records
from beam_prep.core.records import REJECT_REASONS, Dialogue
from tests.properties.strategies import json_values, records

# Reasons normalisation can give; the other two (special tokens, too_long) come from fitting.
RECORD_REASONS = set(REJECT_REASONS) - {"special_tokens_in_content", "too_long"}
SETTINGS = settings(max_examples=60, deadline=None)


def outcomes(kind: str, gz: bool, data: bytes) -> list:
    out = []
    for record in iter_records("f", kind, gz, io.BytesIO(gzip.compress(data, mtime=0) if gz else data)):
        assert (record.error is None) or record.error in RECORD_REASONS
        dialogue, repairs, reject = normalize(record)
        assert (dialogue is None) != (reject is None)
        if reject is not None:
            assert reject.reason in RECORD_REASONS and reject.source == "f" and len(reject.excerpt) <= 303
            assert repairs == ()
        else:
            assert isinstance(dialogue, Dialogue) and dialogue.id
        out.append((record.line, reject.reason if reject else "kept"))
    return out


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from(["jsonl", "json", "parquet"]), st.booleans())
def test_arbitrary_bytes_never_crash(data, kind, gz):
    outcomes(kind, gz, data)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["jsonl", "json", "parquet"]))
def test_arbitrary_bytes_claiming_gzip_never_crash(data, kind):
    list(iter_records("f", kind, True, io.BytesIO(data)))  # not gzip at all: one unreadable_file at most


@SETTINGS
@given(st.lists(json_values | records(), max_size=8))
def test_every_jsonl_line_is_one_outcome(values):
    lines = [json.dumps(v) for v in values]
    got = outcomes("jsonl", False, ("\n".join(lines) + "\n").encode())
    assert [line for line, _ in got] == list(range(1, len(values) + 1))
    assert all(reason != "unreadable_file" for _, reason in got)


@SETTINGS
@given(st.lists(json_values | records(), max_size=8), st.integers(0, 400))
def test_json_array_cut_anywhere_keeps_its_complete_head(values, cut):
    text = json.dumps(values)
    cut = min(cut, len(text))
    got = outcomes("json", False, text[:cut].encode())
    read = [line for line, reason in got if reason != "unreadable_file"]
    assert read == list(range(len(read))) and len(read) <= len(values)
    if cut == len(text):
        assert len(read) == len(values) and all(r != "unreadable_file" for _, r in got)
    elif text[:cut].strip():
        assert got[-1][1] == "unreadable_file"  # a cut array always says so


@settings(max_examples=30, deadline=None)
@given(st.lists(records(messy=False), min_size=1, max_size=6))
def test_parquet_rows_are_records(values):
    # Parquet needs one schema: keep the messages-schema records with string-or-null fields only.
    rows = [
        {
            "id": str(i),
            "messages": [
                {"role": str(t.get("role")), "content": str(t.get("content"))}
                for t in v.get("messages", [])
                if isinstance(t, dict)
            ],
        }
        for i, v in enumerate(values)
    ]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    got = outcomes("parquet", False, buf.getvalue())
    assert [line for line, _ in got] == list(range(len(rows)))
