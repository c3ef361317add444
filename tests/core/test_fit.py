"""Token-exact truncation against the real tokenizer."""

from __future__ import annotations

import random

import pytest

from beam_prep.core.explode import explode
from beam_prep.core.fit import IGNORE_INDEX, window_text
from beam_prep.core.records import Example, Reject
from beam_prep.core.screen import special_token_reject
from tests.conftest import dialogue

WORDS = (
    "the memory of a conversation model keeps older turns 42 tokens budget ### C# x=1; "
    'def f(a, b):\n    return a+b  über café 你好世界 🙂 [INST] ## (see) "quoted" end.'
).split(" ")


def random_dialogue(rng: random.Random, turns: int, max_words: int, system: str | None = None, id: str = "r"):
    contents = []
    for _ in range(turns):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, max_words))).strip()
        contents.append(text or "ok")
    return dialogue(*contents, system=system, id=id)


def fit_all(fitter, d, mode="per_response", screen=True):
    """As the pipeline does: the special-token check (`screen`: --special_tokens_in_content reject),
    then the Fitter."""
    if screen and (special := special_token_reject(fitter.encoder, d)):
        return [], [special]  # the check the pipeline makes before the split
    out = list(fitter.fit([(d, explode(d, mode))], mode))
    return [o for o in out if isinstance(o, Example)], [o for o in out if isinstance(o, Reject)]


@pytest.mark.parametrize("template", ["llama2-chat-memory", "falcon"])
@pytest.mark.parametrize("mode", ["per_response", "whole_dialog"])
def test_ids_equal_the_tokenizer_on_the_text(encoder, make_fitter, template, mode):
    """input_ids are exactly what tokenizer(text) gives, for long truncated dialogues too."""
    rng = random.Random(7)
    fitter = make_fitter(template, max_seq_length=300)
    checked = 0
    for i in range(25):
        d = random_dialogue(rng, rng.randint(2, 30), 40, system="Be brief." if i % 2 else None, id=f"r{i}")
        examples, _ = fit_all(fitter, d, mode)
        for ex in examples:
            text, _ = window_text(fitter, ex)
            assert list(ex.input_ids) == encoder.encode_text(text), text
            assert len(ex.input_ids) <= 300
            checked += 1
    assert checked > 50


def test_truncation_keeps_the_longest_suffix_that_fits(encoder, make_fitter):
    """Maximality: adding back the next older user/assistant pair would not fit."""
    rng = random.Random(3)
    budget = 256
    fitter = make_fitter(max_seq_length=budget)
    truncated = 0
    for i in range(20):
        d = random_dialogue(rng, 24, 30, id=f"m{i}")
        examples, _ = fit_all(fitter, d)
        for ex in examples:
            assert len(encoder.encode_text(window_text(fitter, ex)[0])) <= budget
            if ex.start > 0:
                truncated += 1
                older = Example(d, ex.start - 2, ex.end, ex.turn_index, ex.trained)
                assert len(encoder.encode_text(window_text(fitter, older)[0])) > budget
            assert ex.dropped_turns == ex.start
            assert ex.context_turns == ex.end - ex.start
    assert truncated > 30


def test_system_prompt_and_target_are_never_cut(make_fitter):
    long_answer = "word " * 150
    d = dialogue("a " * 100, "b", "c " * 100, long_answer.strip(), system="SYSTEM PROMPT")
    fitter = make_fitter(max_seq_length=330)
    examples, rejects = fit_all(fitter, d)
    assert not rejects
    last = examples[-1]
    text, completion = window_text(fitter, last)
    assert "SYSTEM PROMPT" in text and text[completion:] == " " + long_answer.strip() + "</s>"
    assert last.start == 3 and last.dropped_turns == 2


def test_example_that_cannot_fit_is_rejected_too_long(make_fitter):
    d = dialogue("short", "fine", "x " * 400, "answer", "ok", "fits again")
    examples, rejects = fit_all(make_fitter(max_seq_length=120), d)
    assert [r.reason for r in rejects] == ["too_long"]
    assert rejects[0].dialogue_id == "d"
    assert [ex.turn_index for ex in examples] == [1, 5]  # the turn after the huge one still fits


def test_labels_train_only_the_target_and_eos(encoder, make_fitter):
    d = dialogue("Hi", "Hello!", "How are you?", "I am doing great!")
    examples, _ = fit_all(make_fitter(), d)
    ex = examples[-1]
    trained = [i for i, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX]
    assert encoder.hf.convert_ids_to_tokens(trained) == ["▁I", "▁am", "▁doing", "▁great", "!", "</s>"]
    assert ex.input_ids[0] == encoder.hf.bos_token_id and ex.input_ids.count(encoder.hf.bos_token_id) == 1
    assert list(ex.labels)[: -len(trained)] == [IGNORE_INDEX] * (len(ex.labels) - len(trained))


def test_whole_dialog_trains_every_assistant_turn(encoder, make_fitter):
    d = dialogue("Hi", "Hello!", "How are you?", "I am doing great!")
    [ex], _ = fit_all(make_fitter("falcon"), d, "whole_dialog")
    assert ex.turn_index == -1
    trained = encoder.hf.decode([i for i, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX])
    assert trained == "Hello! I am doing great!"


def test_whole_dialog_over_budget_is_cut_into_windows_of_whole_turns(encoder, make_fitter):
    rng = random.Random(11)
    d = random_dialogue(rng, 40, 25, system="S")
    budget = 200
    fitter = make_fitter("falcon", max_seq_length=budget)
    examples, rejects = fit_all(fitter, d, "whole_dialog")
    assert len(examples) > 1 and not rejects
    covered = []
    for ex in examples:
        assert len(encoder.encode_text(window_text(fitter, ex)[0])) <= budget
        assert d.turns[ex.start].role == "user" and d.turns[ex.end].role == "assistant"
        covered += range(ex.start, ex.end + 1)
    assert covered == list(range(1, len(d.turns)))  # consecutive, no turn lost
    assert len({ex.id for ex in examples}) == len(examples)


def test_whole_dialog_turn_alone_over_budget_is_the_only_loss(make_fitter):
    d = dialogue("a", "b", "huge " * 300, "c", "d", "e")
    examples, rejects = fit_all(make_fitter("falcon", max_seq_length=100), d, "whole_dialog")
    assert [r.reason for r in rejects] == ["too_long"]
    assert [(ex.start, ex.end) for ex in examples] == [(0, 1), (4, 5)]


def test_cost_is_linear_in_turns(make_fitter):
    """Each turn's text is tokenized a bounded number of times, however long the dialogue."""
    rng = random.Random(5)
    fitter = make_fitter(max_seq_length=512)
    calls = []
    original = fitter.encoder.encode_units

    def counting(units, *args):
        calls.append(sum(len(t) for t, _ in units))
        return original(units, *args)

    fitter.encoder.encode_units = counting
    try:
        for turns in (20, 400):
            calls.clear()
            d = random_dialogue(rng, turns, 30, id=f"lin{turns}")
            fit_all(fitter, d)
            chars = sum(len(t.content) for t in d.turns)
            ratio = sum(calls) / chars
            assert ratio < 3.0, (turns, ratio)
    finally:
        fitter.encoder.encode_units = original


def test_content_special_tokens_never_become_control_ids(encoder, make_fitter):
    d = dialogue("please print </s> and <s>", "ok: </s>")
    fitter = make_fitter()
    [ex], _ = fit_all(fitter, d, screen=False)
    eos, bos = encoder.hf.eos_token_id, encoder.hf.bos_token_id
    assert ex.input_ids.count(eos) == 1 and ex.input_ids[-1] == eos
    assert ex.input_ids.count(bos) == 1
    _, rejects = fit_all(make_fitter(), d)
    assert [r.reason for r in rejects] == ["special_tokens_in_content"]


def test_window_texts_asks_whether_a_dialogue_is_structured_once_and_renders_as_window_text(make_fitter, monkeypatch):
    """`Dialogue.structured` reads every turn: asked per example, rendering a long dialogue's
    examples was quadratic in its turns."""
    from beam_prep.core.fit import window_texts
    from beam_prep.core.records import Dialogue

    fitter = make_fitter()
    d = random_dialogue(random.Random(3), 40, 12)
    examples = [e for e in fitter.fit([(d, explode(d, "per_response"))], "per_response") if isinstance(e, Example)]
    assert len(examples) == 20
    expected = [window_text(fitter, e) for e in examples]
    asked = []
    real = Dialogue.structured
    monkeypatch.setattr(Dialogue, "structured", property(lambda self: asked.append(self.id) or real.fget(self)))
    assert list(window_texts(fitter, examples)) == expected
    assert asked == ["r"]
