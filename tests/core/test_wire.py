"""core/wire.py: what crosses a shuffle packed into bytes comes back equal, and smaller than it went."""

from __future__ import annotations

import pickle

import pytest

from beam_prep.core.dedup import ExampleKey, example_keys, light
from beam_prep.core.records import ASSISTANT, USER, Dialogue, Part, PartRef, Turn
from beam_prep.core.wire import pack, unpack


def _part(words: int = 200) -> Part:
    text = " ".join(f"word{i % 37}" for i in range(words))
    turns = (Turn(USER, "question " + text), Turn(ASSISTANT, "answer " + text, weight=0), Turn(USER, "more"))
    turns += (Turn(ASSISTANT, "the rest " + text, reasoning="because"),)
    refs = (PartRef("c_0", "a.jsonl", 3, 0),)
    return Part("c", 2, Dialogue("c_2", turns, "a.jsonl", 7, conversation="c", parts=refs, tools='[{"x": 1}]'))


@pytest.mark.parametrize("compress", [False, True])
def test_a_part_and_its_light_form_come_back_equal(compress):
    for value in (_part(), light(_part())):
        back = unpack(pack(value, compress), compress)
        assert back == value
        assert [type(t) for t in back.dialogue.turns] == [type(t) for t in value.dialogue.turns]  # LightTurn stays


def test_example_keys_come_back_equal_and_travel_small():
    keys = example_keys(_part().dialogue, "per_response", {"a.jsonl": 0})
    assert keys and [ExampleKey._make(unpack(pack(tuple(k)))) for k in keys] == keys
    assert all(len(pack(tuple(k))) < 110 for k in keys)  # plain values: no class names, no file name


def test_a_compressed_part_is_smaller_than_its_pickle():
    value = _part(2000)
    assert len(pack(value, compress=True)) < len(pickle.dumps(value)) / 2
    assert pack(value) != pack(value, compress=True)
