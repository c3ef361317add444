"""`mistral-v3-tools` against the authors' encoder: mistral-common's InstructTokenizerV3.

Reference: `MistralTokenizer.from_file(<the v3 model shipped in mistral-common>, finetuning
validation).encode_chat_completion(ChatCompletionRequest(messages=..., tools=...))`, the request
built from the raw OpenAI record's window (not from our Turns). Our side: the same model converted to
tokenizer.json (tests/fixtures/tokenizers/mistral-v3, provenance in its README) loaded through our
TextEncoder. Labels: the tokens mistral-common itself encodes for each trained assistant message
(its own per-message encoders, walked as encode_instruct walks them), -100 elsewhere.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from beam_prep.core.fit import IGNORE_INDEX, window_text
from tests.templates.helpers import MODES, TOKENIZERS, check_example, dialogue, fit, window_messages
from tests.templates.test_invariants import DIALOGUES, LONG
from tests.templates.test_tool_templates import dialogue_of, fitter, run

pytest.importorskip("sentencepiece")
mistral_common = pytest.importorskip("mistral_common")
from mistral_common.exceptions import MistralCommonException  # noqa: E402
from mistral_common.protocol.instruct.messages import AssistantMessage, ToolMessage, UserMessage  # noqa: E402
from mistral_common.protocol.instruct.request import ChatCompletionRequest  # noqa: E402
from mistral_common.protocol.instruct.validator import ValidationMode  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

TOKENIZER = TOKENIZERS["mistral-v3"]
MODEL = Path(mistral_common.__file__).parent / "data" / "mistral_instruct_tokenizer_240323.model.v3"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get-time", "parameters": {}}}  # no description: ""


def call(name, args, id):
    return {"id": id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def exchange(n: int, result: str, weight: int = 1) -> list[dict]:
    return [
        {"role": "user", "content": f"What is the weather in city number {n}?"},
        {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": f"C{n}"}, f"call{n:05d}")]},
        {"role": "tool", "tool_call_id": f"call{n:05d}", "content": result},
        {"role": "assistant", "content": f"It is {10 + n} degrees in C{n}.", "weight": weight},
    ]


RECORDS = {
    "plain_with_tools": {
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi! Ask me about the weather."},
        ],
    },
    "one_call_system": {
        "tools": [WEATHER],
        "messages": [{"role": "system", "content": "You help with weather."}, *exchange(1, "Sunny, 11 degrees.")],
    },
    "parallel_calls": {
        "tools": [WEATHER, TIME],
        "messages": [
            {"role": "user", "content": "Weather in A and the time?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("get_weather", {"city": "A"}, "aaaaaaaa1"), call("get-time", {}, "bbbbbbbb2")],
            },
            {"role": "tool", "tool_call_id": "aaaaaaaa1", "content": "Rain"},
            {"role": "tool", "tool_call_id": "bbbbbbbb2", "content": "10:42"},
            {"role": "assistant", "content": "Rain in A; it is 10:42."},
        ],
    },
    "multi_turn_json_results": {  # JSON results are re-serialised by mistral-common: '{"t":1}' -> '{"t": 1}'
        "tools": [WEATHER],
        "messages": [
            {"role": "system", "content": "Be brief.  Use tools."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!", "weight": 0},
            *exchange(2, '{"temp":12,"sky":"clear"}'),
            *exchange(3, "42"),
            {"role": "user", "content": "Thanks a lot"},
            {"role": "assistant", "content": "You are welcome."},
        ],
    },
    "long": {
        "tools": [WEATHER],
        "messages": [m for n in range(8) for m in exchange(n, f"Cloudy, {n} degrees.", weight=int(n % 3 != 1))],
    },
}


@pytest.fixture(scope="module")
def v3():
    return MistralTokenizer.from_file(str(MODEL), mode=ValidationMode.finetuning)


def request_of(raw: dict, start: int, end: int, system: str | None = None) -> ChatCompletionRequest:
    """The window's request from the raw record: its system message, then messages[start..end]."""
    messages = copy.deepcopy(raw["messages"])
    head = [messages[0]] if messages[0]["role"] == "system" else []
    head = head or ([{"role": "system", "content": system}] if system else [])
    body = [{k: v for k, v in m.items() if k != "weight"} for m in messages[start : end + 1]]
    return ChatCompletionRequest(messages=head + body, tools=raw.get("tools"))


def reference(v3, request: ChatCompletionRequest, trained: list[bool]) -> tuple[list[int], list[int]]:
    """(tokens, labels): encode_chat_completion's tokens, and labels on the tokens mistral-common
    encodes for each trained assistant message (`trained`: one flag per assistant message)."""
    tokens = v3.encode_chat_completion(request).tokens
    it = v3.instruct_tokenizer
    instruct = v3._instruct_request_normalizer.from_chat_completion_request(
        v3._chat_completion_request_validator.validate_request(request)
    )
    first, last = it.find_first_last_user(instruct)
    ids, labels, flags = [it.tokenizer.bos_id], [IGNORE_INDEX], iter(trained)
    for i, m in enumerate(instruct.messages):
        if isinstance(m, UserMessage):
            tools, system = instruct.available_tools, instruct.system_prompt
            piece = it.encode_user_message(m, tools, i == last, i == first, system)[0]
        elif isinstance(m, ToolMessage):
            piece = it.encode_tool_message(m, i < last)[0]
        else:
            assert isinstance(m, AssistantMessage)
            piece = it.encode_assistant_message(m, i < last)
        ids += piece
        labels += piece if isinstance(m, AssistantMessage) and next(flags) else [IGNORE_INDEX] * len(piece)
    assert ids == tokens, "the per-message walk gives encode_chat_completion's tokens"
    return tokens, labels


def trained_flags(d, ex) -> list[bool]:
    return [i in ex.trained for i in range(ex.start, ex.end + 1) if d.turns[i].role == "assistant"]


def test_converted_tokenizer_equals_mistral_commons_on_text(v3):
    """The fixture's tokenizer.json against the SentencePiece model it was converted from."""
    hf = fitter("mistral-v3-tools", TOKENIZER).encoder.hf
    sp = v3.instruct_tokenizer.tokenizer
    texts = [t.content for d in DIALOGUES + LONG for t in d.turns if "[" not in t.content]
    texts += ["  two leading", "trailing  ", "a\n\n  b\t\tc", '[{"a": 1}, {"b": "ü 你好 🙂"}]', "x" * 300]
    for text in texts:
        assert hf(text, add_special_tokens=False)["input_ids"] == sp.encode(text, bos=False, eos=False), text
    assert (
        MistralTokenizer.v3().instruct_tokenizer.tokenizer.encode("same model", bos=True, eos=False)
        == hf("same model")["input_ids"]
    )


@pytest.mark.parametrize("mode", MODES)
def test_tool_dialogues_ids_and_labels_equal_mistral_common(v3, mode):
    checked = truncated = 0
    for budget in (4096, 200, 120):
        f = fitter("mistral-v3-tools", TOKENIZER, budget)
        for name, raw in RECORDS.items():
            d = dialogue_of(name, raw)
            examples, rejects = run(f, d, mode)
            assert {r.reason for r in rejects} <= {"too_long"}, rejects
            for ex in examples:
                has_system = d.has_system
                tokens, labels = reference(v3, request_of(raw, ex.start, ex.end), trained_flags(d, ex))
                assert list(ex.input_ids) == tokens, name
                assert list(ex.labels) == labels, name
                assert len(ex.input_ids) <= budget
                text, completion = window_text(f, ex)  # the row's text and prompt/completion boundary
                prompt = f.encoder.hf(text[:completion])["input_ids"]
                assert (
                    f.encoder.hf(text)["input_ids"] == list(ex.input_ids)
                    and list(ex.input_ids)[: len(prompt)] == prompt
                )
                assert ex.labels[len(prompt) - 1] == IGNORE_INDEX != ex.labels[len(prompt)]
                checked += 1
                truncated += ex.start > int(has_system)
    assert checked >= (20 if mode == "per_response" else 8) and truncated > 0


@pytest.mark.parametrize("system", [None, "You are a pirate.  Answer in two lines."])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_seq_length", [4096, 160, 72])
def test_plain_dialogues_ids_and_labels_equal_mistral_common(v3, system, mode, max_seq_length):
    """The fast path (no tools): the system prompt goes in the last user message of each window.
    (Not in test_invariants.py: `[INST]` in a content is a control token for v3, so those dialogues
    are rejected as special_tokens_in_content.)"""
    f = fitter("mistral-v3-tools", TOKENIZER, max_seq_length, system_prompt=system)
    checked = multi = 0
    for d in DIALOGUES + LONG:
        examples, rejects = fit(f, d, mode)
        assert {r.reason for r in rejects} <= {"too_long", "special_tokens_in_content"}
        for ex in examples:
            request = ChatCompletionRequest(messages=window_messages(f, ex))
            tokens, labels = reference(v3, request, trained_flags(d, ex))
            assert list(ex.input_ids) == tokens and list(ex.labels) == labels
            check_example(f, ex)  # and every invariant of tests/templates/test_invariants.py
            checked += 1
            multi += sum(d.turns[i].role == "user" for i in range(ex.start, ex.end + 1)) > 1
    assert checked > (10 if mode == "per_response" else 4) and multi > 0


def test_golden_text():
    f = fitter("mistral-v3-tools", TOKENIZER)
    d = dialogue_of("g", RECORDS["one_call_system"])
    (ex,), _ = run(f, d, "whole_dialog")
    text = f.structured.text(d, ex.start, ex.end, ex.trained)[0]
    tools = json.dumps([WEATHER])
    assert text == (
        f"[AVAILABLE_TOOLS]{tools}[/AVAILABLE_TOOLS][INST]You help with weather.\n\n"
        "What is the weather in city number 1?[/INST]"
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "C1"}, "id": "call00001"}]</s>'
        '[TOOL_RESULTS]{"content": "Sunny, 11 degrees.", "call_id": "call00001"}[/TOOL_RESULTS]'
        "It is 11 degrees in C1.</s>"
    )
    plain = fitter("mistral-v3-tools", TOKENIZER)
    (ex,), _ = fit(plain, dialogue("U1", "A1", "U2", "A2", system="S"), "whole_dialog")
    assert plain.encoder.hf.decode(ex.input_ids) == "<s>[INST] U1[/INST] A1</s>[INST] S\n\nU2[/INST] A2</s>"


def _with(record: dict, **changes) -> dict:
    raw = copy.deepcopy(record)
    for path, value in changes.items():
        *keys, last = path.split("__")
        target = raw
        for k in keys:
            target = target[int(k)] if k.isdigit() else target[k]
        target[int(last) if last.isdigit() else last] = value
    return raw


BASE = RECORDS["one_call_system"]
REFUSED = {  # what mistral-common refuses, the template refuses (unsupported_by_template)
    "short_call_id": _with(
        BASE,
        messages__2__tool_calls=[call("get_weather", {"city": "C1"}, "c1")],
        messages__3__tool_call_id="c1",
    ),
    "content_and_call": _with(BASE, messages__2__content="Let me check."),
    "bad_function_name": _with(BASE, tools=[{"type": "function", "function": {"name": "get w", "parameters": {}}}]),
    "no_parameters": _with(BASE, tools=[{"type": "function", "function": {"name": "get_weather"}}]),
    "extra_tool_key": _with(BASE, tools=[{**WEATHER, "function": {**WEATHER["function"], "examples": []}}]),
    "fewer_results_than_calls": _with(
        BASE,
        messages__2__tool_calls=[
            call("get_weather", {"city": "C1"}, "call00001"),
            call("get_weather", {"city": "C2"}, "call00002"),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_mistral_common_refuses_is_rejected_with_a_reason(v3, name):
    raw = REFUSED[name]
    d = dialogue_of(name, raw)
    with pytest.raises((MistralCommonException, ValueError)):
        v3.encode_chat_completion(request_of(raw, 1, len(raw["messages"]) - 1))
    for mode in MODES:
        examples, rejects = run(fitter("mistral-v3-tools", TOKENIZER), d, mode)
        assert not examples and {r.reason for r in rejects} == {"unsupported_by_template"}
        assert all("mistral v3" in r.detail for r in rejects)


def test_reasoning_is_refused_unless_dropped():
    raw = _with(BASE, messages__4__reasoning_content="Sunny means warm.")
    d = dialogue_of("r", raw)
    examples, rejects = run(fitter("mistral-v3-tools", TOKENIZER), d, "per_response")
    assert not examples and rejects[0].reason == "unsupported_by_template" and "reasoning" in rejects[0].detail
    examples, rejects = run(fitter("mistral-v3-tools", TOKENIZER, reasoning="drop"), d, "per_response")
    assert len(examples) == 2 and not rejects
