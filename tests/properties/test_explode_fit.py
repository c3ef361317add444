"""Explosion and truncation invariants, checked against the real bundled tokenizer:

- one example per assistant turn (per_response), one window per dialogue or consecutive fitting
  windows (whole_dialog);
- no example over budget: len(encoder.encode_text(text)) <= max_seq_length, and the ids are exactly
  the tokenizer's;
- every assistant turn ends in an example or a too_long reject (or its dialogue in one
  special_tokens_in_content reject);
- memory is dropped only when needed: one more pair of older turns would not fit.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from beam_prep.core.explode import explode
from beam_prep.core.fit import window_text
from beam_prep.core.normalize import normalize
from beam_prep.core.records import ASSISTANT, Dialogue, Example, RawRecord, Reject, Turn
from beam_prep.core.screen import special_token_reject
from tests.properties.strategies import chat_turns, records
from tests.templates.helpers import fit

SETTINGS = settings(max_examples=60, deadline=None)
TEMPLATES = ["llama2-chat-memory", "falcon", "chatml", "mistral"]
_fitters: dict = {}


def fitter_for(make_fitter, template: str, max_seq_length: int):
    key = (template, max_seq_length)
    if key not in _fitters:
        _fitters[key] = make_fitter(template, max_seq_length)
    return _fitters[key]


def make_dialogue(system, contents) -> Dialogue:
    turns = ([Turn("system", system)] if system is not None else []) + [
        Turn("user" if i % 2 == 0 else "assistant", c) for i, c in enumerate(contents)
    ]
    return Dialogue("d", tuple(turns), "p.jsonl", 1)


def assistants(dialogue: Dialogue) -> list[int]:
    first = 1 if dialogue.has_system else 0
    return [i for i in range(first + 1, len(dialogue.turns)) if dialogue.turns[i].role == ASSISTANT]


def check_example(fitter, encoder, ex: Example) -> None:
    text, completion = window_text(fitter, ex)
    ids = encoder.encode_text(text)
    assert ids == list(ex.input_ids) and len(ids) <= fitter.max_seq_length
    assert len(ex.labels) == len(ids) and 0 < completion < len(text)


@SETTINGS
@given(chat_turns())
def test_explode_one_example_per_assistant_turn(chat):
    dialogue = make_dialogue(*chat)
    targets = assistants(dialogue)
    per_response = explode(dialogue, "per_response")
    assert [ex.end for ex in per_response] == [ex.turn_index for ex in per_response] == targets
    assert all(ex.trained == (ex.end,) and ex.start == (1 if dialogue.has_system else 0) for ex in per_response)
    whole = explode(dialogue, "whole_dialog")
    assert [(ex.end, ex.trained, ex.turn_index) for ex in whole] == (
        [(targets[-1], tuple(targets), -1)] if targets else []
    )


@SETTINGS
@given(chat_turns(), st.sampled_from(TEMPLATES), st.integers(24, 400))
def test_per_response_fits_and_accounts_for_every_turn(make_fitter, encoder, chat, template, budget):
    fitter = fitter_for(make_fitter, template, budget)
    dialogue = make_dialogue(*chat)
    examples, rejects = fit(fitter, dialogue, "per_response")
    assert {r.reason for r in rejects} <= {"too_long"} and all(r.dialogue_id == "d" for r in rejects)
    assert len(examples) + len(rejects) == len(assistants(dialogue))
    assert len({ex.turn_index for ex in examples}) == len(examples)
    event(f"examples: {bool(examples)}, too_long: {bool(rejects)}, truncated: {any(e.dropped_turns for e in examples)}")
    first = 1 if dialogue.has_system else 0
    for ex in examples:
        check_example(fitter, encoder, ex)
        assert ex.dropped_turns == ex.start - first and ex.context_turns == ex.end - ex.start
        if ex.dropped_turns:  # one more pair of memory would not have fitted
            assert fitter.count(dialogue, ex.start - 2, ex.end) > budget


@SETTINGS
@given(chat_turns(), st.sampled_from(TEMPLATES), st.integers(24, 400))
def test_whole_dialog_windows_fit_and_cover_every_turn_once(make_fitter, encoder, chat, template, budget):
    fitter = fitter_for(make_fitter, template, budget)
    dialogue = make_dialogue(*chat)
    examples, rejects = fit(fitter, dialogue, "whole_dialog")
    trained = [t for ex in examples for t in ex.trained]
    assert len(trained) == len(set(trained)) and {r.reason for r in rejects} <= {"too_long"}
    assert len(trained) + len(rejects) == len(assistants(dialogue))
    event(f"windows: {min(len(examples), 3)}, too_long: {bool(rejects)}")
    for ex in examples:
        check_example(fitter, encoder, ex)


@SETTINGS
@given(records(messy=False), st.integers(24, 200))
def test_normalised_records_with_special_text(make_fitter, encoder, value, budget):
    """Contents with `</s>`, `[INST]`, odd spaces: a dialogue is wholly rejected or its turns accounted for."""
    dialogue, _, _ = normalize(RawRecord("p.jsonl", 1, value))
    if dialogue is None:
        return
    fitter = fitter_for(make_fitter, "llama2-chat-memory", budget)
    special_reject = special_token_reject(fitter.encoder, dialogue)
    out = (
        [special_reject]
        if special_reject
        else list(fitter.fit([(dialogue, explode(dialogue, "per_response"))], "per_response"))
    )
    special = any(isinstance(o, Reject) and o.reason == "special_tokens_in_content" for o in out)
    event(f"special tokens: {special}")
    if special:
        assert len(out) == 1 and any(encoder.find_special(t.content) for t in dialogue.turns)
        return
    assert len(out) == len(assistants(dialogue))
    for ex in out:
        if isinstance(ex, Example):
            check_example(fitter, encoder, ex)
        else:
            assert ex.reason == "too_long"
