"""Tool calls, tool results, weights and reasoning, token-exact, against the real references.

References: transformers' `apply_chat_template(messages, tools=..., tokenize=False)` with the public
chat templates of Qwen2.5-Instruct, Qwen3 and Llama-3.1/3.3-Instruct (tests/fixtures/chat_templates,
provenance in its README), each in a test tokenizer with that family's control tokens
(tests/fixtures/tokenizers: mistral-qwen2.5, mistral-qwen3, mistral-llama3.1), and `tokenizer(text)`.
The reference messages are built here from the raw OpenAI records, not from our Turns.
"""

from __future__ import annotations

import copy
import json

import pytest

from beam_prep.core.explode import explode
from beam_prep.core.fit import IGNORE_INDEX, window_text
from beam_prep.core.loading import FitterSpec
from beam_prep.core.normalize import normalize
from beam_prep.core.records import Example, RawRecord, Reject
from beam_prep.core.screen import special_token_reject
from beam_prep.core.templates import load_template
from tests.templates.helpers import CHAT_TEMPLATES, MODES, encoder, expected_labels

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "description": "Local time", "parameters": {}}}


def call(name, args, id):
    return {"id": id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def exchange(n: int, reasoning: bool = False, weight: int = 1) -> list[dict]:
    """A user question, a tool call, its result and the answer: one exchange."""
    thought = {"reasoning_content": f"I should look up city {n}."} if reasoning else {}
    return [
        {"role": "user", "content": f"What is the weather in city number {n}?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("get_weather", {"city": f"C{n}"}, f"call{n}")],
            **thought,
        },
        {"role": "tool", "tool_call_id": f"call{n}", "content": f"Sunny, {10 + n} degrees."},
        {"role": "assistant", "content": f"It is sunny and {10 + n} degrees in C{n}.", "weight": weight},
    ]


RECORDS = {
    "one_call": {
        "tools": [WEATHER],
        "messages": [{"role": "system", "content": "You help with weather."}, *exchange(1)],
    },
    "plain_then_tools_weight0": {
        "tools": [WEATHER, TIME],
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi! Ask me about the weather.", "weight": 0},
            *exchange(2),
            {"role": "user", "content": "Thanks a lot"},
            {"role": "assistant", "content": "You are welcome."},
        ],
    },
    "content_and_call": {
        "tools": [TIME],
        "messages": [
            {"role": "user", "content": "Time please"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [call("get_time", {}, "t1")]},
            {"role": "tool", "tool_call_id": "t1", "content": "10:42"},
            {"role": "assistant", "content": "It is 10:42."},
        ],
    },
    "parallel_calls": {
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather in A and B?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [call("get_weather", {"city": "A"}, "a"), call("get_weather", {"city": "B"}, "b")],
            },
            {"role": "tool", "tool_call_id": "a", "content": "Rain"},
            {"role": "tool", "tool_call_id": "b", "content": "Snow"},
            {"role": "assistant", "content": "Rain in A, snow in B."},
        ],
    },
    "long": {"tools": [WEATHER], "messages": [m for n in range(8) for m in exchange(n, weight=int(n % 3 != 1))]},
}
REASONING_RECORDS = {
    "reasoning": {
        "tools": [WEATHER],
        "messages": [
            *exchange(1, reasoning=True),
            {"role": "user", "content": "And tomorrow?"},
            {"role": "assistant", "content": "I cannot forecast.", "reasoning_content": "No forecast tool."},
        ],
    },
    "think_inline": {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>\nAdd them.\n</think>\n\nIt is 4."},
            {"role": "user", "content": "3+3?"},
            {"role": "assistant", "content": "<think>\nAgain.\n</think>\n\nIt is 6."},
        ]
    },
    "long_reasoning": {"tools": [WEATHER], "messages": [m for n in range(6) for m in exchange(n, reasoning=True)]},
}
# (template, tokenizer): the tokenizer's own chat template, and the built-in tool-capable template.
CASES = [("tokenizer", "qwen2.5"), ("tokenizer", "qwen3"), ("tokenizer", "llama3.1"), ("qwen2.5", "qwen2.5")]
SINGLE_CALL_ONLY = {"llama3.1"}  # Llama-3.1's template raises on parallel calls: "only supports single tool-calls"


def dialogue_of(name: str, raw: dict):
    d, repairs, reject = normalize(RawRecord("tools.jsonl", 1, {"id": name, **raw}))
    assert reject is None and repairs == ()
    return d


def reference_messages(raw: dict, ex: Example, system_prompt: str | None) -> list[dict]:
    """The window's messages in apply_chat_template's form, from the raw record."""
    messages = copy.deepcopy(raw["messages"])
    has_system = messages[0]["role"] == "system"
    head = [messages[0]] if has_system else ([{"role": "system", "content": system_prompt}] if system_prompt else [])
    out = []
    for m in messages[ex.start : ex.end + 1]:
        m.pop("weight", None)
        m["content"] = m.get("content") or ""
        for c in m.get("tool_calls", []):
            c["function"]["arguments"] = json.loads(c["function"]["arguments"])
        out.append(m)
    return head + out


def reference(hf, raw, ex, system_prompt=None):
    """(text, trained char spans) by apply_chat_template: each trained message spans from the end of
    the generation prompt before it to the end of its render (trailing whitespace excluded).

    A turn that Qwen3 renders differently in the history (before the last user query) than as the
    last message: its history render is the render of the messages up to it followed by one more
    user query, cut before that query's `<|im_start|>user`."""
    messages, tools = reference_messages(raw, ex, system_prompt), raw.get("tools")

    def render(msgs, gen=False):
        text = hf.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=gen)
        return text[len(hf.bos_token) :] if hf.bos_token and text.startswith(hf.bos_token) else text

    text = render(messages).rstrip()  # the row ends with the last end-of-turn (templates/README.md)
    head = len(messages) - (ex.end - ex.start + 1)
    spans = []
    for t in ex.trained:
        k = head + t - ex.start
        prompt, upto = render(messages[:k], gen=True), render(messages[: k + 1])
        if not text.startswith(upto.rstrip()):
            later = render(messages[: k + 1] + [{"role": "user", "content": "later"}])
            upto = later[: later.rindex("<|im_start|>user")]
        assert upto.startswith(prompt) and text.startswith(upto.rstrip())
        spans.append((len(prompt), len(upto.rstrip())))
    return text, spans


def labels_from(hf, text, spans):
    enc = hf(text, return_offsets_mapping=True)
    return [
        i if e > s and any(s < b and e > a for a, b in spans) else IGNORE_INDEX
        for i, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])
    ]


def run(fitter, d, mode):
    out = list(fitter.fit([(d, explode(d, mode))], mode))
    return [o for o in out if isinstance(o, Example)], [o for o in out if isinstance(o, Reject)]


def fitter(template, tok, budget=4096, **kw):
    return FitterSpec(load_template(template), budget, **kw).build(encoder(tok))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("template, tok", CASES)
def test_text_ids_and_labels_equal_the_references(template, tok, mode):
    checked = 0
    for budget in (4096, 260):
        f = fitter(template, tok, budget)
        hf = f.encoder.hf
        for name, raw in RECORDS.items():
            d = dialogue_of(name, raw)
            examples, rejects = run(f, d, mode)
            if tok in SINGLE_CALL_ONLY and name == "parallel_calls":
                assert not examples and [r.reason for r in rejects] == ["unsupported_by_template"]
                assert "single tool-calls" in rejects[0].detail
                continue
            assert {r.reason for r in rejects} <= {"too_long"}
            for ex in examples:
                text, _ = window_text(f, ex)
                ref_text, spans = reference(hf, raw, ex)
                assert text == ref_text
                assert list(ex.input_ids) == hf(text)["input_ids"] and len(ex.input_ids) <= budget
                assert list(ex.labels) == labels_from(hf, text, spans)
                checked += 1
    assert checked >= (12 if mode == "per_response" else 6)


NEVER_TRAINED = ("Sunny, 12 degrees.", "Hi! Ask me about the weather.", "Current weather of a city")


@pytest.mark.parametrize("tok", ["qwen2.5", "llama3.1"])
def test_labels_are_never_on_tool_results_the_tools_header_or_weight_0_turns(tok):
    f = fitter("tokenizer", tok)
    raw = RECORDS["plain_then_tools_weight0"]
    d = dialogue_of("p", raw)
    seen = dict.fromkeys(NEVER_TRAINED, 0)
    for mode in MODES:
        examples, _ = run(f, d, mode)
        assert [ex.trained for ex in examples] == ([(3,), (5,), (7,)] if mode == "per_response" else [(3, 5, 7)])
        for ex in examples:
            text, _ = window_text(f, ex)
            enc = f.encoder.hf(text, return_offsets_mapping=True)
            trained = [(s, e) for (s, e), label in zip(enc["offset_mapping"], ex.labels) if label != IGNORE_INDEX]
            for never in NEVER_TRAINED:
                at = text.find(never)
                seen[never] += at >= 0
                assert at < 0 or not any(s < at + len(never) and e > at for s, e in trained)
    assert all(seen.values())


GOLDEN_TARGETS = {
    # Hand-written from each template's format: what the model learns to write for the tool call
    # (a weather call for city C1) and for the answer after the result.
    "qwen2.5": [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "C1"}}\n</tool_call><|im_end|>',
        "It is sunny and 11 degrees in C1.<|im_end|>",
    ],
    "llama3.1": [
        '{"name": "get_weather", "parameters": {"city": "C1"}}<|eot_id|>',
        "It is sunny and 11 degrees in C1.<|eot_id|>",
    ],
    "qwen3": [
        '<think>\n\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "C1"}}'
        "\n</tool_call><|im_end|>",
        "<think>\n\n</think>\n\nIt is sunny and 11 degrees in C1.<|im_end|>",
    ],
}


@pytest.mark.parametrize("tok", sorted(GOLDEN_TARGETS))
def test_golden_trained_text(tok):
    f = fitter("tokenizer", tok)
    examples, _ = run(f, dialogue_of("g", RECORDS["one_call"]), "per_response")
    got = [f.encoder.hf.decode([i for i in ex.labels if i != IGNORE_INDEX]) for ex in examples]
    assert [g.lstrip() for g in got] == GOLDEN_TARGETS[tok]


def test_qwen3_reasoning_is_trained_as_rendered_and_history_reasoning_is_the_templates_business():
    f = fitter("tokenizer", "qwen3")
    hf = f.encoder.hf
    assert f.structured.support.position_dependent and f.structured.support.reasoning
    raw = REASONING_RECORDS["reasoning"]
    d = dialogue_of("r", raw)
    per, _ = run(f, d, "per_response")
    for ex in per:
        text, _ = window_text(f, ex)
        ref_text, spans = reference(hf, raw, ex)
        assert text == ref_text and list(ex.labels) == labels_from(hf, text, spans)
    first = hf.decode([i for i in per[0].labels if i != IGNORE_INDEX])
    assert first.lstrip().startswith("<think>\nI should look up city 1.\n</think>\n\n<tool_call>")
    # whole_dialog: one window; Qwen3 drops the reasoning of turns before the last user query, so the
    # trained text of those turns is their history render (golden), and the last keeps its reasoning.
    (whole,), _ = run(f, d, "whole_dialog")
    text, _ = window_text(f, whole)
    reference_text = hf.apply_chat_template(reference_messages(raw, whole, None), tools=raw["tools"], tokenize=False)
    assert text == reference_text.rstrip()  # not Qwen's "\n" after the last <|im_end|>: the row ends with it
    assert "I should look up city 1." not in text
    runs = hf.decode([i if i != IGNORE_INDEX else hf.convert_tokens_to_ids("<|im_start|>") for i in whole.labels])
    trained = [r.strip() for r in runs.split("<|im_start|>") if r.strip()]
    assert trained == [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "C1"}}\n</tool_call><|im_end|>',
        "It is sunny and 11 degrees in C1.<|im_end|>",
        "<think>\nNo forecast tool.\n</think>\n\nI cannot forecast.<|im_end|>",
    ]


@pytest.mark.parametrize("mode", MODES)
def test_qwen3_inline_think_and_reasoning_dialogues_equal_apply_chat_template(mode):
    for budget in (4096, 230):
        f = fitter("tokenizer", "qwen3", budget)
        for name, raw in REASONING_RECORDS.items():
            for ex in run(f, dialogue_of(name, raw), mode)[0]:
                text, _ = window_text(f, ex)
                reference_text = f.encoder.hf.apply_chat_template(
                    reference_messages(raw, ex, None), tools=raw.get("tools"), tokenize=False
                )
                assert text == reference_text.rstrip() and list(ex.input_ids) == f.encoder.hf(text)["input_ids"]


def test_reasoning_drop_leaves_it_out_of_targets():
    raw = REASONING_RECORDS["reasoning"]
    d = dialogue_of("r", raw)
    f = fitter("tokenizer", "qwen3", reasoning="drop")
    for ex in run(f, d, "per_response")[0]:
        text, _ = window_text(f, ex)
        assert (d.turns[ex.end].reasoning or "no reasoning") not in text
    # A template without a reasoning format: rejected, unless reasoning is dropped from targets.
    assert [r.reason for r in run(fitter("tokenizer", "qwen2.5"), d, "per_response")[1]] == ["unsupported_by_template"]
    assert len(run(fitter("tokenizer", "qwen2.5", reasoning="drop"), d, "per_response")[0]) == 3


@pytest.mark.parametrize("template", ["chatml", "llama2-chat-memory", "llama3"])
def test_built_in_templates_without_a_tool_format_reject_tool_dialogues(template):
    f = FitterSpec(load_template(template), 4096).build(
        encoder({"chatml": "chatml", "llama3": "llama3"}.get(template, "mistral"))
    )
    for mode in MODES:
        examples, rejects = run(f, dialogue_of("t", RECORDS["one_call"]), mode)
        assert not examples and [r.reason for r in rejects] == ["unsupported_by_template"]
        assert "no tool format" in rejects[0].detail


@pytest.mark.parametrize("template, tok", CASES)
@pytest.mark.parametrize("budget", [150, 200, 260, 330])
def test_truncation_drops_whole_exchanges(template, tok, budget):
    f = fitter(template, tok, budget)
    raw = RECORDS["long"]
    d = dialogue_of("long", raw)
    for mode in MODES:
        examples, rejects = run(f, d, mode)
        assert {r.reason for r in rejects} <= {"too_long"}
        for ex in examples:
            assert d.turns[ex.start].role == "user"  # never a tool result or a call cut from its results
            assert len(ex.input_ids) <= budget
            text, _ = window_text(f, ex)
            assert "get_weather" in text.split("What is the weather")[0]  # the tools header is always kept
            ref_text, spans = reference(f.encoder.hf, raw, ex)
            assert text == ref_text and list(ex.labels) == labels_from(f.encoder.hf, text, spans)
        if mode == "per_response":
            targets = [e.end for e in explode(d, mode)]
            assert len(examples) + len(rejects) == len(targets)
            starts = [ex.start for ex in examples]
            assert starts == sorted(starts)  # windows only move forward


def test_too_long_when_one_exchange_alone_exceeds_the_budget():
    f = fitter("tokenizer", "qwen2.5", 120)
    examples, rejects = run(f, dialogue_of("one", RECORDS["one_call"]), "per_response")
    assert not examples and [r.reason for r in rejects] == ["too_long", "too_long"]


@pytest.mark.parametrize("template", ["chatml", "llama2-chat", "qwen2.5"])
def test_weight_0_turns_of_plain_dialogues_stay_untrained_on_the_fast_path(template):
    raw = {
        "messages": [
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "A bad answer we keep as context.", "weight": 0},
            {"role": "user", "content": "Second question"},
            {"role": "assistant", "content": "A good answer."},
            {"role": "user", "content": "Third question"},
            {"role": "assistant", "content": "Another good answer."},
        ]
    }
    d = dialogue_of("w", raw)
    assert not d.structured
    tok = {"chatml": "chatml", "qwen2.5": "qwen2.5"}.get(template, "mistral")
    for budget in (4096, {"qwen2.5": 75}.get(template, 40)):  # qwen2.5 writes Qwen's default system prompt
        f = fitter(template, tok, budget)
        for mode in MODES:
            examples, _ = run(f, d, mode)
            assert examples and all(1 not in ex.trained for ex in examples)
            for ex in examples:
                text, _ = window_text(f, ex)
                assert list(ex.input_ids) == f.encoder.hf(text)["input_ids"]
                assert list(ex.labels) == expected_labels(f.encoder.hf, text, ex, f.template.end_of_turn)


HERMES_GOLDEN = [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "C1"}}\n</tool_call><|im_end|>',
    "It is sunny and 11 degrees in C1.<|im_end|>",
]


@pytest.mark.parametrize("budget", [4096, 450])
def test_hermes_3_tool_use_template(tmp_path, budget):
    """NousResearch Hermes-3's named chat templates, as its tokenizer_config.json has them: `default`
    (ChatML) and `tool_use`, which apply_chat_template picks when tools are given, and so do we. Text
    as apply_chat_template renders it, ids as tokenizer(text), and hand-written trained text. Its tool
    results render differently when they are the last message (no newline before <|im_end|>), so the
    prompt before an answer is not a prefix of the window: the answer is located by its header."""
    from tests.templates.test_tokenizer_template import tokenizer_with

    named = [
        {"name": "default", "template": (CHAT_TEMPLATES / "chatml-openhermes.jinja").read_text(encoding="utf-8")},
        {
            "name": "tool_use",
            "template": (CHAT_TEMPLATES / "hermes-3-llama-3.1-tool-use.jinja").read_text(encoding="utf-8"),
        },
    ]
    enc = tokenizer_with(tmp_path / "hermes", "chatml", named)
    f = FitterSpec(load_template("tokenizer"), budget).build(enc)
    truncated = False
    for name in ("one_call", "long", "plain_then_tools_weight0"):
        raw = RECORDS[name]
        d = dialogue_of(name, raw)
        for mode in MODES:
            examples, rejects = run(f, d, mode)
            assert examples and {r.reason for r in rejects} <= {"too_long"}
            truncated |= any(ex.dropped_turns for ex in examples)
            for ex in examples:
                text, _ = window_text(f, ex)
                reference_text = enc.hf.apply_chat_template(
                    reference_messages(raw, ex, None), tools=raw["tools"], tokenize=False
                )
                assert text == reference_text[len("<s>") :].rstrip()
                assert list(ex.input_ids) == enc.hf(text)["input_ids"] and len(ex.input_ids) <= budget
                trained = enc.hf.decode([i if i != IGNORE_INDEX else 32001 for i in ex.labels])
                runs = [r.strip() for r in trained.split("<|im_start|>") if r.strip()]
                assert len(runs) == len(ex.trained)
                if name == "one_call" and mode == "per_response":
                    assert runs == HERMES_GOLDEN[ex.end // 2 - 1 : ex.end // 2]
    assert truncated == (budget < 4096)


@pytest.mark.parametrize(
    "where",
    [
        lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments='{"city": "<|im_end|>"}'),
        lambda r: r["messages"][2].update(reasoning_content="think <|im_start|>"),
        lambda r: r["tools"][0]["function"].update(description="<|im_end|>"),
        lambda r: r["messages"][3].update(content="<|im_end|> result"),
    ],
)
def test_special_token_strings_anywhere_in_a_tool_dialogue_are_rejected(where):
    raw = copy.deepcopy(RECORDS["one_call"])
    where(raw)
    d, _, reject = normalize(RawRecord("s.jsonl", 1, {"id": "s", **raw}))
    assert reject is None
    reject = special_token_reject(fitter("tokenizer", "qwen3").encoder, d)  # before the split, as the pipeline does
    assert reject is not None and reject.reason == "special_tokens_in_content"
