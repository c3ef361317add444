"""Shared pieces of the template reference tests: tokenizers, dialogues, fitting, label checks.

Tokenizers: the bundled Mistral-7B-v0.1 one, and the test tokenizers of tests/fixtures/tokenizers
(Mistral's vocabulary plus ChatML or Llama-3 special tokens; see the README there).
"""

from __future__ import annotations

import functools
from pathlib import Path

from beam_prep.config import BUNDLED_TOKENIZER
from beam_prep.core.explode import explode
from beam_prep.core.fit import IGNORE_INDEX, window_text
from beam_prep.core.loading import FitterSpec
from beam_prep.core.records import SYSTEM, Dialogue, Example, Reject, Turn
from beam_prep.core.screen import special_token_reject
from beam_prep.core.templates import load_template
from beam_prep.core.tokenizer import TextEncoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHAT_TEMPLATES = FIXTURES / "chat_templates"
TOKENIZERS = {
    "mistral": BUNDLED_TOKENIZER,
    "chatml": str(FIXTURES / "tokenizers" / "mistral-chatml"),
    "llama3": str(FIXTURES / "tokenizers" / "mistral-llama3"),
    "qwen2.5": str(FIXTURES / "tokenizers" / "mistral-qwen2.5"),
    "qwen3": str(FIXTURES / "tokenizers" / "mistral-qwen3"),
    "llama3.1": str(FIXTURES / "tokenizers" / "mistral-llama3.1"),
    "mistral-v3": str(FIXTURES / "tokenizers" / "mistral-v3"),
}
# The tokenizer each bundled template is tested with: one that has the template's control tokens.
TEMPLATE_TOKENIZER = {
    "llama2-chat-memory": "mistral",
    "falcon": "mistral",
    "llama2-chat": "mistral",
    "mistral": "mistral",
    "falcon-instruct": "mistral",
    "chatml": "chatml",
    "llama3": "llama3",
    "qwen2.5": "qwen2.5",
    "tokenizer": "llama3",  # its chat_template is Llama-3-Instruct's
}
MODES = ("per_response", "whole_dialog")


@functools.cache
def encoder(name: str = "mistral") -> TextEncoder:
    return TextEncoder(TOKENIZERS.get(name, name))


def fitter(template: str, tokenizer: str | None = None, max_seq_length: int = 4096, **kwargs):
    enc = encoder(tokenizer or TEMPLATE_TOKENIZER.get(template, "mistral"))
    return FitterSpec(load_template(template), max_seq_length, **kwargs).build(enc)


def dialogue(*contents: str, system: str | None = None, id: str = "d") -> Dialogue:
    """Alternating user/assistant contents, optionally after a system turn."""
    turns = [Turn(SYSTEM, system)] if system is not None else []
    turns += [Turn("user" if i % 2 == 0 else "assistant", c) for i, c in enumerate(contents)]
    return Dialogue(id, tuple(turns), "test.jsonl", 1)


def fit(fitter_, d: Dialogue, mode: str = "per_response", screen: bool = True) -> tuple[list[Example], list[Reject]]:
    """As the pipeline does: the special-token check before the split (`screen`:
    --special_tokens_in_content reject), then the Fitter."""
    if screen and (special := special_token_reject(fitter_.encoder, d)):
        return [], [special]
    out = list(fitter_.fit([(d, explode(d, mode))], mode))
    return [o for o in out if isinstance(o, Example)], [o for o in out if isinstance(o, Reject)]


def window_messages(fitter_, ex: Example) -> list[dict]:
    """The messages a reference renders for an example: its system prompt, then its window of turns."""
    d = ex.dialogue
    system = d.turns[0].content if d.has_system else fitter_.system_prompt
    head = [{"role": "system", "content": system}] if system is not None else []
    return head + [{"role": t.role, "content": t.content} for t in d.turns[ex.start : ex.end + 1]]


def expected_labels(hf, text: str, ex: Example, end_of_turn: str) -> list[int]:
    """Labels from the tokenizer's own offsets: a token is trained when it overlaps a trained
    assistant content or the end-of-turn marker right after it (whitespace between allowed).

    Contents are located by searching the text in order, so test dialogues must not repeat a
    turn's content in the template text or system prompt before it."""
    enc = hf(text, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    spans, pos = [], 0
    for i in range(ex.start, ex.end + 1):
        content = ex.dialogue.turns[i].content
        at = text.index(content, pos)
        pos = at + len(content)
        while at and text[at - 1] == " ":  # the spaces before an answer are trained with it
            at -= 1
        if i in ex.trained:
            end = pos
            rest = text[pos:]
            if end_of_turn and rest.lstrip().startswith(end_of_turn):
                end = pos + len(rest) - len(rest.lstrip()) + len(end_of_turn)
            spans.append((at, end))
    labels = [IGNORE_INDEX] * len(ids)
    for k, (s, e) in enumerate(offsets):
        if e > s and any(s < b and e > a for a, b in spans):
            labels[k] = ids[k]
    return labels


def trained_runs(labels: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each run of trained positions."""
    runs, start = [], None
    for i, label in enumerate([*labels, IGNORE_INDEX]):
        if label != IGNORE_INDEX and start is None:
            start = i
        elif label == IGNORE_INDEX and start is not None:
            runs.append((start, i))
            start = None
    return runs


def without_untrained_tail(reference: str, ex: Example, end_of_turn: str) -> str:
    """A reference rendering of an example's window as the row holds it: up to the last answer's
    end-of-turn marker (whitespace before it allowed), or its content when there is none; what a
    template writes after it (ChatML's newline, a generation header) is never trained."""
    last = ex.dialogue.turns[ex.end].content
    end = reference.rindex(last) + len(last)
    rest = reference[end:]
    if end_of_turn and rest.lstrip().startswith(end_of_turn):
        return reference[: len(reference) - len(rest.lstrip()) + len(end_of_turn)]
    return reference[:end]


def check_example(fitter_, ex: Example) -> str:
    """Every invariant of an emitted example against the tokenizer itself; returns its text.

    The prompt/completion boundary: `tokenizer(prompt)` is a prefix of input_ids; in per_response
    mode the labels are -100 exactly on that prefix and train every token after it."""
    enc = fitter_.encoder
    text, completion_start = window_text(fitter_, ex)
    rendered = fitter_.template.render(window_messages(fitter_, ex))
    bos = enc.bos_token
    if enc.prefix_ids and rendered.startswith(bos):
        rendered = rendered[len(bos) :]  # the tokenizer adds it: the text column leaves it out
    eot = fitter_.template.end_of_turn
    assert text == without_untrained_tail(rendered, ex, eot), "spliced text differs from the template's"
    assert list(ex.input_ids) == enc.hf(text)["input_ids"], text
    prompt_ids = enc.hf(text[:completion_start])["input_ids"]
    n = len(prompt_ids)
    assert list(ex.input_ids)[:n] == prompt_ids, f"tokenizer(prompt) is not a prefix of input_ids: {text!r}"
    assert ex.labels[n - 1] == IGNORE_INDEX != ex.labels[n], "the completion starts at the first trained token"
    if ex.trained == (ex.end,):
        body = len(ex.input_ids) - len(enc.suffix_ids)
        assert set(ex.labels[:n]) == {IGNORE_INDEX} and ex.labels[n:body] == ex.input_ids[n:body]
    assert len(ex.input_ids) <= fitter_.max_seq_length
    assert list(ex.labels) == expected_labels(enc.hf, text, ex, eot), text
    runs = trained_runs(ex.labels)
    assert len(runs) == len(ex.trained)
    for a, b in runs:
        assert ex.labels[a:b] == ex.input_ids[a:b]
    if eot in enc.special_ids and text.rstrip().endswith(eot):  # the target's end-of-turn is trained
        assert ex.input_ids[runs[-1][1] - 1] == enc.special_ids[eot], "the target's span ends with end-of-turn"
    if enc.prefix_ids:
        bos_id = enc.prefix_ids[0]
        assert ex.input_ids[0] == bos_id and ex.input_ids[1] != bos_id, "exactly one BOS at the start"
        # one added by the tokenizer, plus those the format writes later (Llama-2-chat: one per pair)
        assert ex.input_ids.count(bos_id) == 1 + text.count(bos)
    return text
