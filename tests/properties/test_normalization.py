"""Normalised dialogues alternate roles, have no empty turns, and normalising them again is a no-op."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from beam_prep.core.normalize import POLICY_CHOICES, Policy, normalize
from beam_prep.core.records import ASSISTANT, SYSTEM, USER, RawRecord
from tests.properties.strategies import records

SETTINGS = settings(max_examples=80, deadline=None)
policies = st.builds(
    Policy,
    **{name: st.sampled_from(choices) for name, choices in POLICY_CHOICES.items()},
    role_map=st.sampled_from([(), (("tool", "assistant"), ("function", "skip")), (("bing", "skip"),)]),
)


def as_record(dialogue) -> RawRecord:
    """The dialogue as a messages record, its id of the JSON type it was read as (records() draws
    text or integers)."""
    turns = [{"role": t.role, "content": t.content} for t in dialogue.turns]
    ident = int(dialogue.id) if dialogue.id_type == "number" else dialogue.id
    return RawRecord(dialogue.source, dialogue.line, {"id": ident, "messages": turns})


@SETTINGS
@given(records(), policies)
def test_kept_dialogues_are_normal(value, policy):
    dialogue, repairs, reject = normalize(RawRecord("s", 1, value), "auto", policy)
    if dialogue is None:
        return
    roles = [t.role for t in dialogue.turns]
    body = roles[1:] if roles and roles[0] == SYSTEM else roles
    assert body and body == [USER if i % 2 == 0 else ASSISTANT for i in range(len(body))]  # alternate from user
    assert ASSISTANT in body
    for turn in dialogue.turns:
        assert turn.content and turn.content == turn.content.strip()
    if policy.same_role_turns == "reject":
        assert "merged_same_role_turns" not in repairs
    if policy.empty_turns == "reject":
        assert "dropped_empty_turn" not in repairs
    if policy.leading_assistant == "reject":
        assert "dropped_leading_assistant_turn" not in repairs


@SETTINGS
@given(records(messy=False), policies)
@example({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "a"}], "id": 0}, Policy())
def test_normalising_a_normal_dialogue_changes_nothing(value, policy):
    dialogue, _, _ = normalize(RawRecord("s", 1, value), "auto", Policy())
    if dialogue is None:
        return
    again, repairs, reject = normalize(as_record(dialogue), "messages", policy if not policy.role_map else Policy())
    assert reject is None and repairs == ()
    assert again == dialogue


@SETTINGS
@given(records(messy=False))
def test_schemas_agree(value):
    """The same dialogue as messages and as sharegpt normalises alike (and with the id from its place)."""
    key = "messages" if "messages" in value else "conversations"
    turns = value[key]
    rk, ck = ("role", "content") if key == "messages" else ("from", "value")
    as_messages = {"messages": [{"role": t[rk], "content": t[ck]} for t in turns]}
    as_sharegpt = {"conversations": [{"from": t[rk], "value": t[ck]} for t in turns]}
    a = normalize(RawRecord("s", 1, as_messages))
    b = normalize(RawRecord("s", 1, as_sharegpt))
    assert a[0] == b[0] and a[1] == b[1] and (a[2] is None) == (b[2] is None)
