"""`mistral` against the authors' encoder: mistral-common's InstructTokenizerV1 (MistralTokenizer.v1()).

mistral-common v1 puts the system prompt before the FIRST user message of the request, joined by a
blank line (`system + "\\n\\n" + user`), encodes `[INST] {user} [/INST]` and each answer as separate
SentencePiece pieces, and closes every answer with EOS. Whether the system prompt comes in as
InstructRequest.system_prompt or as a SystemMessage through the chat-completion normaliser, the
tokens are the same; both are checked.
"""

from __future__ import annotations

import pytest

from tests.templates.helpers import MODES, check_example, dialogue, fit, fitter, window_messages
from tests.templates.test_invariants import DIALOGUES, LONG

pytest.importorskip("sentencepiece")  # mistral-common's v1 tokenizer runs on it
mistral = pytest.importorskip("mistral_common.tokens.tokenizers.mistral")
from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage  # noqa: E402
from mistral_common.protocol.instruct.request import ChatCompletionRequest, InstructRequest  # noqa: E402
from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy  # noqa: E402


@pytest.fixture(scope="module")
def v1():
    return mistral.MistralTokenizer.v1()


def reference_ids(v1, messages: list[dict]) -> list[int]:
    """encode_instruct(InstructRequest(messages=..., system_prompt=...)), as the issue names it."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    turns = [
        UserMessage(content=m["content"]) if m["role"] == "user" else AssistantMessage(content=m["content"])
        for m in messages
        if m["role"] != "system"
    ]
    return v1.instruct_tokenizer.encode_instruct(InstructRequest(messages=turns, system_prompt=system)).tokens


def normalised_ids(v1, messages: list[dict]) -> list[int]:
    """The same dialog with a SystemMessage, through mistral-common's own request normaliser."""
    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    request = ChatCompletionRequest(messages=[kinds[m["role"]](content=m["content"]) for m in messages])
    instruct = v1._instruct_request_normalizer.from_chat_completion_request(request)
    return v1.instruct_tokenizer.encode_instruct(instruct).tokens


CHAT = ("U1", "A1", "U2", "A2")


def examples_ids(f, d) -> list[int]:
    [ex], _ = fit(f, d, "whole_dialog")
    return list(ex.input_ids)


def test_golden_text_with_and_without_system(v1):
    f = fitter("mistral")
    examples, _ = fit(f, dialogue(*CHAT, system="S"), "whole_dialog")
    assert check_example(f, examples[0]) == "[INST] S\n\nU1 [/INST] A1</s>[INST] U2 [/INST] A2</s>"
    examples, _ = fit(f, dialogue(*CHAT), "whole_dialog")
    assert check_example(f, examples[0]) == "[INST] U1 [/INST] A1</s>[INST] U2 [/INST] A2</s>"
    # mistral-common's own pieces for the same dialog: one ▁ before every [INST] (a new SentencePiece
    # encode), one before each answer; the tokenizer prepends ▁ after </s> just the same.
    messages = [UserMessage(content=c) if i % 2 == 0 else AssistantMessage(content=c) for i, c in enumerate(CHAT)]
    tokens = v1.instruct_tokenizer.encode_instruct(InstructRequest(messages=messages, system_prompt="S")).tokens
    pieces = v1.decode(tokens, special_token_policy=SpecialTokenPolicy.KEEP)
    assert pieces == "<s>▁[INST]▁S<0x0A><0x0A>U1▁[/INST]▁A1</s>▁[INST]▁U2▁[/INST]▁A2</s>"
    assert tokens == examples_ids(f, dialogue(*CHAT, system="S"))


def test_system_prompt_goes_before_the_first_user_message(v1):
    """Not the last one (mistral-common's v2/v3 put it before the last user message)."""
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "U2"},
        {"role": "assistant", "content": "A2"},
    ]
    decoded = v1.decode(reference_ids(v1, messages))
    assert decoded.index("S\n\nU1") < decoded.index("U2")
    assert "S\n\nU2" not in decoded


@pytest.mark.parametrize("system", [None, "You are a pirate.  Answer in two lines."])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_seq_length", [4096, 160, 72])
def test_ids_equal_mistral_common(v1, system, mode, max_seq_length):
    f = fitter("mistral", max_seq_length=max_seq_length, system_prompt=system)
    checked = with_system = 0
    for d in DIALOGUES + LONG:
        examples, _ = fit(f, d, mode)
        for ex in examples:
            messages = window_messages(f, ex)
            ids = reference_ids(v1, messages)
            assert list(ex.input_ids) == ids, check_example(f, ex)
            assert normalised_ids(v1, messages) == ids
            checked += 1
            with_system += messages[0]["role"] == "system"
    assert checked > 10
    assert with_system > 0
