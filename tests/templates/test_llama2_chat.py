"""`llama2-chat` against Meta's reference: token ids from llama/generation.py's algorithm run with a
real SentencePiece model, text from the Llama-2-chat HF chat template.

The SentencePiece model is mistral-common's tokenizer.model.v1, token-for-token the bundled Mistral
tokenizer (shared fixtures README): Meta's algorithm, encoded by SentencePiece itself, not by us.
"""

from __future__ import annotations

import importlib.resources

import pytest
from jinja2 import TemplateError as JinjaTemplateError

from tests.templates.helpers import CHAT_TEMPLATES, MODES, check_example, dialogue, fit, fitter, window_messages
from tests.templates.test_invariants import DIALOGUES, LONG

spm = pytest.importorskip("sentencepiece")
B_INST, E_INST = "[INST]", "[/INST]"
B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"


@pytest.fixture(scope="module")
def sp():
    path = importlib.resources.files("mistral_common") / "data" / "tokenizer.model.v1"
    return spm.SentencePieceProcessor(model_file=str(path))


def meta_chat_tokens(sp, dialog: list[dict]) -> list[int]:
    """llama/generation.py Llama.chat_completion's prompt tokens, for a dialog that ends with the
    assistant answer being trained: every user/assistant pair encoded like the history pairs."""
    if dialog[0]["role"] == "system":
        dialog = [
            {"role": dialog[1]["role"], "content": B_SYS + dialog[0]["content"] + E_SYS + dialog[1]["content"]}
        ] + dialog[2:]
    assert all(m["role"] == "user" for m in dialog[::2]) and all(m["role"] == "assistant" for m in dialog[1::2])
    tokens: list[int] = []
    for prompt, answer in zip(dialog[::2], dialog[1::2]):
        text = f"{B_INST} {(prompt['content']).strip()} {E_INST} {(answer['content']).strip()} "
        tokens += [sp.bos_id(), *sp.encode(text), sp.eos_id()]
    return tokens


@pytest.fixture(scope="module")
def hf_llama2():
    """The bundled tokenizer rendering the Llama-2-chat HF chat template (shared fixtures, verbatim)."""
    from tests.templates.helpers import encoder

    hf = encoder("mistral").hf
    template = (CHAT_TEMPLATES / "llama-2-chat.jinja").read_text(encoding="utf-8")
    return lambda messages: hf.apply_chat_template(messages, chat_template=template, tokenize=False)


def test_golden_text_and_ids(sp):
    f = fitter("llama2-chat")
    d = dialogue("U1", "A1", "U2", "A2", system="S")
    examples, _ = fit(f, d)
    assert [check_example(f, ex) for ex in examples] == [
        "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s>",
        "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST] A2 </s>",
    ]
    # the trained span: the answer, the space Meta's code puts after it, and EOS
    second = examples[1]
    trained = [t for t, label in zip(second.input_ids, second.labels) if label != -100]
    assert trained == sp.encode(" A2 ")[-len(trained) + 1 :] + [sp.eos_id()]
    assert f.encoder.hf.convert_ids_to_tokens(trained) == ["▁A", "2", "▁", "</s>"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_seq_length", [4096, 160, 72])
def test_ids_equal_meta_reference(sp, mode, max_seq_length):
    f = fitter("llama2-chat", max_seq_length=max_seq_length)
    checked = 0
    for d in DIALOGUES + LONG:
        examples, _ = fit(f, d, mode)
        for ex in examples:
            assert list(ex.input_ids) == meta_chat_tokens(sp, window_messages(f, ex))
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("mode", MODES)
def test_text_equals_hf_chat_template(hf_llama2, mode):
    f = fitter("llama2-chat", max_seq_length=160)
    for d in DIALOGUES + LONG:
        examples, _ = fit(f, d, mode)
        for ex in examples:
            text = check_example(f, ex)
            assert f.encoder.bos_token + text == hf_llama2(window_messages(f, ex))


def test_system_prompt_flag_goes_into_the_first_kept_turn(sp, hf_llama2):
    f = fitter("llama2-chat", max_seq_length=40, system_prompt="Be kind.")
    d = dialogue("first question here", "first answer here", "second question", "second answer")
    examples, _ = fit(f, d)
    last = examples[-1]
    assert last.dropped_turns == 2
    messages = window_messages(f, last)
    assert messages[0] == {"role": "system", "content": "Be kind."}
    assert list(last.input_ids) == meta_chat_tokens(sp, messages)
    assert "<s>" + check_example(f, last) == hf_llama2(messages)


def test_reference_template_rejects_what_ours_never_emits(hf_llama2):
    """Sanity of the reference: the HF template raises on non-alternating roles, so every window
    compared above really alternated user/assistant."""
    with pytest.raises(JinjaTemplateError):
        hf_llama2([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
