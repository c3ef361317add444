"""The command line: YAML + flag overrides, Beam pass-through, and one-line errors with exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from beam_prep.cli import flag_table, main, our_flags, parse
from beam_prep.config import BUNDLED_TOKENIZER, FIELDS, RunConfig
from beam_prep.core.explode import MODES
from beam_prep.core.normalize import POLICY_CHOICES
from beam_prep.core.structured import REASONING_POLICIES

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def corpus(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n')
    return str(f)


def test_yaml_then_flags_override_and_beam_options_pass_through(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input: a.jsonl\noutput: out\nmax_seq_length: 512\npipeline_options:\n  direct_num_workers: 1\n")
    config, beam_argv, _ = parse("run", ["--config", str(cfg), "--max_seq_length", "1024", "--runner=FnApiRunner"])
    assert config.input == ["a.jsonl"] and config.output == "out"
    assert config.max_seq_length == 1024
    assert config.pipeline_options == {"direct_num_workers": 1}
    assert beam_argv == ["--runner=FnApiRunner"]
    assert config.tokenizer == BUNDLED_TOKENIZER


def run_main(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--template", "nope"], "unknown template 'nope'; known templates: "),
        (["--max_seq_length", "0"], "--max_seq_length must be a positive integer, got 0"),
        (["--val_fraction", "1.0"], "--val_fraction must be in [0, 1), got 1.0"),
        (["--mode", "all"], "--mode 'all' is not one of: per_response, whole_dialog"),
        (["--tokenizer", "/no/such/dir"], "--tokenizer '/no/such/dir' has no tokenizer.json"),
        (["--special_tokens_in_content", "maybe"], "--special_tokens_in_content 'maybe' is not one of"),
        (["--input_chunk_mb", "0"], "--input_chunk_mb must be a positive number, got 0.0"),
        (["--system_prompt", "Be brief.</s>"], "--system_prompt contains the tokenizer's special token '</s>'"),
        (["--tokens_per_shard", "-5"], "--tokens_per_shard and --batch_dialogues must be positive"),
    ],
)
def test_config_errors_are_one_line_exit_2(corpus, tmp_path, capsys, extra, message):
    code, err = run_main(["--input", corpus, "--output", str(tmp_path / "o"), *extra], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written before the checks pass


def test_a_system_prompt_with_special_tokens_is_kept_as_text_when_asked(corpus, tmp_path):
    from beam_prep.checks import check
    from beam_prep.config import RunConfig

    config = RunConfig(
        input=[corpus], output=str(tmp_path / "o"), system_prompt="Be brief.</s>", special_tokens_in_content="keep"
    )
    assert check(config)[1]


def test_glob_matching_nothing(tmp_path, capsys):
    code, err = run_main(["--input", str(tmp_path / "*.jsonl"), "--output", str(tmp_path / "o")], capsys)
    assert code == 2 and "matches no file" in err


def test_unknown_yaml_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("inputs: a.jsonl\n")
    code, err = run_main(["--config", str(cfg)], capsys)
    assert code == 2 and "unknown keys ['inputs']" in err and "pipeline_options" in err


def test_missing_required(capsys):
    code, err = run_main(["--output", "x"], capsys)
    assert code == 2 and "--input is required" in err


def test_templates_lists_bundled_templates(capsys):
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "llama2-chat-memory" in out and "falcon" in out


def test_help_documents_every_flag_with_default():
    out = subprocess.run(
        [sys.executable, "-m", "beam_prep", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--input",
        "--output",
        "--template",
        "--mode",
        "--max_seq_length",
        "--val_fraction",
        "--seed",
        "--tokenizer",
        "--system_prompt",
        "--input_format",
        "--config",
    ):
        assert flag in out
    assert "(default: 4096)" in out and "(default: llama2-chat-memory)" in out


def test_wheel_ships_templates_and_bundled_files(tmp_path):
    """A plain `pip install .` (a wheel, not an editable install) still has templates and resources."""
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("beam_prep-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "beam_prep/_templates/llama2-chat-memory.jinja" in names
    assert "beam_prep/_templates/llama2-chat-memory.yaml" in names
    assert "beam_prep/resources/tokenizer/mistral-7b-v0.1/tokenizer.json" in names
    # Installed from the wheel (not editable), the package still finds its templates.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import beam_prep; from beam_prep.core.templates import template_names; "
        "print(beam_prep.__file__, template_names())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    ).stdout
    assert out.startswith(str(target)) and "'llama2-chat-memory'" in out and "'falcon'" in out


def test_config_errors_come_before_importing_beam(tmp_path):
    """A configuration mistake is reported without paying for Beam's import (seconds)."""
    probe = (
        "import sys; from beam_prep.cli import main; "
        f"code = main(['--input', {str(tmp_path / '*.jsonl')!r}, '--output', 'o']); "
        "print(code, 'apache_beam' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2", "False"]


def test_readme_flag_table_is_made_from_the_runconfig_fields():
    """The README's flag table is generated (cli.flag_table, from each RunConfig field's metadata),
    so its names, help, choices and defaults cannot drift; regenerate it with
    `python -c 'from beam_prep.cli import flag_table; print(flag_table())'`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("| flag | meaning | choices | default |")
    table = readme[start : readme.index("<!-- /flags -->", start)]
    assert table == flag_table()
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    names = [re.match(r"\| `--(\w+)", row[0]).group(1) for row in rows]
    assert names == [name for name in FIELDS if name != "pipeline_options"]
    assert {f"--{name}" for name in names} | {"--config", "--help"} == {
        f for f in our_flags("run") if not f.startswith("--no-")
    }
    domain = {"mode": MODES, "reasoning": REASONING_POLICIES, **POLICY_CHOICES}
    for name, row in zip(names, rows):
        assert tuple(re.findall(r"`([^`]+)`", row[2])) == tuple(
            domain.get(name, FIELDS[name].metadata["choices"] or ())
        )
    defaults = RunConfig()
    for name, row in zip(names, rows):
        shown, value = row[3].removesuffix(" |"), getattr(defaults, name)
        if FIELDS[name].metadata.get("shown_default"):
            assert shown == FIELDS[name].metadata["shown_default"]
        elif isinstance(value, bool):
            assert shown == ("on" if value else "off")
        else:
            assert type(value)(shown.replace(",", "")) == value


def test_flag_values_named_in_the_docs_are_valid_choices():
    for doc in ("README.md", "docs/input.md"):
        text = (REPO / doc).read_text(encoding="utf-8")
        assert set(re.findall(r"--([a-z][a-z_]+)", text)) - {"runner", "project", "some_secret", "max_seq_lenght"} <= {
            f[2:] for f in our_flags("run") + our_flags("preview")
        }
        for name, value in re.findall(r"`--([a-z_]+)[ =]([a-z_]+)`", text):
            choices = FIELDS[name].metadata.get("choices") if name in FIELDS else None
            assert not choices or value in choices, (doc, name, value)
