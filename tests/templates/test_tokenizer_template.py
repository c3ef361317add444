"""The `tokenizer` template (the tokenizer's own chat_template) and templates from a user's path.

Reference: transformers' apply_chat_template with the same chat template and messages. The chat
templates are real public ones (tests/fixtures/chat_templates/README.md), each put into a copy of a
test tokenizer's tokenizer_config.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from beam_prep.core.fit import window_text
from beam_prep.core.loading import FitterSpec
from beam_prep.core.templates import TemplateError, load_template
from beam_prep.core.tokenizer import TextEncoder
from tests.templates.helpers import (
    CHAT_TEMPLATES,
    MODES,
    TOKENIZERS,
    check_example,
    dialogue,
    encoder,
    fit,
    window_messages,
    without_untrained_tail,
)
from tests.templates.test_invariants import DIALOGUES, LONG

# chat template file -> the test tokenizer that has its control tokens
CHAT_TEMPLATE_TOKENIZER = {
    "llama-2-chat.jinja": "mistral",
    "chatml-openhermes.jinja": "chatml",
    "qwen2-instruct.jinja": "chatml",
    "llama-3-instruct.jinja": "llama3",
    "llama-3-instruct-original.jinja": "llama3",
    "falcon-7b-instruct.jinja": "mistral",
    "zephyr-7b-beta.jinja": "mistral",
}


def tokenizer_with(tmp: Path, base: str, chat_template: str | None, as_file: bool = False) -> TextEncoder:
    """A copy of a test tokenizer whose tokenizer_config.json (or chat_template.jinja) holds `chat_template`."""
    tmp.mkdir(parents=True, exist_ok=True)
    src = Path(TOKENIZERS[base])
    shutil.copy(src / "tokenizer.json", tmp / "tokenizer.json")
    config = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    if chat_template is not None and as_file:
        (tmp / "chat_template.jinja").write_text(chat_template, encoding="utf-8")
    elif chat_template is not None:
        config["chat_template"] = chat_template
    (tmp / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return TextEncoder(tmp)


@pytest.fixture(scope="module", params=sorted(CHAT_TEMPLATE_TOKENIZER))
def tokenizer_fitters(request, tmp_path_factory):
    name = request.param
    source = (CHAT_TEMPLATES / name).read_text(encoding="utf-8")
    enc = tokenizer_with(tmp_path_factory.mktemp(name), CHAT_TEMPLATE_TOKENIZER[name], source)
    spec = load_template("tokenizer")
    return [FitterSpec(spec, n, system_prompt="Sys  prompt.").build(enc) for n in (4096, 96)]


@pytest.mark.parametrize("mode", MODES)
def test_text_equals_apply_chat_template(tokenizer_fitters, mode):
    checked = 0
    for f in tokenizer_fitters:
        hf = f.encoder.hf
        for d in DIALOGUES + LONG:
            examples, _ = fit(f, d, mode)
            for ex in examples:
                text = check_example(f, ex)
                reference = hf.apply_chat_template(window_messages(f, ex), tokenize=False)
                bos = hf.bos_token
                reference = reference[len(bos) :] if reference.startswith(bos) else reference
                assert text == without_untrained_tail(reference, ex, f.template.end_of_turn)
                checked += 1
    assert checked > 20


def test_prompt_is_the_generation_prompt(tokenizer_fitters):
    """What an inference server sends, apply_chat_template(..., add_generation_prompt=True) of the
    turns before the answer, is exactly `prompt`."""
    checked = 0
    for f in tokenizer_fitters:
        hf = f.encoder.hf
        for d in DIALOGUES + LONG:
            for ex in fit(f, d)[0]:
                text, start = window_text(f, ex)
                server = hf.apply_chat_template(window_messages(f, ex)[:-1], tokenize=False, add_generation_prompt=True)
                bos = hf.bos_token
                assert text[:start] == (server[len(bos) :] if server.startswith(bos) else server)
                checked += 1
    assert checked > 10


def test_the_bundled_tokenizer_template_has_no_source():
    spec = load_template("tokenizer")
    assert spec.source.strip() == "" and spec.description


def test_chat_template_jinja_beside_the_tokenizer(tmp_path):
    source = (CHAT_TEMPLATES / "zephyr-7b-beta.jinja").read_text(encoding="utf-8")
    enc = tokenizer_with(tmp_path, "mistral", source, as_file=True)
    f = FitterSpec(load_template("tokenizer"), 4096).build(enc)
    examples, _ = fit(f, dialogue("Hi", "Hello!", system="Be brief."))
    assert check_example(f, examples[0]) == "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>"


def test_a_tokenizer_without_chat_template_is_an_error(tmp_path):
    enc = tokenizer_with(tmp_path, "mistral", None)
    with pytest.raises(TemplateError, match="no chat_template"):
        FitterSpec(load_template("tokenizer"), 4096).build(enc)


VICUNA = (
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + ' ' }}{% endif %}"
    "{% for m in messages if m['role'] != 'system' %}"
    "{% if m['role'] == 'user' %}{{ 'USER: ' + m['content'] + ' ' }}"
    "{% else %}{{ 'ASSISTANT: ' + m['content'] + eos_token }}{% endif %}{% endfor %}"
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_yaml", [True, False])
def test_a_users_template_from_a_path(tmp_path, mode, with_yaml):
    path = tmp_path / "vicuna.jinja"
    path.write_text(VICUNA, encoding="utf-8")
    if with_yaml:
        (tmp_path / "vicuna.yaml").write_text(
            "description: Vicuna v1.1\nend_of_turn: eos_token\ndefault_system_prompt: A chat.\n", encoding="utf-8"
        )
    spec = load_template(str(path))
    assert spec.name == "vicuna" and spec.path == str(path)
    for max_seq_length in (4096, 72):
        f = FitterSpec(spec, max_seq_length).build(encoder("mistral"))
        for d in DIALOGUES + LONG:
            examples, _ = fit(f, d, mode)
            for ex in examples:
                check_example(f, ex)
    examples, _ = fit(FitterSpec(spec, 4096).build(encoder("mistral")), dialogue("Hi", "Hello!"), mode)
    text = check_example(f, examples[0])
    trained = f.encoder.hf.convert_ids_to_tokens(
        [t for t, lab in zip(examples[0].input_ids, examples[0].labels) if lab != -100]
    )
    if with_yaml:
        assert text == "A chat. USER: Hi ASSISTANT: Hello!</s>" and trained == ["▁Hello", "!", "</s>"]
    else:
        # no end_of_turn declared: the EOS is not trained, so the row ends with the answer
        assert text == "USER: Hi ASSISTANT: Hello!" and trained == ["▁Hello", "!"]


def test_end_of_turn_is_the_chat_templates_own_not_the_eos(tmp_path):
    """Early Llama-3-Instruct configs have EOS <|end_of_text|>, but the model's format (Meta's model
    card) ends every turn with <|eot_id|>, and generation stops there: that token must be trained."""
    source = (CHAT_TEMPLATES / "llama-3-instruct.jinja").read_text(encoding="utf-8")
    enc = tokenizer_with(tmp_path / "old-config", "llama3", source)
    config = json.loads((tmp_path / "old-config" / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["eos_token"] = "<|end_of_text|>"
    (tmp_path / "old-config" / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    enc = TextEncoder(tmp_path / "old-config")
    assert enc.eos_token == "<|end_of_text|>"
    f = FitterSpec(load_template("tokenizer"), 4096).build(enc)
    assert f.template.end_of_turn == "<|eot_id|>"
    examples, _ = fit(f, dialogue("Hi", "Hello!", "More?", "Sure."))
    for ex in examples:
        check_example(f, ex)
        trained = enc.hf.convert_ids_to_tokens([t for t, lab in zip(ex.input_ids, ex.labels) if lab != -100])
        assert trained[-1] == "<|eot_id|>" and "<|end_of_text|>" not in trained


@pytest.mark.parametrize(
    "name,expected",
    [
        ("llama-2-chat.jinja", "</s>"),
        ("chatml-openhermes.jinja", "<|im_end|>"),
        ("qwen2-instruct.jinja", "<|im_end|>"),
        ("llama-3-instruct.jinja", "<|eot_id|>"),
        ("zephyr-7b-beta.jinja", "</s>"),
        ("falcon-7b-instruct.jinja", ""),  # nothing after the answer but a newline
    ],
)
def test_end_of_turn_auto_per_public_chat_template(tmp_path, name, expected):
    source = (CHAT_TEMPLATES / name).read_text(encoding="utf-8")
    enc = tokenizer_with(tmp_path, CHAT_TEMPLATE_TOKENIZER[name], source)
    assert FitterSpec(load_template("tokenizer"), 4096).build(enc).template.end_of_turn == expected


def test_the_first_llama3_template_s_generation_header_ends_no_completion(tmp_path):
    """Its first revision writes `<|start_header_id|>assistant<|end_header_id|>\n\n` after every
    conversation: left in, every completion would end with it, untrained, and a prompt/completion
    client would teach the model to open a new turn after its answer."""
    source = (CHAT_TEMPLATES / "llama-3-instruct-original.jinja").read_text(encoding="utf-8")
    f = FitterSpec(load_template("tokenizer"), 4096).build(tokenizer_with(tmp_path, "llama3", source))
    examples, _ = fit(f, dialogue("Hi", "Hello!", "Again?", "Yes.", system="Be brief."))
    reference = f.encoder.hf.apply_chat_template(window_messages(f, examples[1]), tokenize=False)
    assert reference.endswith("Yes.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    text = check_example(f, examples[1])
    start = window_text(f, examples[1])[1]
    assert text[start:] == "Yes.<|eot_id|>" and text[:start].endswith(
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
