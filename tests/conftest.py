"""Shared fixtures: the real bundled tokenizer (Mistral-7B-v0.1, see beam_prep/resources/tokenizer)."""

from __future__ import annotations

import pytest

from beam_prep.config import BUNDLED_TOKENIZER
from beam_prep.core.fit import Fitter
from beam_prep.core.loading import FitterSpec
from beam_prep.core.records import Dialogue, Turn
from beam_prep.core.templates import load_template
from beam_prep.core.tokenizer import TextEncoder


@pytest.fixture(scope="session")
def encoder() -> TextEncoder:
    return TextEncoder(BUNDLED_TOKENIZER)


@pytest.fixture(scope="session")
def make_fitter(encoder):
    def make(template="llama2-chat-memory", max_seq_length=4096, **kwargs) -> Fitter:
        return FitterSpec(load_template(template), max_seq_length, **kwargs).build(encoder)

    return make


def dialogue(*contents: str, system: str | None = None, id: str = "d") -> Dialogue:
    """A dialogue of alternating user/assistant contents, optionally after a system turn."""
    turns = [Turn("system", system)] if system is not None else []
    turns += [Turn("user" if i % 2 == 0 else "assistant", c) for i, c in enumerate(contents)]
    return Dialogue(id, tuple(turns), "test.jsonl", 1)
