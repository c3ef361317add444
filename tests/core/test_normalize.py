from __future__ import annotations

import pytest

from beam_prep.core.normalize import normalize
from beam_prep.core.records import RawRecord


def norm(value, fmt="auto"):
    return normalize(RawRecord("src.jsonl", 7, value), fmt)


def roles(d):
    return [(t.role, t.content) for t in d.turns]


def test_messages_schema():
    d, repairs, reject = norm(
        {
            "id": 5,
            "messages": [
                {"role": "system", "content": " S "},
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": "a"},
            ],
        }
    )
    assert reject is None and repairs == ()
    assert d.id == "5" and roles(d) == [("system", "S"), ("user", "u"), ("assistant", "a")]


@pytest.mark.parametrize("alias", ["gpt", "assistant", "chatgpt", "bing", "bard"])
def test_sharegpt_aliases(alias):
    d, _, _ = norm({"conversations": [{"from": "human", "value": "q"}, {"from": alias, "value": "a"}]})
    assert roles(d) == [("user", "q"), ("assistant", "a")]
    assert d.id.startswith("auto-")  # from the content (tests/core/test_identity.py)


def test_auto_detects_per_record_and_explicit_format_is_strict():
    rec = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    assert norm(rec, "sharegpt")[0] is not None
    assert norm(rec, "messages")[2].reason == "missing_messages"


def test_repairs_merge_drop_empty_and_leading_assistant():
    d, repairs, _ = norm(
        {
            "messages": [
                {"role": "assistant", "content": "I start"},
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "  "},
                {"role": "assistant", "content": "c"},
            ]
        }
    )
    assert roles(d) == [("user", "a\n\nb"), ("assistant", "c")]
    assert set(repairs) == {"dropped_leading_assistant_turn", "merged_same_role_turns", "dropped_empty_turn"}


def test_content_parts_are_joined():
    d, _, _ = norm(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]},
                {"role": "assistant", "content": "z"},
            ]
        }
    )
    assert roles(d)[0] == ("user", "x\ny")


@pytest.mark.parametrize(
    "value,reason",
    [
        ([1, 2], "not_an_object"),
        ({"text": "x"}, "missing_messages"),
        ({"messages": ["x"]}, "bad_turn"),
        ({"messages": [{"role": "user", "content": 5}]}, "bad_turn"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "unknown_role"),
        ({"messages": [{"role": "user", "content": "only a question"}]}, "no_assistant_turn"),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "system", "content": "late"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            "bad_turn",
        ),
    ],
)
def test_rejects_name_the_reason(value, reason):
    d, _, reject = norm(value)
    assert d is None and reject.reason == reason
    assert reject.source == "src.jsonl" and reject.line == 7 and reject.excerpt


def test_decode_errors_pass_through():
    _, _, reject = normalize(RawRecord("f", 3, error="invalid_json", excerpt="{oops"))
    assert (reject.reason, reject.line, reject.excerpt) == ("invalid_json", 3, "{oops")


def test_lone_surrogate_escapes_are_rejected_not_crashing_the_tokenizer():
    import json

    line = '{"id": "%s", "messages": [{"role": "user", "content": "%s"}, {"role": "assistant", "content": "ok"}]}'
    _, _, reject = norm(json.loads(line % ("d1", "caf\\u00e9 \\ud83d")))  # half an emoji pair
    assert reject.reason == "invalid_utf8" and "turn 0" in reject.detail
    _, _, reject = norm(json.loads(line % ("d\\udc80", "hi")))
    assert reject.reason == "invalid_utf8" and "id" in reject.detail
    d, _, reject = norm(json.loads(line % ("d2", "caf\\u00e9 \\ud83d\\ude00")))  # a whole pair is fine
    assert reject is None and d.turns[0].content == "café 😀"
