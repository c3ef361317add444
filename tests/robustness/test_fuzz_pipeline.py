"""Fuzz the whole pipeline: arbitrary JSON values and byte strings as records, deep
nesting, huge and tiny numbers, every Unicode plane, lone surrogates, mixed with valid dialogues.
Whatever the records, the run exits 0 and every record is accounted for: kept, or rejected with a
known reason; beam_prep itself never fails on one (no internal_error).

CI cost is bounded: two generated corpora of 28-68 records, one real run (two worker processes)
each, derandomized so every CI run draws the same two.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from beam_prep.cli import main
from beam_prep.core.records import REJECT_REASONS
from tests.robustness.test_hostile_records import BEAM_ARGS, assert_accounted, read_output

SURROGATES = ['"\\ud800"', '"a\\udfff b"', '"\\ud83d\\ude00"']  # lone and paired surrogate escapes
text = st.text(st.characters(codec="utf-8"), max_size=60)  # every plane, no lone surrogates (they are escapes)
numbers = st.one_of(
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, 5e-324, -0.0, 2**63, -(2**63) - 1]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=20
)
roles = st.sampled_from(["user", "assistant", "system", "human", "gpt", "tool", "USER", " user "]) | text


@st.composite
def turns(draw):
    key = draw(st.sampled_from(["content", "text", "value", "other"]))
    content = draw(
        st.one_of(
            text,
            text,
            values,
            st.lists(st.one_of(text, st.fixed_dictionaries({"type": st.just("text"), "text": text}))),
        )
    )
    return {draw(st.sampled_from(["role", "from"])): draw(roles), key: content}


@st.composite
def dialogue_like(draw):
    """Almost a dialogue: schema keys with arbitrary turns, ids of any type, extra fields."""
    record = {draw(st.sampled_from(["messages", "conversations"])): draw(st.lists(turns(), max_size=6))}
    if draw(st.booleans()):
        record["id"] = draw(values)
    if draw(st.booleans()):
        record[draw(text)] = draw(values)
    return json.dumps(record, ensure_ascii=draw(st.booleans()))


@st.composite
def valid(draw, index):
    pairs = draw(st.integers(1, 4))
    messages = []
    for _ in range(pairs):
        messages += [{"role": "user", "content": draw(text) + "?"}, {"role": "assistant", "content": draw(text) + "."}]
    return json.dumps({"id": f"valid-{index}", "messages": messages})


def deep(depth: int, inside: bool) -> str:
    nested = "[" * depth + "]" * depth
    return json.dumps({"messages": json.loads(valid_pair())})[:-1] + f', "meta": {nested}}}' if inside else nested


def valid_pair() -> str:
    return json.dumps([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])


KINDS = (  # each corpus holds a few of every kind: even hypothesis's simplest draw is hostile
    values.map(json.dumps),
    dialogue_like(),
    st.binary(min_size=1, max_size=200).map(lambda b: b.replace(b"\n", b" ")),
    st.builds(deep, st.integers(400, 3000), st.booleans()),
    st.sampled_from(SURROGATES).map(lambda s: '{"messages": [{"role": "user", "content": ' + s + "}]}"),
    st.sampled_from(["1" + "0" * 5000, "-1e999999", "[" * 100_000, '"\\u0000"', "{}", "[]", "\ufeff{}", "NaN"]),
)


def as_bytes(line) -> bytes:
    return line if isinstance(line, bytes) else line.encode("utf-8", errors="surrogatepass")


def is_record(line: bytes) -> bool:
    """What counts as a record of a JSON lines file: a line not blank once its BOMs are skipped."""
    while line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    return bool(line.strip())


@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    phases=(Phase.generate,),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_records_run_to_exit_0_and_are_all_accounted_for(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "in").mkdir()
    odd = [line for kind in KINDS for line in data.draw(st.lists(kind, min_size=3, max_size=8), label="odd records")]
    good = [data.draw(valid(i), label=f"valid {i}") for i in range(data.draw(st.integers(10, 20)))]
    lines = [as_bytes(x) for x in data.draw(st.permutations(odd + good), label="order")]
    (root / "in" / "fuzz.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out = root / "out"
    code = main(["run", "--input", str(root / "in" / "*"), "--output", str(out), "--max_seq_length", "128", *BEAM_ARGS])
    assert code == 0 and (out / "_SUCCESS").exists()
    stats, rows, rejects = read_output(Path(out))
    assert_accounted(stats, rejects)
    assert stats["records"]["read"] == sum(map(is_record, lines))
    assert "internal_error" not in stats["rejects"], [r for r in rejects if r["reason"] == "internal_error"]
    assert {r["reason"] for r in rejects} <= set(REJECT_REASONS)
    seen = {r["dialogue_id"] for r in rows} | {r["dialogue_id"] for r in rejects}
    assert {f"valid-{i}" for i in range(len(good))} <= seen  # every valid dialogue: rows or too_long
