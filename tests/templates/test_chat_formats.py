"""`chatml`, `llama3` and `falcon-instruct` against the model authors' chat templates.

The references are the public chat templates in tests/fixtures/chat_templates (see the README
there) rendered by transformers' apply_chat_template, and the ids are AutoTokenizer(text) of the
test tokenizers that carry each family's special tokens (tests/fixtures/tokenizers).
"""

from __future__ import annotations

import pytest

from tests.templates.helpers import (
    CHAT_TEMPLATES,
    MODES,
    check_example,
    dialogue,
    encoder,
    fit,
    fitter,
    window_messages,
    without_untrained_tail,
)
from tests.templates.test_invariants import DIALOGUES, LONG

# template -> (reference chat template file, test tokenizer)
REFERENCES = {
    "chatml": ("chatml-openhermes.jinja", "chatml"),
    "llama3": ("llama-3-instruct.jinja", "llama3"),
    "falcon-instruct": ("falcon-7b-instruct.jinja", "mistral"),
}


def reference_text(template: str, messages: list[dict]) -> str:
    source, tokenizer = REFERENCES[template]
    hf = encoder(tokenizer).hf
    chat_template = (CHAT_TEMPLATES / source).read_text(encoding="utf-8")
    text = hf.apply_chat_template(messages, chat_template=chat_template, tokenize=False)
    if template == "falcon-instruct":
        text += hf.eos_token  # ours closes the target answer with EOS; the HF template has none
    return text


def trained_tokens(f, ex) -> list[str]:
    ids = [t for t, label in zip(ex.input_ids, ex.labels) if label != -100]
    return f.encoder.hf.convert_ids_to_tokens(ids)


def test_chatml_golden():
    f = fitter("chatml")
    examples, _ = fit(f, dialogue("Hi", "Hello!", "2+2?", "4", system="Be brief."))
    text = check_example(f, examples[1])
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>"
    )  # the row ends with the trained <|im_end|>: the template's newline after it is left out
    assert trained_tokens(f, examples[1]) == ["4", "<|im_end|>"]
    assert examples[1].input_ids[0] == 1  # this tokenizer's BOS <s>, added by the tokenizer


def test_llama3_golden_and_a_single_bos():
    f = fitter("llama3")
    examples, _ = fit(f, dialogue("Hi", "Hello!", system="Be brief."))
    text = check_example(f, examples[0])
    assert text == (
        "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    )
    assert trained_tokens(f, examples[0])[-1] == "<|eot_id|>"
    hf = f.encoder.hf
    bos = hf.convert_tokens_to_ids("<|begin_of_text|>")
    # The usual mistake: the template writes <|begin_of_text|> and the tokenizer adds it again.
    naive = hf(reference_text("llama3", window_messages(f, examples[0])))["input_ids"]
    assert naive[:2] == [bos, bos]
    assert examples[0].input_ids.count(bos) == 1 and list(examples[0].input_ids) == naive[1:]


def test_falcon_instruct_golden():
    f = fitter("falcon-instruct")
    examples, _ = fit(f, dialogue("Hi", "Hello!", "2+2?", "4", system="Be brief."), "whole_dialog")
    text = check_example(f, examples[0])
    assert text == "System: Be brief.\nUser: Hi\nFalcon: Hello!\nUser: 2+2?\nFalcon: 4</s>"
    # "Falcon: 4" is "▁" "4": the space before a digit is its own token, trained with the answer
    # (as the space merged into "▁Hello"), so every prompt ends "Falcon:", the generation prompt
    assert trained_tokens(f, examples[0]) == ["▁Hello", "!", "▁", "4", "</s>"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("template", sorted(REFERENCES))
def test_text_equals_the_authors_template_and_ids_the_tokenizer(template, mode):
    checked = 0
    for max_seq_length in (4096, 96):
        f = fitter(template, max_seq_length=max_seq_length, system_prompt="Sys  prompt.")
        for d in DIALOGUES + LONG:
            examples, _ = fit(f, d, mode)
            for ex in examples:
                text = check_example(f, ex)  # includes input_ids == AutoTokenizer(text)
                reference = reference_text(template, window_messages(f, ex))
                bos = f.encoder.bos_token
                reference = reference[len(bos) :] if reference.startswith(bos) else reference
                assert text == without_untrained_tail(reference, ex, f.template.end_of_turn)
                checked += 1
    assert checked > 20


def test_a_system_prompt_flag_with_surrounding_whitespace():
    """The Llama-3 template trims contents; a --system_prompt is stripped like every content, so the
    text still equals the authors' template given the raw flag value."""
    raw = "  Be brief.\n"
    f = fitter("llama3", system_prompt=raw)
    [ex], _ = fit(f, dialogue("Hi", "Hello!"))
    messages = [
        {"role": "system", "content": raw},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert "<|begin_of_text|>" + check_example(f, ex) == reference_text("llama3", messages)
