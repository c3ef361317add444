"""Mistakes that checks.check catches before anything is written: a budget the
template and system prompt alone exceed, a tokenizer that does not load, a template whose probe
never ends, an output that is a file, cannot be written, or holds the input."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from beam_prep import checks
from beam_prep.cli import main
from beam_prep.config import BUNDLED_TOKENIZER, ConfigError, RunConfig
from beam_prep.core.templates import CompiledTemplate, load_template

SYSTEM = "You are a helpful assistant who answers briefly."
RECORD = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'


@pytest.fixture
def corpus(tmp_path):
    f = tmp_path / "in" / "a.jsonl"
    f.parent.mkdir()
    f.write_text(RECORD)
    return str(f)


def config(corpus, tmp_path, **overrides) -> RunConfig:
    return RunConfig(input=[corpus], output=str(tmp_path / "out"), **overrides)


def smallest_example_tokens(encoder, template: str, system: str) -> int:
    """The reference: the tokenizer's own count of the template's rendering of a one-word exchange."""
    compiled = CompiledTemplate(load_template(template), encoder.bos_token, encoder.eos_token)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "x"}]
    text = compiled.render([*messages, {"role": "assistant", "content": "x"}])
    # An example ends at the answer's end-of-turn: ChatML's newline after <|im_end|> is not in it.
    return len(encoder.encode_text(text.rstrip("\n")))


@pytest.mark.parametrize("template", ["llama2-chat-memory", "chatml"])
def test_a_budget_below_the_template_and_system_prompt_is_an_error(corpus, tmp_path, encoder, template):
    need = smallest_example_tokens(encoder, template, SYSTEM)
    assert checks.check(config(corpus, tmp_path, template=template, system_prompt=SYSTEM, max_seq_length=need))
    with pytest.raises(ConfigError) as info:
        checks.check(config(corpus, tmp_path, template=template, system_prompt=SYSTEM, max_seq_length=need - 1))
    assert str(info.value) == (
        f"--max_seq_length {need - 1} is too small: template {template!r} with --system_prompt needs {need} "
        "tokens for a one-word question and answer, so every example would be too_long"
    )
    assert not (tmp_path / "out").exists()


def test_max_seq_length_1_fails_in_one_line(corpus, tmp_path, capsys):
    code = main(["--input", corpus, "--output", str(tmp_path / "out"), "--max_seq_length", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "--max_seq_length 1 is too small" in err and err.count("\n") == 1


def test_a_tokenizer_that_does_not_load_fails_in_the_checks(corpus, tmp_path):
    broken = tmp_path / "tok"
    shutil.copytree(BUNDLED_TOKENIZER, broken)
    text = (broken / "tokenizer.json").read_text()
    (broken / "tokenizer.json").write_text(text[: len(text) // 2])  # cut off, as by a failed copy
    with pytest.raises(ConfigError) as info:
        checks.check(config(corpus, tmp_path, tokenizer=str(broken)))
    message = str(info.value)
    assert message.startswith(f"--tokenizer {str(broken)!r} does not load: ") and "\n" not in message


def test_a_template_whose_probe_never_ends_is_stopped(corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checks, "PROBE_SECONDS", 1.0)
    path = tmp_path / "slow.jinja"
    path.write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        "{% for m in messages %}{{ m.content }}{% endfor %}"
    )
    started = time.monotonic()
    code = main(["--input", corpus, "--output", str(tmp_path / "out"), "--template", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == (
        "beam_prep: error: --template 'slow' took over 1 s to render a two-turn probe dialogue"
    )
    assert time.monotonic() - started < 60 and not (tmp_path / "out").exists()


def test_an_output_that_is_a_file(corpus, tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"--output '.*out' is a file, not a folder"):
        checks.check(config(corpus, tmp_path))
    with pytest.raises(ConfigError, match=r"out' is a file, not a folder"):
        checks.check(RunConfig(input=[corpus], output=str(tmp_path / "out" / "sub")))


def test_an_output_that_cannot_be_written(corpus):
    # /sys refuses new files even to root (os.access says yes there): the probe file finds out.
    with pytest.raises(ConfigError, match=r"--output '/sys/beam_prep_out': '/sys' is not writable"):
        checks.check(RunConfig(input=[corpus], output="/sys/beam_prep_out"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_an_output_in_a_read_only_folder(corpus, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(ConfigError, match="is not writable"):
        checks.check(RunConfig(input=[corpus], output=str(locked / "out")))


def test_an_input_glob_that_matches_the_output(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text(RECORD)
    (tmp_path / "data" / "out" / "jsonl").mkdir(parents=True)
    (tmp_path / "data" / "out" / "jsonl" / "train-00000-of-00001.jsonl").write_text(RECORD)
    inputs = [str(tmp_path / "data" / "**" / "*.jsonl")]
    with pytest.raises(ConfigError) as info:
        checks.check(RunConfig(input=inputs, output=str(tmp_path / "data" / "out")))
    assert "train-00000-of-00001.jsonl" in str(info.value) and "inside --output" in str(info.value)
    assert checks.check(RunConfig(input=inputs, output=str(tmp_path / "elsewhere")))
