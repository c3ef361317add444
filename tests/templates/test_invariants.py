"""Every template, both modes: ids equal the tokenizer's, labels mask exactly the assistant spans.

For each emitted example: input_ids == AutoTokenizer(text), the text equals the template rendered
directly, len(input_ids) <= max_seq_length, labels are -100 except on the assistant contents being
trained and the end-of-turn token after each (computed from the tokenizer's own offsets), and there
is exactly one BOS at the start.
"""

from __future__ import annotations

import random

import pytest

from beam_prep.core.records import Dialogue
from tests.templates.helpers import MODES, TEMPLATE_TOKENIZER, check_example, dialogue, fit, fitter

SYSTEM = "You answer briefly.  Keep code in fences."
DIALOGUES = [
    dialogue("Hi", "Hello!", "How are you?", "I am doing great!"),
    dialogue(
        "Write a Python function that adds two numbers.",
        "```python\ndef add(a, b):\n    return a + b\n```\nUse it as `add(1, 2)`.",
        "And in C#?",
        "static int Add(int a, int b) => a + b;  // C# #",
        system=SYSTEM,
    ),
    dialogue("你好，世界！今天天气怎么样？", "今天天气很好 🙂🌞，适合出去走走。", "👍🏽 谢谢", "不客气 🙏"),
    dialogue("two  spaces   three\tand a tab", "reply  with  double  spaces", "ends with hash ####", "answer #"),
    dialogue(
        "[INST] pretend this is an instruction [/INST] and <<SYS>>",
        "I see [/INST] inside text, and ### User: too",
        "User: Falcon: System: are just words",
        "Right: ### Assistant: is text here",
        system="<<SYS>> is a literal here",
    ),
    dialogue("Q", "Z", "K", "J x"),  # one-character turns
    dialogue("'quoted' start", ":) smile first", '"double" quotes', "...dots first", "x", "¿qué tal?"),
]


def _random_dialogue(rng: random.Random, n: int) -> Dialogue:
    # "" joins into double spaces; "b):\n" and "" + "return" into an indented code line
    words = ("the", "memory", "keeps", "older", "turns", "42", "###", "C#", "x=1;", "def", "f(a,", "b):\n", "", "")
    words += ("return", "a+b", "", "über", "café", "你好世界", "🙂", "[INST]", "##", "(see)", '"quoted"', "end.", "#")
    contents = [f"T{i}: " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 40))) for i in range(n)]
    return dialogue(*(c.strip() for c in contents), system=SYSTEM if n % 2 else None, id=f"r{n}")


LONG = [_random_dialogue(random.Random(n), n) for n in (8, 13, 20, 31)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("template", sorted(TEMPLATE_TOKENIZER))
def test_every_example_is_token_exact_with_exact_labels(template, mode):
    checked = truncated = 0
    for max_seq_length in (4096, 160, 72):
        f = fitter(template, max_seq_length=max_seq_length)
        for d in DIALOGUES + LONG:
            examples, rejects = fit(f, d, mode)
            assert all(r.reason == "too_long" for r in rejects)
            for ex in examples:
                text = check_example(f, ex)
                assert text.rstrip().endswith(f.template.end_of_turn)  # so the target trains it
                checked += 1
                truncated += ex.start > d.has_system
    assert checked > 40
    assert truncated > 5


@pytest.mark.parametrize("template", sorted(TEMPLATE_TOKENIZER))
def test_whole_dialog_trains_every_assistant_turn(template):
    f = fitter(template)
    d = DIALOGUES[1]
    [ex], _ = fit(f, d, "whole_dialog")
    assert ex.trained == (2, 4) and check_example(f, ex)


@pytest.mark.parametrize("template", sorted(TEMPLATE_TOKENIZER))
def test_per_response_trains_only_the_target(template):
    f = fitter(template)
    examples, _ = fit(f, DIALOGUES[0], "per_response")
    assert [ex.trained for ex in examples] == [(1,), (3,)]
    for ex in examples:
        check_example(f, ex)


class _CountingTokenizer:
    """The encoder's plain tokenizer, counting the texts encoded with and without end offsets."""

    def __init__(self, plain):
        self._plain, self.with_offsets, self.without = plain, 0, 0

    def encode_batch(self, texts, **kwargs):
        self.with_offsets += len(texts)
        return self._plain.encode_batch(texts, **kwargs)

    def encode_batch_fast(self, texts, **kwargs):
        self.without += len(texts)
        return self._plain.encode_batch_fast(texts, **kwargs)


@pytest.mark.parametrize(
    ("template", "mode", "offsets_needed"),
    [
        # Llama-2's answer begins a unit after the space of `[/INST] ` and ends with `</s>`: no
        # token offsets.
        ("llama2-chat-memory", "per_response", False),
        ("llama2-chat", "per_response", False),
        ("llama2-chat", "whole_dialog", False),
        # The memory format's earlier answers run on into `###User:` in one unit: offsets.
        ("llama2-chat-memory", "whole_dialog", True),
        # ChatML's and Llama-3's begin inside the unit after `<|im_start|>` / `<|end_header_id|>`.
        ("chatml", "per_response", True),
        ("llama3", "per_response", True),
    ],
)
def test_labels_read_token_offsets_only_where_a_boundary_needs_them(monkeypatch, template, mode, offsets_needed):
    f = fitter(template)
    counting = _CountingTokenizer(f.encoder.plain)
    monkeypatch.setattr(f.encoder, "plain", counting)
    checked = 0
    for d in DIALOGUES + LONG:
        examples, _ = fit(f, d, mode)
        for ex in examples:
            check_example(f, ex)  # labels still equal the tokenizer's own offsets over the whole text
            checked += 1
    assert checked > 10 and counting.without > 0
    assert (counting.with_offsets > 0) == offsets_needed
