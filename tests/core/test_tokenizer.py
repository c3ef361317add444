"""TextEncoder.encode_units against the tokenizer itself: long units are encoded in chunks, and the
chunks shared by several units of a batch are encoded once, without changing a single id."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from beam_prep.config import BUNDLED_TOKENIZER
from beam_prep.core.explode import explode
from beam_prep.core.fit import window_text
from beam_prep.core.loading import FitterSpec
from beam_prep.core.records import Example
from beam_prep.core.templates import load_template
from beam_prep.core.tokenizer import ANCHOR, CHUNK_CHARS, TextEncoder, chunk_cuts
from tests.conftest import dialogue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizers"
WORDS = [
    "the",
    "model",
    "ça",
    "va",
    "数据",
    "集合",
    "Привет",
    "x=1;",
    "def",
    "f(a,",
    "b):",
    "  ",
    "\n",
    "\t",
    "é",
    "🙂",
]


def long_text(rng: random.Random, chars: int) -> str:
    out = []
    while sum(map(len, out)) < chars:
        out.append(rng.choice(WORDS))
        out.append(rng.choice([" ", " ", " ", "  ", "\n", " \n ", ""]))
    return "".join(out).strip()


@pytest.fixture(scope="module", params=[BUNDLED_TOKENIZER, FIXTURES / "mistral-llama3"], ids=["mistral", "llama3"])
def enc(request) -> TextEncoder:
    return TextEncoder(request.param)


def test_chunk_cuts_are_split_points_that_depend_only_on_what_precedes():
    rng = random.Random(1)
    text = long_text(rng, 5 * CHUNK_CHARS)
    cuts = chunk_cuts(text)
    assert cuts[0] == 0 and cuts[-1] == len(text) and len(cuts) > 3
    assert all(text[c] == " " and not text[c - 1].isspace() for c in cuts[1:-1])
    assert all(b - a >= CHUNK_CHARS for a, b in zip(cuts[:-2], cuts[1:-1]))
    longer = text + "###User: and more"
    assert chunk_cuts(longer)[: len(cuts) - 1] == cuts[:-1]
    assert chunk_cuts("short text") == [0, 10]


def reference(enc: TextEncoder, text: str, start: bool) -> tuple[list[int], list[int]]:
    """ids and end offsets of a unit, by the tokenizer on the whole unit (after the anchor if mid-text)."""
    ref = enc.plain.encode(text if start else ANCHOR + text, add_special_tokens=False)
    skip, shift = (0, 0) if start else (len(enc._anchor_ids), len(ANCHOR))
    return ref.ids[skip:], [e - shift for _, e in ref.offsets[skip:]]


def test_units_in_chunks_have_the_ids_and_offsets_of_the_whole_unit(enc):
    rng = random.Random(2)
    units = []
    for n in (10, CHUNK_CHARS - 1, CHUNK_CHARS + 5, 3 * CHUNK_CHARS, 20 * CHUNK_CHARS):
        text = long_text(rng, n)
        units += [(text, True), (" " + text, False)]
    for (text, start), tokens in zip(units, enc.encode_units(units)):
        assert (list(tokens.ids), list(tokens.ends)) == reference(enc, text, start)


def test_a_batch_encodes_the_shared_chunks_of_its_units_once(enc, monkeypatch):
    content = " " + long_text(random.Random(3), 6 * CHUNK_CHARS)
    units = [(content + "###User:", False), (content, False)]
    sent, real = [], enc.plain

    class Spy:
        def encode_batch(self, texts, **kwargs):
            sent.extend(texts)
            return real.encode_batch(texts, **kwargs)

        def encode_batch_fast(self, texts, **kwargs):  # no offsets: for the memory form
            sent.extend(texts)
            return real.encode_batch_fast(texts, **kwargs)

    monkeypatch.setattr(enc, "plain", Spy())
    memory, target = enc.encode_units(units, [False, True])
    monkeypatch.setattr(enc, "plain", real)
    assert sum(map(len, sent)) < 1.2 * len(content)  # not twice
    assert memory.ends is None and list(memory.ids) == reference(enc, *units[0])[0]
    assert (list(target.ids), list(target.ends)) == reference(enc, *units[1])


@pytest.mark.parametrize(
    "template, tokenizer",
    [
        ("llama2-chat-memory", BUNDLED_TOKENIZER),
        ("chatml", FIXTURES / "mistral-chatml"),
        ("llama3", FIXTURES / "mistral-llama3"),
    ],
)
def test_examples_with_long_turns_equal_the_tokenizer(template, tokenizer):
    """The trainer's tokenizer(text) is the reference for every example of long, chunked turns."""
    fitter = FitterSpec(load_template(template), 2048).build(TextEncoder(tokenizer))
    rng = random.Random(4)
    d = dialogue(*[long_text(rng, rng.choice([50, 400, 1500, 4000])) for _ in range(8)], system="be brief")
    examples = [e for e in fitter.fit([(d, explode(d, "per_response"))], "per_response") if isinstance(e, Example)]
    assert len(examples) >= 2 and any(e.dropped_turns for e in examples)
    for ex in examples:
        text, _ = window_text(fitter, ex)
        assert fitter.encoder.encode_text(text) == list(ex.input_ids)


@pytest.mark.parametrize("folder", [Path(BUNDLED_TOKENIZER), *sorted(FIXTURES.glob("mistral-*"))], ids=lambda p: p.name)
def test_a_worker_given_the_identity_loads_the_same_tokenizer_without_autotokenizer(folder, monkeypatch):
    """What pipeline/worker.py does with the submitting process's identity: the class it names,
    loaded directly, must be the tokenizer AutoTokenizer gives (same serialisation, BOS, EOS, ids)."""
    auto = TextEncoder(folder)
    import transformers

    def refused(*args, **kwargs):
        raise AssertionError("AutoTokenizer used although the identity was given")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refused)
    direct = TextEncoder(folder, auto.identity)
    assert type(direct.hf) is type(auto.hf)
    assert direct.identity == auto.identity
    assert direct.backend.to_str() == auto.backend.to_str()
    assert (direct.prefix_ids, direct.suffix_ids, direct.special_ids) == (
        auto.prefix_ids,
        auto.suffix_ids,
        auto.special_ids,
    )
    text = "Hello  world ça va 数据 </s> <|im_end|> 🙂\n\tdef f(a, b):"
    assert direct.encode_text(text) == auto.encode_text(text)
    units = [(text, True), (" " + text, False)]
    assert direct.encode_units(units) == auto.encode_units(units)


@pytest.mark.parametrize(
    "identity",
    [
        ("transformers.models.llama.tokenization_llama.LlamaTokenizer", "0" * 64),  # another tokenizer's digest
        ("transformers.tokenization_utils_tokenizers.TokenizersBackend", None),  # another class, same digest
        ("os.path.join", None),  # not a transformers class
        ("transformers.no_such_module.Tokenizer", None),
    ],
)
def test_an_identity_that_does_not_match_falls_back_to_autotokenizer(identity):
    auto = TextEncoder(BUNDLED_TOKENIZER)
    given = (identity[0], identity[1] or auto.identity[1])
    other = TextEncoder(BUNDLED_TOKENIZER, given)
    assert other.identity == auto.identity
    assert type(other.hf) is type(auto.hf)


def test_the_identity_names_the_class_and_digests_what_the_encoder_reads(tmp_path):
    import json
    import shutil

    copy = tmp_path / "tok"
    shutil.copytree(BUNDLED_TOKENIZER, copy)
    made = TextEncoder(copy)
    assert made.identity[0].startswith("transformers.") and len(made.identity[1]) == 64
    assert made.identity == TextEncoder(BUNDLED_TOKENIZER).identity  # the files, not the folder's path
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config["eos_token"] = "<unk>"
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    assert TextEncoder(copy).identity[1] != made.identity[1]
