"""Record-level failures become rejects: the dead-letter helper, and a template
that raises on some windows costs those examples only (the others equal the template's own)."""

from __future__ import annotations

import shutil

import pytest

from beam_prep.core.explode import explode
from beam_prep.core.failures import INTERNAL_ERROR, TEMPLATE_ERROR, contain, failure_detail
from beam_prep.core.records import REJECT_REASONS, Example
from beam_prep.core.templates import TemplateError, templates_dir
from tests.conftest import dialogue


def boom(message):
    raise KeyError(message)


def test_contain_returns_the_value_or_a_reject_naming_the_exception():
    assert contain(len, "abc", source="f", line=1) == (3, None)
    value, reject = contain(boom, "x" * 1000 + "\nsecond line", source="f.jsonl", line=7, dialogue_id="d")
    assert value is None and reject.reason == INTERNAL_ERROR in REJECT_REASONS
    assert (reject.source, reject.line, reject.dialogue_id) == ("f.jsonl", 7, "d")
    assert reject.detail.startswith("KeyError: 'xxx") and "\n" not in reject.detail and len(reject.detail) <= 303


def test_known_causes_have_their_reason_and_strict_raises_only_internal_errors():
    def template_fails():
        raise TemplateError("no such window")

    assert contain(template_fails, source="f", line=1, strict=True)[1].reason == TEMPLATE_ERROR in REJECT_REASONS
    with pytest.raises(KeyError):
        contain(boom, "x", source="f", line=1, strict=True)


def test_an_unprintable_exception_still_becomes_a_reject():
    class Odd(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert failure_detail(Odd()) == "Odd: <unprintable message>"


@pytest.fixture
def raising_template(tmp_path):
    """llama2-chat-memory, plus a raise_exception on windows of more than 5 messages."""
    for suffix in (".jinja", ".yaml"):
        shutil.copy(templates_dir() / f"llama2-chat-memory{suffix}", tmp_path / f"picky{suffix}")
    path = tmp_path / "picky.jinja"
    path.write_text(
        "{%- if messages|length > 5 %}{{ raise_exception('too many messages') }}{% endif -%}\n" + path.read_text()
    )
    return str(path)


def test_a_template_that_raises_on_long_windows_rejects_those_examples_only(raising_template, make_fitter):
    d = dialogue("q1", "a1", "q2", "a2", "q3", "a3", "q4", "a4")  # + the default system prompt
    picky = make_fitter(raising_template)
    got = list(picky.fit([(d, explode(d, "per_response"))], "per_response"))
    # The template without the raise:
    reference = list(make_fitter().fit([(d, explode(d, "per_response"))], "per_response"))
    kept = [o for o in got if isinstance(o, Example)]
    rejected = [o for o in got if not isinstance(o, Example)]
    assert [(e.end, e.input_ids, e.labels) for e in kept] == [(e.end, e.input_ids, e.labels) for e in reference[:2]]
    assert [r.reason for r in rejected] == [TEMPLATE_ERROR, TEMPLATE_ERROR]
    assert "turn 5" in rejected[0].detail and "too many messages" in rejected[0].detail
