"""Default ids come from the dialogue's content: the same dialogue has the same id
wherever it sits (file, line, compression, format), different dialogues have different ids."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from beam_prep.core.normalize import ID_PREFIX, normalize
from beam_prep.core.readers import iter_records

MESSAGES = [{"role": "user", "content": "What is two plus two?"}, {"role": "assistant", "content": "Four."}]
OTHER = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def ids(source: str, data: bytes) -> list[str]:
    name = source.removesuffix(".gz")
    kind, gz = name.rsplit(".", 1)[1], source.endswith(".gz")
    out = []
    for record in iter_records(source, kind, gz, io.BytesIO(data)):
        dialogue, _, reject = normalize(record)
        out.append(reject.reason if reject else dialogue.id)
    return out


def parquet(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def test_the_same_dialogue_has_the_same_id_in_every_file_form_and_position():
    record = {"messages": MESSAGES}
    sharegpt = {
        "conversations": [{"from": "human", "value": MESSAGES[0]["content"]}, {"from": "gpt", "value": "Four."}]
    }
    line = json.dumps(record).encode() + b"\n"
    forms = {
        "a.jsonl": line,
        "b/moved.jsonl": json.dumps(OTHER).encode() + b"\n\n" + line,  # another folder, another line
        "a.jsonl.gz": gzip.compress(line),
        "a.json": json.dumps([OTHER, OTHER, record]).encode(),
        "a.parquet": parquet([record]),
        "s.jsonl": json.dumps(sharegpt).encode(),  # the same normalised dialogue in the other schema
    }
    found = {source: ids(source, data)[-1] for source, data in forms.items()}
    assert len(set(found.values())) == 1, found
    assert found["a.jsonl"].startswith(ID_PREFIX)


def test_any_change_of_content_or_role_changes_the_id():
    base = normalize_id({"messages": MESSAGES})
    changed = [
        {"messages": [MESSAGES[0], {"role": "assistant", "content": "Four!"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, *MESSAGES]},
        {"messages": [*MESSAGES, {"role": "user", "content": "And three?"}, {"role": "assistant", "content": "6"}]},
        # the same text cut at another place between the turns
        {"messages": [{"role": "user", "content": "What is two plus two?F"}, {"role": "assistant", "content": "our."}]},
    ]
    found = [normalize_id(v) for v in changed]
    assert len({base, *found}) == len(changed) + 1


def normalize_id(value) -> str:
    from beam_prep.core.records import RawRecord

    return normalize(RawRecord("x.jsonl", 1, value))[0].id


def test_values_sharing_a_line_of_a_json_file_get_distinct_ids():
    data = (json.dumps({"messages": MESSAGES}) + " " + json.dumps(OTHER) + "\n").encode()
    first, second = ids("two.json", data)
    assert first != second and first.startswith(ID_PREFIX) and second.startswith(ID_PREFIX)


def test_a_given_id_is_kept():
    assert normalize_id({"id": "mine", "messages": MESSAGES}) == "mine"


def test_ids_do_not_depend_on_the_process_hash_seed():
    code = "from tests.core.test_identity import normalize_id, MESSAGES; print(normalize_id({'messages': MESSAGES}))"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outs == {normalize_id({"messages": MESSAGES})}


def test_ids_of_different_json_types_that_print_alike_are_named_with_their_types():
    """7 and "7" are one id (ids compare as text); the dialogue keeps the JSON type of a non-string
    id, so a duplicate_id reject can say why two ids that look different collide."""
    from beam_prep.core.dedup import duplicate_id_detail
    from beam_prep.core.records import RawRecord

    def id_of(value):
        dialogue, _, reject = normalize(RawRecord("a.jsonl", 1, {"id": value, "messages": MESSAGES}))
        assert reject is None
        return dialogue.id, dialogue.id_type

    assert id_of(7) == ("7", "number") and id_of("7") == ("7", "") and id_of(True) == ("True", "boolean")
    assert normalize(RawRecord("a.jsonl", 1, {"messages": MESSAGES}))[0].id_type == ""  # a default id
    clash = duplicate_id_detail("7", "number", "a.jsonl:6", "")
    assert clash == 'id 7 (number) and id "7" (string) print alike: one id, already read at a.jsonl:6'
    assert duplicate_id_detail("7", "", "a.jsonl:6", "") == "id '7' already read at a.jsonl:6"
    assert "(boolean)" in duplicate_id_detail("True", "boolean", "a.jsonl:1", "")
