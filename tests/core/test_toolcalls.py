"""The OpenAI fine-tuning schema (tools, tool_calls, tool results, weight, reasoning) and ShareGPT's
function_call / observation turns: what normalisation keeps, and what it rejects with which reason."""

from __future__ import annotations

import json

import pytest

from beam_prep.core.explode import explode
from beam_prep.core.normalize import normalize
from beam_prep.core.records import RawRecord, ToolCall

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def norm(value, fmt="auto"):
    return normalize(RawRecord("src.jsonl", 3, value), fmt)


def call(name="get_weather", arguments='{"city": "Paris"}', id="c1"):
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def openai(*messages, tools=TOOLS):
    return {"id": "t", "tools": tools, "messages": [{"role": "user", "content": "Weather?"}, *messages]}


def test_openai_record_with_tools_calls_results_weight_and_reasoning():
    d, repairs, reject = norm(
        openai(
            {"role": "assistant", "content": None, "tool_calls": [call()], "reasoning_content": " think "},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "18C"}]},
            {"role": "assistant", "content": "It is 18C.", "weight": 0},
            {"role": "user", "content": "Thanks"},
            {"role": "assistant", "content": "Welcome", "weight": 1},
        )
    )
    assert reject is None and repairs == ()
    assert json.loads(d.tools) == TOOLS and d.structured
    assert [t.role for t in d.turns] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    first = d.turns[1]
    assert first.content == "" and first.reasoning == "think"
    assert first.tool_calls == (ToolCall("get_weather", '{"city": "Paris"}', "c1"),)
    assert d.turns[2].content == "18C" and d.turns[2].tool_call_id == "c1"
    assert [t.weight for t in d.turns] == [1, 1, 1, 0, 1, 1]
    hash(d)  # dialogues are hashed whole (dedup): every new field is hashable
    # Targets: the tool call and the weight-1 answer; never the weight-0 answer or the tool result.
    assert [ex.end for ex in explode(d, "per_response")] == [1, 5]
    assert explode(d, "whole_dialog")[0].trained == (1, 5)


def test_arguments_as_object_keep_their_key_order_and_flat_calls_are_accepted():
    flat = {"name": "f", "arguments": {"b": 1, "a": [1, "é"]}}
    d, _, reject = norm(openai({"role": "assistant", "content": "", "tool_calls": [flat]}))
    assert reject is None
    assert d.turns[1].tool_calls == (ToolCall("f", '{"b": 1, "a": [1, "é"]}'),)


def test_tools_as_a_json_string_and_parallel_results():
    d, _, reject = norm(
        openai(
            {"role": "assistant", "content": "Checking.", "tool_calls": [call(id="a"), call(id="b")]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "tool", "tool_call_id": "b", "content": "2"},
            {"role": "assistant", "content": "Done."},
            tools=json.dumps(TOOLS),
        )
    )
    assert reject is None and json.loads(d.tools) == TOOLS
    assert [t.role for t in d.turns] == ["user", "assistant", "tool", "tool", "assistant"]  # results never merged


@pytest.mark.parametrize(
    "messages, reason, detail",
    [
        ([{"role": "tool", "content": "x"}], "orphan_tool_result", "no tool call before it"),
        (
            [
                {"role": "assistant", "content": "", "tool_calls": [call()]},
                {"role": "tool", "tool_call_id": "zz", "content": "x"},
            ],
            "orphan_tool_result",
            "'zz'",
        ),
        ([{"role": "assistant", "content": "", "tool_calls": [call(name="")]}], "bad_tool_call", "no function name"),
        ([{"role": "assistant", "content": "", "tool_calls": [call(arguments="{city")]}], "bad_tool_call", "not JSON"),
        ([{"role": "assistant", "content": "", "tool_calls": [call(arguments="[1]")]}], "bad_tool_call", "list"),
        ([{"role": "assistant", "content": "", "tool_calls": {"name": "f"}}], "bad_tool_call", "not a list"),
        ([{"role": "assistant", "content": "a", "weight": 0.5}], "bad_weight", "0.5"),
        ([{"role": "assistant", "content": "a", "weight": True}], "bad_weight", "True"),
        ([{"role": "assistant", "content": "a", "reasoning_content": 3}], "bad_turn", "reasoning_content"),
        ([{"role": "assistant", "content": "a", "weight": 0}], "no_assistant_turn", "weight 0"),
    ],
)
def test_bad_tool_records_are_rejected_with_a_reason(messages, reason, detail):
    _, _, reject = norm(openai(*messages))
    assert reject.reason == reason and detail in reject.detail


@pytest.mark.parametrize("tools", [{"name": "f"}, "not json", [1]])
def test_bad_tools_field(tools):
    _, _, reject = norm(openai({"role": "assistant", "content": "a"}, tools=tools))
    assert reject.reason == "bad_tools"


def test_sharegpt_function_call_and_observation():
    value = {
        "tools": json.dumps(TOOLS),
        "conversations": [
            {"from": "human", "value": "Weather?"},
            {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
            {"from": "observation", "value": "18C"},
            {"from": "gpt", "value": "It is 18C."},
        ],
    }
    d, _, reject = norm(value)
    assert reject is None
    assert [t.role for t in d.turns] == ["user", "assistant", "tool", "assistant"]
    assert d.turns[1].tool_calls == (ToolCall("get_weather", '{"city": "Paris"}'),) and d.turns[1].content == ""
    # The same dialogue in the OpenAI schema normalises to the same turns.
    same, _, _ = norm(
        openai(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
            },
            {"role": "tool", "content": "18C"},
            {"role": "assistant", "content": "It is 18C."},
        )
    )
    assert same.turns == d.turns and same.tools == d.tools
    bad = {**value, "conversations": [value["conversations"][0], {"from": "function_call", "value": "{oops"}]}
    assert norm(bad)[2].reason == "bad_tool_call"


def test_merging_never_joins_structured_turns_and_weight_zero_wins():
    d, repairs, _ = norm(
        openai(
            {"role": "assistant", "content": "a", "weight": 0},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "", "tool_calls": [call()]},
            {"role": "assistant", "content": "after"},
        )
    )
    assert repairs == ("merged_same_role_turns",)
    assert (d.turns[1].content, d.turns[1].weight) == ("a\n\nb", 0)
    assert [t.content for t in d.turns[3:]] == ["", "after"]


def test_a_tool_exchange_before_the_first_user_turn_is_dropped_like_a_leading_assistant():
    value = {
        "messages": [
            {"role": "assistant", "content": "", "tool_calls": [call()]},
            {"role": "tool", "content": "r"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]
    }
    d, repairs, _ = norm(value)
    assert [t.role for t in d.turns] == ["user", "assistant"] and repairs == ("dropped_leading_assistant_turn",)
