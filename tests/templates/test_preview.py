"""`beam_prep preview`: examples as the model sees them, trained spans marked, token counts."""

from __future__ import annotations

import json

import pytest

from beam_prep.cli import main
from beam_prep.config import RunConfig
from beam_prep.preview import load_fitter, preview, render_example, token_pieces
from tests.templates.helpers import TOKENIZERS, dialogue, encoder, fit, fitter
from tests.templates.test_tool_templates import RECORDS, dialogue_of
from tests.templates.test_tool_templates import run as fit_tools


def write_jsonl(path, *records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def chat(id, *contents, system=None):
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(contents)]
    return {"id": id, "messages": messages}


def run(tmp_path, *records, n=3, color=False, **config) -> tuple[int, str]:
    import io

    inp = write_jsonl(tmp_path / "in.jsonl", *records)
    out = io.StringIO()
    code = preview(RunConfig(input=[inp], **config), n, out=out, color=color)
    return code, out.getvalue()


def test_llama2_chat_as_the_model_sees_it(tmp_path):
    code, out = run(tmp_path, chat("d1", "Hi there", "Hello!", "Bye", "See you."), template="llama2-chat")
    assert code == 0
    assert "<s>[INST] Hi there [/INST]⟦ Hello! </s>⟧\n" in out
    assert "<s>[INST] Hi there [/INST] Hello! </s><s>[INST] Bye [/INST]⟦ See you. </s>⟧\n" in out
    ids = encoder().encode_text("[INST] Hi there [/INST] Hello! </s>")
    assert f"── example 1: d1/1 · num_tokens {len(ids)}/4096 · trained 4 · context_turns 1 · dropped_turns 0" in out
    assert "── example 2: d1/3" in out


def test_chatml_and_llama3_show_their_control_tokens_once(tmp_path):
    _, out = run(tmp_path, chat("c", "Hi", "Hello!"), template="chatml", tokenizer=TOKENIZERS["chatml"])
    assert "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n⟦Hello!<|im_end|>⟧\n" in out
    _, out = run(tmp_path, chat("l", "Hi", "Hello!"), template="llama3", tokenizer=TOKENIZERS["llama3"])
    body = out.split("── example 1", 1)[1]
    assert body.count("<|begin_of_text|>") == 1
    assert "<|end_header_id|>\n\n⟦Hello!<|eot_id|>⟧" in body


def test_whole_dialog_marks_every_answer(tmp_path):
    _, out = run(tmp_path, chat("w", "Q1", "A1", "Q2", "A2"), template="mistral", mode="whole_dialog")
    assert "<s>[INST] Q1 [/INST]⟦ A1</s>⟧[INST] Q2 [/INST]⟦ A2</s>⟧\n" in out


def test_only_the_first_n_examples_and_rejects_with_reasons(tmp_path):
    records = [chat("bad", "say </s>", "ok"), chat("d1", "a1", "b1", "a2", "b2"), chat("d2", "a3", "b3")]
    code, out = run(tmp_path, *records, n=2)
    assert code == 0
    assert "rejected in.jsonl:1 (bad): special_tokens_in_content content contains '</s>'" in out
    assert out.count("── example") == 2 and "d2/1" not in out


def test_truncation_shows_dropped_turns(tmp_path):
    _, out = run(tmp_path, chat("t", "one " * 30, "two " * 30, "three", "four"), template="mistral", max_seq_length=40)
    assert "── example 1: t/3 · num_tokens " in out and "· dropped_turns 2" in out
    assert "one one" not in out


def test_an_unsupported_input_file_is_a_config_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["preview", "--input", str(tmp_path / "notes.txt")]) == 2
    assert "unsupported input file" in capsys.readouterr().err


def test_nothing_to_show_returns_1(tmp_path):
    code, out = run(tmp_path, {"id": "x", "messages": [{"role": "user", "content": "q"}]})
    assert code == 1 and "rejected in.jsonl:1: no_assistant_turn" in out and "no example" in out


def test_colour_on_a_terminal(tmp_path):
    _, out = run(tmp_path, chat("c", "Hi", "Hello!"), template="chatml", tokenizer=TOKENIZERS["chatml"], color=True)
    assert "⟦" not in out
    assert "\x1b[32mHello\x1b[0m" in out  # trained text in green
    assert "\x1b[32m\x1b[1;35m<|im_end|>\x1b[0m" in out  # a trained control token
    assert "\x1b[1;35m<|im_start|>\x1b[0m" in out  # an untrained control token


def test_special_strings_in_kept_content_are_not_shown_as_control_tokens():
    f = fitter("llama2-chat-memory")
    [ex], _ = fit(f, dialogue("what is </s>?", "an end marker"), screen=False)
    pieces = token_pieces(f, ex)
    assert [p for p, _, special in pieces if special] == ["<s>", "</s>"]  # BOS and the template's EOS
    assert "".join(p for p, _, _ in pieces[1:]) == "[INST] <<SYS>>\n" + f.system_prompt + (
        "\n<</SYS>>\n\n###User: what is </s>?###You: [/INST] an end marker</s>"
    )
    assert render_example(f, ex).endswith("[/INST]⟦ an end marker</s>⟧")


def test_a_users_template_from_a_path(tmp_path):
    path = tmp_path / "plain.jinja"
    path.write_text("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}")
    _, out = run(tmp_path, chat("u", "Hi", "Hello!"), template=str(path))
    assert "template plain ·" in out and "<s>user: Hi\nassistant:⟦ Hello!⟧\n" in out


def test_cli_preview_and_its_errors(tmp_path, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", chat("d", "Hi", "Hello!"))
    assert main(["preview", "--input", inp, "--template", "mistral", "--examples", "1"]) == 0
    assert "<s>[INST] Hi [/INST]⟦ Hello!</s>⟧" in capsys.readouterr().out
    assert main(["preview", "--input", inp, "--template", "nope"]) == 2
    assert "unknown template 'nope'" in capsys.readouterr().err
    assert main(["preview", "--input", inp, "--template", "chatml"]) == 0  # a tokenizer without ChatML tokens
    assert "warning: end of turn '<|im_end|>' is not a special token of this tokenizer" in capsys.readouterr().out


def test_tokenizer_template_needs_a_chat_template(tmp_path):
    from beam_prep.config import ConfigError

    inp = write_jsonl(tmp_path / "in.jsonl", chat("d", "Hi", "Hello!"))
    with pytest.raises(ConfigError, match="no chat_template"):
        load_fitter(RunConfig(input=[inp], template="tokenizer"))
    f = load_fitter(RunConfig(input=[inp], template="tokenizer", tokenizer=TOKENIZERS["llama3"]))
    assert "<|start_header_id|>" in f.template.spec.source


def test_tool_dialogue_shows_calls_results_and_trained_spans(tmp_path):
    record = {"id": "t", **RECORDS["content_and_call"]}
    code, out = run(tmp_path, record, n=2, template="qwen2.5", tokenizer=TOKENIZERS["qwen2.5"])
    assert code == 0
    assert "tools get_time · calls get_time({}) · tool results 0 · trained turns 1 (tool call)" in out
    assert (
        '<|im_start|>assistant\n⟦Let me check.\n<tool_call>\n{"name": "get_time", "arguments": {}}'
        "\n</tool_call><|im_end|>⟧" in out
    )
    # the result is shown in the second example's context, untrained; its answer is trained
    assert "<tool_response>\n10:42\n</tool_response><|im_end|>\n<|im_start|>assistant\n⟦It is 10:42.<|im_end|>⟧" in out
    # the pieces are the example's own tokens, one per label
    f = load_fitter(RunConfig(input=["x"], template="qwen2.5", tokenizer=TOKENIZERS["qwen2.5"]))
    (ex, _), _ = fit_tools(f, dialogue_of("t", RECORDS["content_and_call"]), "per_response")
    pieces = token_pieces(f, ex)
    assert (
        len(pieces) == len(ex.input_ids)
        and "".join(p for p, _, _ in pieces) == f.structured.window(ex.dialogue, ex.start, ex.end, ex.trained).text
    )


def test_a_tool_dialogue_with_a_template_without_tools_is_a_listed_reject(tmp_path):
    code, out = run(tmp_path, {"id": "t", **RECORDS["one_call"]}, template="chatml", tokenizer=TOKENIZERS["chatml"])
    assert code == 1 and "rejected in.jsonl:1 (t): unsupported_by_template template 'chatml' has no tool format" in out
