"""The tokenizer as a trainer sees it, and exact encoding of text pieces for assembly.

`TextEncoder` wraps the Rust tokenizer behind `transformers.AutoTokenizer` (the very object a
trainer's `tokenizer(text)` uses). It encodes *units*: pieces of an example's text that start at a
hard split point (the start of the text, the end of a special token, or a space after a non-space
character), so that the ids of a text are the concatenation of its units' ids. Message content is
always encoded with special-token parsing off: `</s>` typed by a user never becomes id 2.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from array import array
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

ANCHOR = "a"  # encoded in front of a mid-text unit so the tokenizer sees it as mid-text
CHUNK_CHARS = 192  # a longer unit is encoded in chunks of about this size (measured: benchmarks/README.md)
_SPLIT_POINT = re.compile(r"(?<=\S) ")
_END = itemgetter(1)  # a token's end in an (start, end) offset pair


class TokenizerError(ValueError):
    """A tokenizer that cannot be loaded or used; the message names the path and the problem."""


@dataclass(frozen=True, slots=True)
class UnitTokens:
    ids: array  # array('i'): made once per chunk, then only copied (layout.py's groups)
    ends: tuple[int, ...] | None  # each token's end offset (characters) in the unit's text, if computed


class TextEncoder:
    """Load once per worker (DoFn.setup); never pickle it into the pipeline graph."""

    def __init__(self, tokenizer_dir: str | Path, expected: tuple[str, str] = ("", "")):
        """`expected`: another process's `identity` of this folder (pipeline/worker.py). When the
        class it names, loaded directly, gives the same tokenizer (the digest matches), that class
        is used and `AutoTokenizer`, whose imports pull in PyTorch (3 CPU-s a worker), is not."""
        # transformers warns at import that PyTorch is missing: we only need its tokenizers.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        path = Path(tokenizer_dir)
        if not (path / "tokenizer.json").is_file():
            raise TokenizerError(f"no tokenizer.json in tokenizer directory {str(tokenizer_dir)!r}")
        self.hf, serialized = _direct(path, expected) if expected[0] else (None, "")
        if self.hf is None:
            from transformers import AutoTokenizer

            try:
                self.hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            except Exception as exc:  # transformers raises many kinds; the message is what matters
                raise TokenizerError(f"cannot load tokenizer from {str(tokenizer_dir)!r}: {exc}") from None
            serialized = self.hf.backend_tokenizer.to_str()
        self.backend = self.hf.backend_tokenizer
        self.plain = self.backend.__class__.from_str(serialized)
        self.plain.encode_special_tokens = True  # content and literal text: never parse specials
        self.plain.no_truncation()
        self.plain.no_padding()
        self.identity = _identity(self.hf, serialized)
        self.bos_token = self.hf.bos_token or ""
        self.eos_token = self.hf.eos_token or ""
        self.chat_template = _chat_template(path)
        self.tool_chat_template = _chat_template(
            path, "tool_use"
        )  # named templates: apply_chat_template's pick with tools
        specials = sorted((t.content for t in self.backend.get_added_tokens_decoder().values()), key=len, reverse=True)
        self.special_tokens = tuple(s for s in specials if s)
        self.special_ids = {s: self.backend.token_to_id(s) for s in self.special_tokens}
        self._special_re = re.compile("|".join(map(re.escape, self.special_tokens))) if self.special_tokens else None
        # What the post-processor adds around a text (BOS, sometimes EOS), as a trainer's tokenizer(text).
        with_specials = self.backend.encode("x", add_special_tokens=True).ids
        bare = self.backend.encode("x", add_special_tokens=False).ids
        at = _find(with_specials, bare)
        self.prefix_ids = tuple(with_specials[:at])
        self.suffix_ids = tuple(with_specials[at + len(bare) :])
        # The anchor's own tokens before a hard split point, dropped from every mid-text unit.
        probe = self.plain.encode(ANCHOR + " x", add_special_tokens=False)
        self._anchor_ids = [i for i, (_, end) in zip(probe.ids, probe.offsets) if end <= len(ANCHOR)]

    # -- what a trainer sees -------------------------------------------------------------------
    def encode_text(self, text: str) -> list[int]:
        """`tokenizer(text)["input_ids"]`: the reference every assembled example must equal."""
        return self.backend.encode(text, add_special_tokens=True).ids

    def split_specials(self, text: str) -> list[tuple[str, bool]]:
        """A literal template text cut into (piece, is_special_token) in order."""
        if not text:
            return []
        if self._special_re is None:
            return [(text, False)]
        out, pos = [], 0
        for m in self._special_re.finditer(text):
            if m.start() > pos:
                out.append((text[pos : m.start()], False))
            out.append((m.group(), True))
            pos = m.end()
        if pos < len(text):
            out.append((text[pos:], False))
        return out

    def find_special(self, content: str) -> str | None:
        """The first special-token string inside message content, if any."""
        if self._special_re is None:
            return None
        m = self._special_re.search(content)
        return m.group() if m else None

    # -- units ---------------------------------------------------------------------------------
    def encode_units(self, units: list[tuple[str, bool]], want_ends: list[bool] | None = None) -> list[UnitTokens]:
        """Encode (text, starts_piece) units in one batch.

        A unit that starts a piece (the text's start, or right after a special token) is encoded on
        its own; any other unit starts with a space after a non-space character and is encoded after
        an anchor character, whose tokens are then dropped. Token end offsets (for labels) are
        computed only where `want_ends` asks for them: they cost a third of the encoding.

        A long unit is cut into chunks at the same kind of split point (`chunk_cuts`) and each
        distinct chunk is encoded once per batch: an assistant turn's memory form (`content` plus
        the next turn's header) and its target form (`content`) share every chunk but the last.
        """
        chunks: dict[tuple[str, bool], int] = {}
        plans = []
        for unit in units:
            text, start = unit
            if len(text) <= CHUNK_CHARS:
                plans.append(((chunks.setdefault(unit, len(chunks)), 0),))
                continue
            cuts = chunk_cuts(text)
            plan = []
            for k in range(len(cuts) - 1):
                a = cuts[k]
                plan.append((chunks.setdefault((text[a : cuts[k + 1]], start and k == 0), len(chunks)), a))
            plans.append(plan)
        wanted = [False] * len(chunks)
        for i, plan in enumerate(plans):
            if want_ends is None or want_ends[i]:
                for c, _ in plan:
                    wanted[c] = True
        encoded = self._encode_chunks(list(chunks), wanted)
        out = []
        for i, plan in enumerate(plans):
            want = want_ends is None or want_ends[i]
            if len(plan) == 1:
                ids, ends = encoded[plan[0][0]]
            else:
                ids, ends = array("i"), [] if want else None
                for c, a in plan:
                    ids += encoded[c][0]
                    if want:
                        ends += [a + e for e in encoded[c][1]]
                ends = ends and tuple(ends)
            out.append(UnitTokens(ids, ends if want else None))
        return out

    def _encode_chunks(self, chunks: list[tuple[str, bool]], wanted: list[bool]):
        """(ids, ends or None) of each (text, starts_piece) chunk: chunks that need their offsets in
        one tokenizer batch, the others (most: memory) in one batch that computes no offsets."""
        texts = [t if start else ANCHOR + t for t, start in chunks]
        encodings: list = [None] * len(texts)
        for with_offsets in (True, False):
            at = [i for i, w in enumerate(wanted) if w == with_offsets]
            encode = self.plain.encode_batch if with_offsets else self.plain.encode_batch_fast
            for i, enc in zip(at, encode([texts[i] for i in at], add_special_tokens=False) if at else ()):
                encodings[i] = enc
        anchor, skip = self._anchor_ids, len(self._anchor_ids)
        out = []
        for (text, start), enc, want in zip(chunks, encodings, wanted):
            ids = enc.ids
            if not start and ids[:skip] != anchor:
                raise TokenizerError(f"tokenizer merges across a space boundary in {text[:40]!r}; not supported")
            ids = ids if start else ids[skip:]
            ends = None
            if want:
                if start:
                    ends = tuple(map(_END, enc.offsets))
                else:
                    shift = len(ANCHOR)
                    ends = tuple([e - shift for _, e in enc.offsets[skip:]])
            out.append((array("i", ids), ends))
        return out


def _identity(hf, serialized: str) -> tuple[str, str]:
    """(the tokenizer's class as module.name, a digest of everything of it the encoder reads:
    the backend's serialisation, BOS and EOS)."""
    cls = type(hf)
    digest = hashlib.sha256("\0".join((serialized, hf.bos_token or "", hf.eos_token or "")).encode("utf-8"))
    return f"{cls.__module__}.{cls.__qualname__}", digest.hexdigest()


def _direct(path: Path, expected: tuple[str, str]):
    """(tokenizer, its backend serialised) loaded with the class `expected` names, if it is the
    tokenizer `expected` describes; else (None, "") and the caller asks AutoTokenizer."""
    module, _, name = expected[0].rpartition(".")
    if not module.startswith("transformers."):
        return None, ""
    try:
        hf = getattr(importlib.import_module(module), name).from_pretrained(str(path), local_files_only=True)
        serialized = hf.backend_tokenizer.to_str()
    except Exception:  # any failure: AutoTokenizer decides, and reports its own error
        return None, ""
    return (hf, serialized) if _identity(hf, serialized) == tuple(expected) else (None, "")


def chunk_cuts(text: str, size: int | None = None) -> list[int]:
    """[0, cut, ..., len(text)]: a cut at the first split point (a space after a non-space
    character) at least `size` characters after the previous cut. Cuts depend only on the text
    before them, so texts with a common beginning share the chunks inside it."""
    cuts, size = [0], size or CHUNK_CHARS
    while (m := _SPLIT_POINT.search(text, cuts[-1] + size)) is not None:
        cuts.append(m.start())
    cuts.append(len(text))
    return cuts


def _find(haystack: list[int], needle: list[int]) -> int:
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    raise TokenizerError("cannot locate the text inside the tokenizer's post-processed output")


def _chat_template(path: Path, name: str = "default") -> str | None:
    config_path = path / "tokenizer_config.json"
    if config_path.is_file():
        template = json.loads(config_path.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, list):  # named templates: the default one, or `name`
            template = next((t["template"] for t in template if t.get("name") == name), None)
        elif name != "default":
            return None
        if template:
            return template
    if name != "default":
        return None
    jinja_path = path / "chat_template.jinja"
    return jinja_path.read_text(encoding="utf-8") if jinja_path.is_file() else None
