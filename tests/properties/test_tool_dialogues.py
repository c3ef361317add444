"""Truncation and label invariants on random tool dialogues (OpenAI fine-tuning records), checked
against the tokenizer and transformers' apply_chat_template with Qwen2.5's and Qwen3's templates:

- every target (weight-1 assistant turn) ends in an example or a too_long reject;
- an example's text is apply_chat_template of its window, its ids are tokenizer(text), within budget;
- a window starts at a user turn (whole exchanges), and per_response windows only move forward;
- no trained token touches a tool result or the tools header; with Qwen2.5 (prefix-preserving) the
  labels are exactly the targets' spans, so never a weight-0 turn;
- whole_dialog windows are disjoint, in order, and train each target once.
"""

from __future__ import annotations

import functools

from hypothesis import event, given, settings
from hypothesis import strategies as st

from beam_prep.core.explode import explode
from beam_prep.core.fit import IGNORE_INDEX, window_text
from beam_prep.core.loading import FitterSpec
from beam_prep.core.messages import hf_message
from beam_prep.core.normalize import normalize
from beam_prep.core.records import RawRecord
from beam_prep.core.templates import load_template
from tests.properties.strategies import tool_records
from tests.templates.helpers import encoder, fit

SETTINGS = settings(max_examples=40, deadline=None)


@functools.cache
def fitter(tok: str, budget: int):
    return FitterSpec(load_template("tokenizer"), budget).build(encoder(tok))


def trained_spans(f, ex):
    text, _ = window_text(f, ex)
    enc = f.encoder.hf(text, return_offsets_mapping=True)
    return text, [span for span, label in zip(enc["offset_mapping"], ex.labels) if label != IGNORE_INDEX]


def check(f, d, ex):
    text, trained = trained_spans(f, ex)
    hf = f.encoder.hf
    messages = ([hf_message(d.turns[0])] if d.has_system else []) + [
        hf_message(t) for t in d.turns[ex.start : ex.end + 1]
    ]
    assert text == hf.apply_chat_template(messages, tools=f.structured.tools(d), tokenize=False).rstrip()
    assert list(ex.input_ids) == hf(text)["input_ids"] and len(ex.input_ids) <= f.max_seq_length
    assert d.turns[ex.start].role == "user" and trained
    tools = f.structured.tools(d)
    for at in [i for i in range(len(text)) if text.startswith("<tool_response>", i)]:  # results: never
        end = text.index("</tool_response>", at)
        assert not any(s < end and e > at for s, e in trained)
    if f.encoder is encoder("qwen2.5"):  # a prefix-preserving template: labels = the targets' spans exactly
        spans = []
        for t in ex.trained:
            k = len(messages) - (ex.end - t) - 1
            prompt = hf.apply_chat_template(messages[:k], tools=tools, tokenize=False, add_generation_prompt=True)
            upto = hf.apply_chat_template(messages[: k + 1], tools=tools, tokenize=False).rstrip()
            spans.append((len(prompt), len(upto)))
        enc = hf(text, return_offsets_mapping=True)
        expected = [
            i if e > s and any(s < b and e > a for a, b in spans) else IGNORE_INDEX
            for i, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])
        ]
        assert list(ex.labels) == expected  # so never on weight-0 turns, tool results or the tools header
    header_end = text.index("</tools>")
    assert not any(s < header_end for s, _ in trained)


@SETTINGS
@given(st.one_of(tool_records(), tool_records(reasoning=True)), st.sampled_from([120, 220, 400, 4096]))
def test_tool_dialogues_fit_exactly_by_whole_exchanges(record, budget):
    d, repairs, reject = normalize(RawRecord("p.jsonl", 1, record))
    assert reject is None and repairs == ()
    f = fitter("qwen3" if any(t.reasoning for t in d.turns) else "qwen2.5", budget)
    targets = [ex.end for ex in explode(d, "per_response")]
    examples, rejects = fit(f, d, "per_response")
    assert {r.reason for r in rejects} <= {"too_long"} and len(examples) + len(rejects) == len(targets)
    assert [ex.start for ex in examples] == sorted(ex.start for ex in examples)
    event(f"too_long {bool(rejects)}, truncated {any(ex.dropped_turns for ex in examples)}")
    for ex in examples:
        assert ex.trained == (ex.end,) and ex.end in targets
        check(f, d, ex)
    windows, rejects = fit(f, d, "whole_dialog")
    assert {r.reason for r in rejects} <= {"too_long"}
    trained = [t for ex in windows for t in ex.trained]
    assert trained == sorted(set(trained)) and set(trained) <= set(targets)
    for a, b in zip(windows, windows[1:]):
        assert a.end < b.start
    for ex in windows:
        check(f, d, ex)
