"""Hostile user templates: every route to Python internals or files fails before the pipeline,
with one line and exit code 2 (checks.check probes the template); nothing leaks into an error or output.

tests/core/test_templates_golden.py covers ''.__class__.__mro__[1].__subclasses__(); these are
the other routes."""

from __future__ import annotations

import pytest

from beam_prep.cli import main

BODY = "{% for m in messages %}{{ m.content }}{% endfor %}"
SECRET = "hunter2-in-a-private-file"

RAISING = {
    "globals via cycler": ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "unsafe operation"),
    "globals via lipsum": ("{{ lipsum.__globals__['os'].listdir('/') }}", "unsafe operation"),
    "globals via namespace": ("{{ namespace.__init__.__globals__ }}", "unsafe operation"),
    "subclasses via messages": ("{{ messages.__class__.__base__.__subclasses__() }}", "unsafe operation"),
    "subclasses via str.format": ("{{ '{0.__class__.__mro__}'.format(messages) }}", "unsafe operation"),
    "mutating the messages": ("{% set _ = messages.append(1) %}", "unsafe operation"),
    "mutating a message": ("{% set _ = messages[0].update({'content': 'x'}) %}", "unsafe operation"),
    "include a file": ("{% include 'SECRET_FILE' %}", "no loader"),
    "import a file": ("{% import 'SECRET_FILE' as f %}", "no loader"),
    "extends a file": ("{% extends 'SECRET_FILE' %}", "no loader"),
    "open()": ("{{ open('SECRET_FILE').read() }}", "'open' is undefined"),
    "huge range": ("{{ range(10**9)|list|length }}", "OverflowError: Range too big"),
    # Routes a stock sandbox answers with an empty value; ours makes every unsafe attribute an error.
    "attr filter": ("{{ ''|attr('__class__')|attr('__mro__') }}", "unsafe operation"),
    "private attribute of self": ("{{ self._TemplateReference__context }}", "unsafe operation"),
    "format filter": ("{{ '%s'|format(messages.__class__) }}", "unsafe operation"),
    "str.format_map": ("{{ '{x.__class__}'.format_map({'x': messages}) }}", "unsafe operation"),
    "unsafe attribute in a test": ("{% if ''.__class__ %}leak{% endif %}", "unsafe operation"),
}


@pytest.fixture
def setup(tmp_path):
    secret = tmp_path / "private.txt"
    secret.write_text(SECRET)
    corpus = tmp_path / "a.jsonl"
    corpus.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n')
    return tmp_path, str(secret), str(corpus)


@pytest.mark.parametrize("name", RAISING)
def test_hostile_template_stops_the_run_with_exit_code_2(setup, capsys, name):
    tmp_path, secret, corpus = setup
    source, message = RAISING[name]
    path = tmp_path / "hostile.jinja"
    path.write_text(source.replace("SECRET_FILE", secret) + BODY)
    code = main(["--input", corpus, "--output", str(tmp_path / "out"), "--template", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    err = captured.err.strip()
    assert err.startswith("beam_prep: error: --template") and "'hostile'" in err and message in err
    assert err.count("\n") == 0 and "Traceback" not in err
    assert SECRET not in captured.err + captured.out
    assert not (tmp_path / "out").exists()  # stopped before any output


def test_template_that_drops_content_stops_before_the_pipeline(setup, capsys):
    tmp_path, _, corpus = setup
    path = tmp_path / "lossy.jinja"
    path.write_text("{% for m in messages %}{{ m.role }}{% endfor %}")
    code = main(["--input", corpus, "--output", str(tmp_path / "out"), "--template", str(path)])
    assert code == 2 and "must output each message's content once" in capsys.readouterr().err


def test_tokenizer_template_without_a_chat_template_is_a_config_error(setup, capsys):
    tmp_path, _, corpus = setup
    code = main(["--input", corpus, "--output", str(tmp_path / "out"), "--template", "tokenizer"])
    assert code == 2 and "has no chat_template" in capsys.readouterr().err
