"""The two formats of the source article, character for character."""

from __future__ import annotations

import pytest

from beam_prep.core.explode import explode
from beam_prep.core.fit import window_text
from beam_prep.core.templates import CompiledTemplate, TemplateError, load_template
from tests.conftest import dialogue

SYS = "You are a helpful Assistant. Respond based on the following conversation history."
CHAT = ("Hi", "Hello!", "How are you?", "I am doing great!")

MEMORY_1 = f"[INST] <<SYS>>\n{SYS}\n<</SYS>>\n\n###User: Hi###You: [/INST] Hello!</s>"
MEMORY_2 = (
    f"[INST] <<SYS>>\n{SYS}\n<</SYS>>\n\n###User: Hi###You: Hello!###User: How are you?###You: [/INST] "
    "I am doing great!</s>"
)
FALCON = "### User: Hi### Assistant: Hello!### User: How are you?### Assistant: I am doing great!"


def _texts(fitter, mode):
    d = dialogue(*CHAT)
    return [window_text(fitter, ex) for ex in fitter.fit([(d, explode(d, mode))], mode)]


def test_llama2_chat_memory_golden(make_fitter):
    (t1, c1), (t2, c2) = _texts(make_fitter("llama2-chat-memory"), "per_response")
    assert t1 == MEMORY_1
    assert t2 == MEMORY_2
    # the space before the answer merges into its first token: it is the completion's, and every
    # prompt ends as the generation prompt does
    assert t2[:c2].endswith("[/INST]") and t2[c2:] == " I am doing great!</s>"
    assert t1[c1:] == " Hello!</s>"
    assert "<s>" not in t1 + t2  # the tokenizer adds BOS itself


def test_falcon_golden_whole_dialog(make_fitter):
    [(text, _)] = _texts(make_fitter("falcon"), "whole_dialog")
    assert text == FALCON


def test_falcon_per_response_prompt_ends_with_assistant_tag(make_fitter):
    (t1, c1), (t2, c2) = _texts(make_fitter("falcon"), "per_response")
    assert t1[:c1] == "### User: Hi### Assistant:"
    assert t2[:c2].endswith("### User: How are you?### Assistant:")
    assert t2[c2:] == " I am doing great!"
    assert load_template("falcon").stop_sequence == "### User"


@pytest.mark.parametrize("name", ["llama2-chat-memory", "falcon"])
def test_skeleton_path_equals_direct_jinja_render(encoder, make_fitter, name):
    """The spliced skeleton gives exactly what Jinja renders from the real contents."""
    fitter = make_fitter(name)
    d = dialogue(*CHAT, system="Be kind.")
    template = CompiledTemplate(load_template(name), encoder.bos_token, encoder.eos_token)
    for ex in explode(d, "per_response"):
        msgs = [{"role": t.role, "content": t.content} for t in (d.turns[0], *d.turns[ex.start : ex.end + 1])]
        assert window_text(fitter, ex)[0] == template.render(msgs)


def test_memory_template_uses_dialogue_system_prompt_over_default(make_fitter):
    d = dialogue(*CHAT[:2], system="You are terse.")
    [ex] = make_fitter().fit([(d, explode(d, "per_response"))], "per_response")
    assert window_text(make_fitter(), ex)[0].startswith("[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\n###User: Hi")


def test_system_prompt_flag_overrides_template_default(make_fitter):
    fitter = make_fitter(system_prompt="Custom.")
    d = dialogue(*CHAT[:2])
    [ex] = fitter.fit([(d, explode(d, "per_response"))], "per_response")
    assert window_text(fitter, ex)[0].startswith("[INST] <<SYS>>\nCustom.\n<</SYS>>")


def test_unknown_template_lists_known_ones():
    with pytest.raises(TemplateError, match="known templates: .*llama2-chat-memory"):
        load_template("no-such-template")


def test_template_that_drops_content_is_refused(tmp_path, encoder):
    path = tmp_path / "bad.jinja"
    path.write_text("{% for m in messages %}{{ m.role }}{% endfor %}")
    compiled = CompiledTemplate(load_template(str(path)), encoder.bos_token, encoder.eos_token)
    with pytest.raises(TemplateError, match="must output each message's content once"):
        compiled.skeleton(("user", "assistant"))


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("{% for m in messages|reverse %}{{ m.content }}{% endfor %}", False),  # turns out of order
        ("{% for m in messages[1:] %}{{ m.content }}{% endfor %}{{ messages[0].content }}", False),  # system last
        ("{{ messages[1].content }}|{{ messages[0].content }}|{{ messages[2].content }}", True),  # system later
    ],
)
def test_only_the_system_prompt_may_come_out_of_order(tmp_path, encoder, source, ok):
    path = tmp_path / "order.jinja"
    path.write_text(source)
    compiled = CompiledTemplate(load_template(str(path)), encoder.bos_token, encoder.eos_token)
    if ok:
        assert compiled.skeleton(("system", "user", "assistant")) == ("", 1, "|", 0, "|", 2, "")
    else:
        with pytest.raises(TemplateError, match="must output each message's content once and in order"):
            compiled.skeleton(("system", "user", "assistant"))


def test_hostile_template_is_sandboxed(tmp_path, encoder):
    path = tmp_path / "evil.jinja"
    path.write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}{% for m in messages %}{{ m.content }}{% endfor %}")
    compiled = CompiledTemplate(load_template(str(path)), encoder.bos_token, encoder.eos_token)
    with pytest.raises(TemplateError, match="unsafe"):
        compiled.skeleton(("user", "assistant"))


@pytest.mark.parametrize(
    "probe", ["{{ ''|attr('__class__') }}", "{% if ''.__class__ %}x{% endif %}", "{{ messages.__class__ }}"]
)
def test_unsafe_attribute_is_an_error_not_an_empty_string(tmp_path, encoder, probe):
    path = tmp_path / "probe.jinja"
    path.write_text(probe + "{% for m in messages %}{{ m.content }}{% endfor %}")
    compiled = CompiledTemplate(load_template(str(path)), encoder.bos_token, encoder.eos_token)
    with pytest.raises(TemplateError, match="unsafe"):
        compiled.skeleton(("user", "assistant"))
