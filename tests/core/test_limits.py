"""The character bound of core/limits.py, against the real tokenizer: no token
covers more characters than the bound, and a content cut to one character over it fits (and is
rejected) exactly as the whole content, token for token."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from beam_prep.config import BUNDLED_TOKENIZER
from beam_prep.core.explode import explode
from beam_prep.core.fit import window_text
from beam_prep.core.limits import longest_token_chars, turn_char_limit
from beam_prep.core.normalize import Policy, normalize
from beam_prep.core.records import Example, RawRecord

TOKENIZER = json.loads((Path(BUNDLED_TOKENIZER) / "tokenizer.json").read_text(encoding="utf-8"))


def test_no_token_covers_more_characters_than_the_bound(encoder):
    bound = longest_token_chars(TOKENIZER)
    rng = random.Random(0)
    alphabet = "ab \n\t.,;:-_=#*<>/\\'\"0123456789über你好🙂\u0301"
    texts = ["".join(rng.choices(alphabet, k=2000)) for _ in range(20)]
    texts += [c * 500 for c in " \n\t-=_*#.0a"]  # runs make the longest tokens
    texts += [" ".join(p for p in TOKENIZER["model"]["vocab"] if len(p) >= 12)]  # the longest pieces
    widest = 0
    for text in texts:
        encoding = encoder.plain.encode(text, add_special_tokens=False)
        widest = max(widest, max(end - start for start, end in encoding.offsets))
    assert 1 < widest <= bound


def test_tokenizers_that_may_drop_characters_have_no_bound():
    assert longest_token_chars({**TOKENIZER, "normalizer": {"type": "BertNormalizer"}}) == 0
    assert longest_token_chars({**TOKENIZER, "pre_tokenizer": {"type": "Whitespace"}}) == 0
    removed = {"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Removed"}
    assert longest_token_chars({**TOKENIZER, "pre_tokenizer": removed}) == 0
    plain = longest_token_chars(TOKENIZER)
    assert longest_token_chars({**TOKENIZER, "normalizer": {"type": "NFC"}}) == 4 * plain
    assert longest_token_chars({**TOKENIZER, "normalizer": None}) == plain


def outcome(fitter, dialogue, mode):
    out = []
    for item in fitter.fit([(dialogue, explode(dialogue, mode))], mode):
        if isinstance(item, Example):
            text, start = window_text(fitter, item)
            out.append((item.turn_index, item.start, item.end, item.dropped_turns, item.input_ids, item.labels, text))
        else:
            out.append((item.reason, item.detail))
    return out


@pytest.mark.parametrize("mode", ["per_response", "whole_dialog"])
def test_a_cut_content_fits_exactly_as_the_whole(make_fitter, mode):
    budget = 48
    limit = turn_char_limit(BUNDLED_TOKENIZER, budget)
    huge = "many words " * (limit // 5)
    turns = ["q1", "a1", huge, "a2", "q3", "a3", "q4", huge + "!", "q5", "a5"]
    value = {"messages": [{"role": ("user", "assistant")[i % 2], "content": c} for i, c in enumerate(turns)]}
    whole, _, _ = normalize(RawRecord("f", 1, value))
    cut, repairs, _ = normalize(RawRecord("f", 1, value), policy=Policy(max_turn_chars=limit))
    assert "shortened_unfittable_turn" in repairs and cut.id == whole.id
    assert max(len(t.content) for t in cut.turns) == limit + 1 < len(huge)
    fitter = make_fitter(max_seq_length=budget)
    expected = outcome(fitter, whole, mode)
    assert expected == outcome(fitter, cut, mode)
    assert any(o[0] == "too_long" for o in expected) and any(isinstance(o[0], int) for o in expected)
