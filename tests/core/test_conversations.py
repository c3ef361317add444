"""--conversation_key, rejoining parts, and dedup keys: pure functions, no pipeline."""

from __future__ import annotations

import dataclasses

import pytest

from beam_prep.config import ConfigError, RunConfig
from beam_prep.core.conversation import ConversationKey, parse_conversation_key
from beam_prep.core.dedup import (
    LightTurn,
    canonical,
    decide,
    example_keys,
    kept_and_dropped,
    light,
    validation_train_targets,
)
from beam_prep.core.normalize import MERGE_SEPARATOR, Policy, normalize
from beam_prep.core.records import ASSISTANT, USER, VALIDATION, Dialogue, Part, RawRecord, Turn
from beam_prep.core.rejoin import rejoin


def sharegpt(ident, *turns, line=1, source="a.jsonl"):
    """A ShareGPT record; turns are ("human" | "gpt", text)."""
    return RawRecord(source, line, {"id": ident, "conversations": [{"from": f, "value": v} for f, v in turns]})


def part(record: RawRecord, key=ConversationKey()) -> Part:
    conversation, number = key.part_of(record.value)
    dialogue, _, reject = normalize(record, part=True)
    assert reject is None
    return Part(conversation, number, dialogue)


@pytest.mark.parametrize(
    ("ident", "schema", "expected"),
    [
        ("QWJhYvA_0", "conversations", ("QWJhYvA", 0)),
        ("i6IyJda_12", "conversations", ("i6IyJda", 12)),
        ("a1b2c3d_3", "conversations", ("a1b2c3d", 3)),
        ("user_17", "conversations", None),  # a word, not a ShareGPT id
        ("abcdefg_1", "conversations", None),  # one character class only
        ("QWJhYvA", "conversations", None),  # no suffix
        ("QWJhYvA_01", "conversations", None),  # not a part number
        ("QWJhYvA_0", "messages", None),  # auto stitches the ShareGPT schema only
    ],
)
def test_auto_key_stitches_sharegpt_ids_only(ident, schema, expected):
    assert ConversationKey().part_of({"id": ident, schema: []}) == expected


def test_explicit_keys():
    assert ConversationKey("none").part_of({"id": "QWJhYvA_0", "conversations": []}) is None
    assert ConversationKey("id_suffix").part_of({"id": "user_17", "messages": []}) == ("user", 17)
    by_field = parse_conversation_key("field:conversation_id:turn")
    assert by_field.part_of({"conversation_id": 7, "turn": 2}) == ("7", 2)
    assert by_field.part_of({"conversation_id": "c", "turn": "2"}) == ("c", -1)  # rejected as bad_part
    assert by_field.part_of({"id": "x"}) is None
    assert parse_conversation_key("field:cid").part_of({"cid": "c"}) == ("c", None)


@pytest.mark.parametrize("bad", ["suffix", "field", "field:", "field:a:b:c", "ID_SUFFIX"])
def test_a_bad_key_is_a_one_line_config_error(bad):
    with pytest.raises(ConfigError) as err:
        RunConfig(input=["x.jsonl"], output="o", conversation_key=bad).validate()
    assert "--conversation_key" in str(err.value) and "\n" not in str(err.value)


def test_consecutive_parts_join_and_a_continuation_opening_with_the_assistant_keeps_its_answer():
    parts = [
        part(sharegpt("QWJhYvA_1", ("gpt", "rest of the answer"), ("human", "q2"), ("gpt", "a2"), line=2)),
        part(sharegpt("QWJhYvA_0", ("human", "q1"), ("gpt", "start of the answer"), line=1)),
    ]
    done = rejoin("QWJhYvA", parts)
    [d] = done.dialogues
    assert d.id == "QWJhYvA_0-1" and d.conversation == "QWJhYvA" and done.gaps == 0 and done.joined == 1
    assert [t.content for t in d.turns] == [
        "q1",
        "start of the answer" + MERGE_SEPARATOR + "rest of the answer",
        "q2",
        "a2",
    ]
    assert [(p.id, p.line, p.first_turn) for p in d.parts] == [("QWJhYvA_0", 1, 0), ("QWJhYvA_1", 2, 1)]
    assert done.repairs == ["joined_split_turn"]


def test_a_gap_starts_a_new_segment_without_memory_and_drops_its_leading_answer():
    parts = [
        part(sharegpt("QWJhYvA_0", ("human", "q1"), ("gpt", "a1"), line=1)),
        part(sharegpt("QWJhYvA_1", ("human", "q2"), ("gpt", "a2"), line=2)),
        part(sharegpt("QWJhYvA_3", ("gpt", "tail of a lost answer"), ("human", "q4"), ("gpt", "a4"), line=3)),
    ]
    done = rejoin("QWJhYvA", parts)
    assert [d.id for d in done.dialogues] == ["QWJhYvA_0-1", "QWJhYvA_3"]
    assert [t.content for t in done.dialogues[1].turns] == ["q4", "a4"]
    assert done.gaps == 1 and "dropped_leading_assistant_turn" in done.repairs
    assert {d.conversation for d in done.dialogues} == {"QWJhYvA"}


def test_an_unanswered_user_turn_is_answered_by_the_next_part():
    parts = [
        part(sharegpt("QWJhYvA_0", ("human", "q1"), line=1)),
        part(sharegpt("QWJhYvA_1", ("gpt", "a1"), ("human", "q2"), ("gpt", "a2"), line=2)),
    ]
    [d] = rejoin("QWJhYvA", parts).dialogues
    assert [(t.role, t.content) for t in d.turns] == [(USER, "q1"), (ASSISTANT, "a1"), (USER, "q2"), (ASSISTANT, "a2")]


def test_repeated_part_numbers_and_parts_with_nothing_to_train_are_rejected():
    parts = [
        part(sharegpt("QWJhYvA_0", ("human", "q1"), ("gpt", "a1"), line=1)),
        part(sharegpt("QWJhYvA_0", ("human", "other"), ("gpt", "copy"), line=9)),
        part(sharegpt("QWJhYvA_5", ("gpt", "only a tail"), line=4)),
    ]
    done = rejoin("QWJhYvA", parts)
    assert [d.id for d in done.dialogues] == ["QWJhYvA_0"]
    assert sorted((r.reason, r.line) for r in done.rejects) == [("duplicate_id", 9), ("no_assistant_turn", 4)]
    assert "a.jsonl:1" in next(r.detail for r in done.rejects if r.reason == "duplicate_id")


def test_leading_assistant_reject_policy_applies_to_a_segment():
    parts = [part(sharegpt("QWJhYvA_2", ("gpt", "tail"), ("human", "q"), ("gpt", "a")))]
    done = rejoin("QWJhYvA", parts, Policy(leading_assistant="reject"))
    assert not done.dialogues and [r.reason for r in done.rejects] == ["bad_turn"]


def dialogue(*contents, ident="d", split="train", system=None, source="a.jsonl", line=1):
    turns = [Turn("system", system)] if system else []
    turns += [Turn(USER if i % 2 == 0 else ASSISTANT, c) for i, c in enumerate(contents)]
    return Dialogue(ident, tuple(turns), source, line, split)


def test_keys_equal_for_equal_memory_and_target_only():
    full = example_keys(dialogue("q1", "a1", "q2", "a2", ident="x"), "per_response")
    prefix = example_keys(dialogue("q1", "a1", ident="y"), "per_response")
    fork = example_keys(dialogue("q1", "a1", "q2", "other", ident="z"), "per_response")
    assert prefix[0].key == full[0].key == fork[0].key
    assert fork[1].key != full[1].key and fork[1].target != full[1].target
    assert example_keys(dialogue("q1", "a1", system="S"), "per_response")[0].key != prefix[0].key
    assert full[1].key != full[0].key and full[1].turn_index == 3


def test_every_turn_field_is_in_the_key():
    """A field added to Turn (tool calls, weights...) is part of the key without a change in dedup.py."""
    extended = dataclasses.make_dataclass("Turn2", [("future", int, 1)], bases=(Turn,), frozen=True, slots=True)
    a, b = extended(USER, "q", future=1), extended(USER, "q", future=0)
    assert canonical(a) != canonical(b) and b'"future": 0' in canonical(b)
    assert canonical(Turn(ASSISTANT, "a", weight=0)) != canonical(Turn(ASSISTANT, "a"))  # a real added field


def test_kept_copy_is_train_first_then_smallest_conversation():
    val = example_keys(dialogue("q", "a", ident="a-val", split=VALIDATION), "per_response")[0]
    train_b = example_keys(dialogue("q", "a", ident="b", line=5), "per_response")[0]
    train_c = example_keys(dialogue("q", "a", ident="c", line=2), "per_response")[0]
    kept, dropped = kept_and_dropped([val, train_c, train_b])
    assert kept.example_id == "b/1" and {d.example_id for d in dropped} == {"a-val/1", "c/1"}
    other_memory = example_keys(dialogue("x", "a", ident="v2", split=VALIDATION), "per_response")[0]
    assert other_memory.target == train_b.target and other_memory.key != train_b.key
    assert validation_train_targets([train_b, other_memory]) == [other_memory]
    assert validation_train_targets([other_memory]) == []


def test_decide_drops_copies_and_finds_validation_targets_trained_in_one_set_of_keys():
    """The plan's one shuffle: every copy of a target in one set; copies by key, targets by target."""
    train = example_keys(dialogue("q", "a", "q2", "a2", ident="t"), "per_response")
    prefix_copy = example_keys(dialogue("q", "a", ident="p", line=9), "per_response")
    val_other_memory = example_keys(dialogue("x", "a", ident="v", split=VALIDATION), "per_response")
    alone = example_keys(dialogue("z", "unique", ident="u"), "per_response")
    dropped, trained = decide([*alone, *val_other_memory, *prefix_copy, *train])
    assert dropped == [(train[0].ref, "p/1")]  # "p" < "t": the smaller conversation is kept
    assert trained == [val_other_memory[0].ref]
    assert decide(alone) == ([], [])
    assert decide([*prefix_copy, *train]) == decide([*train, *prefix_copy])  # order does not choose
    whole = [example_keys(dialogue("q", "a", ident=i), "whole_dialog")[0] for i in ("w1", "w2")]  # turn -1
    assert decide(whole) == ([(whole[1].ref, "w1/-1")], [])


def test_the_file_rank_keeps_the_file_order_and_a_file_without_one_keeps_its_name():
    a, b = dialogue("q", "a", ident="d", source="a.jsonl"), dialogue("q", "a", ident="d", source="b.jsonl")
    ranks = {"a.jsonl": 0, "b.jsonl": 1}
    ka, kb = (example_keys(d, "per_response", ranks)[0] for d in (a, b))
    assert (ka.file_rank, ka.source, kb.file_rank, kb.source) == (0, "", 1, "")
    assert kept_and_dropped([kb, ka])[0] is ka
    stray = example_keys(dialogue("q", "a", ident="d", source="c.jsonl"), "per_response", ranks)[0]
    assert (stray.file_rank, stray.source) == (-1, "c.jsonl")
    assert ka.ref != kb.ref != stray.ref and ka.key == kb.key == stray.key


def test_light_parts_give_the_keys_of_the_whole_records():
    """The planning pass rejoins parts without the text of their inner turns: the keys it gets
    are those of the full parts, and those of the same chat saved as one record."""
    q = [("human", f"question {i}") for i in range(6)]
    a = [("gpt", f"answer {i}") for i in range(6)]
    parts = [
        part(sharegpt("QWJhYvA_0", q[0], a[0], q[1], ("gpt", "start of answer 1"), line=1)),
        part(sharegpt("QWJhYvA_1", ("gpt", "rest of it"), q[2], a[2], q[3], a[3], line=2)),
        part(sharegpt("QWJhYvA_3", ("gpt", "a lost tail"), q[4], a[4], q[5], a[5], line=3)),
    ]
    lights = [light(p) for p in parts]
    assert all(isinstance(t, LightTurn) and not t.content for p in lights for t in p.dialogue.turns[1:-1])
    assert [len(p.dialogue.turns) for p in lights] == [len(p.dialogue.turns) for p in parts]
    full, lit = rejoin("QWJhYvA", parts).dialogues, rejoin("QWJhYvA", lights).dialogues
    assert [d.id for d in lit] == [d.id for d in full] == ["QWJhYvA_0-1", "QWJhYvA_3"]
    assert [example_keys(d, "per_response") for d in lit] == [example_keys(d, "per_response") for d in full]
    whole, _, _ = normalize(
        sharegpt("one", q[0], a[0], q[1], ("gpt", "start of answer 1" + MERGE_SEPARATOR + "rest of it"), q[2], a[2])
    )
    assert [k.key for k in example_keys(whole, "per_response")] == [
        k.key for k in example_keys(lit[0], "per_response")
    ][:3]
