"""The bundled templates as a catalogue: each one listed with a one-line description and recorded in
templates/README.md, with metadata that fits its format."""

from __future__ import annotations

import pytest

from beam_prep.core.templates import load_template, template_names, templates_dir
from beam_prep.report import print_templates

ISSUE_TEMPLATES = {"llama2-chat-memory", "falcon", "llama2-chat", "mistral", "chatml", "llama3", "falcon-instruct"}
END_OF_TURN = {
    "llama2-chat-memory": "eos_token",
    "falcon": None,
    "llama2-chat": "eos_token",
    "mistral": "eos_token",
    "mistral-v3-tools": "eos_token",
    "chatml": "<|im_end|>",
    "qwen2.5": "<|im_end|>",
    "llama3": "<|eot_id|>",
    "falcon-instruct": "eos_token",
    "tokenizer": "auto",
}


def test_every_format_of_the_issue_is_bundled():
    assert ISSUE_TEMPLATES | {"tokenizer"} <= set(template_names())


@pytest.mark.parametrize("name", template_names())
def test_metadata(name):
    spec = load_template(name)
    raw = (templates_dir() / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
    # the whole line, not cut at a YAML comment (` #`): quoted, one line, short
    assert raw == f'description: "{spec.description}"' and 20 < len(spec.description) <= 90
    assert spec.origin and set(spec.modes) == {"per_response", "whole_dialog"}
    assert spec.end_of_turn == END_OF_TURN[name]
    assert f"`{name}`" in (templates_dir() / "README.md").read_text(encoding="utf-8")


def test_templates_command_prints_one_line_each(capsys):
    assert print_templates() == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == template_names()
    for line in lines:
        name = line.split()[0]
        assert line.endswith(load_template(name).description)


@pytest.mark.parametrize(
    ("name", "bos", "eos", "specials"),
    [
        ("chatml", "<s>", "<|im_end|>", ["<|im_end|>", "<|im_start|>"]),
        ("llama3", "<|begin_of_text|>", "<|eot_id|>", ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>"]),
        ("qwen2.5", None, "<|im_end|>", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
        ("qwen3", None, "<|im_end|>", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
        (
            "llama3.1",
            "<|begin_of_text|>",
            "<|eot_id|>",
            [
                "<|begin_of_text|>",
                "<|end_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eot_id|>",
                "<|eom_id|>",
            ],
        ),
    ],
)
def test_fixture_tokenizers_are_mistral_plus_control_tokens(name, bos, eos, specials):
    """tests/fixtures/tokenizers/README.md: Mistral's vocabulary, the family's tokens after it."""
    from tests.templates.helpers import encoder

    mistral, enc = encoder("mistral").hf, encoder(name).hf
    text = "Hello  world, 你好 🙂\n```code```"
    assert enc(text, add_special_tokens=False)["input_ids"] == mistral(text, add_special_tokens=False)["input_ids"]
    assert [enc.convert_tokens_to_ids(t) for t in specials] == list(range(32000, 32000 + len(specials)))
    assert (enc.bos_token, enc.eos_token) == (bos, eos)
    assert enc("x")["input_ids"][0] == (
        enc.convert_tokens_to_ids(bos) if bos else mistral("x", add_special_tokens=False)["input_ids"][0]
    )
    assert enc(f"a{specials[-1]}b")["input_ids"].count(32000 + len(specials) - 1) == 1  # parsed as special
