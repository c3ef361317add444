"""Size limits that follow from the token budget, known before anything is tokenized.

A token covers at most `longest_token_chars` characters of the text, so a message content longer
than `max_seq_length * longest_token_chars` characters cannot fit any window, whatever its
tokenization: normalisation (core/normalize.py) cuts it to one character over that bound, which
the Fitter rejects exactly as it would the whole content (too_long), without tokenizing megabytes.

The bound holds for tokenizers that never drop or merge input characters before the model's
vocabulary sees them: byte-level BPE (GPT-2, Llama 3, Qwen) and SentencePiece-style BPE with a
`Prepend`/`Replace` normaliser (Llama 2, Mistral). For a normaliser that can compose characters
(NFC, NFKC) the bound is multiplied by 4, the longest canonical decomposition in Unicode; for one
that can delete characters (Strip, BertNormalizer, a regex Replace, a sentencepiece charsmap) or
a pre-tokenizer that drops whitespace, there is no bound (0) and contents are tokenized whole.
"""

from __future__ import annotations

import json
from pathlib import Path

COMPOSING = {"NFC": 4, "NFKC": 4}  # normalisers that may turn up to 4 characters into 1
EXPANDING = {"NFD", "NFKD", "Lowercase", "Prepend"}  # never fewer characters out than in
SAFE_PRE_TOKENIZERS = {"ByteLevel", "Metaspace", "Digits", "Punctuation", "Split", "UnicodeScripts"}
RECORD_MB = 64.0  # default --max_record_mb


def longest_token_chars(tokenizer: dict) -> int:
    """The most characters of input text one token can stand for, from tokenizer.json's content:
    the longest vocabulary or added-token string (a byte-level symbol or a byte-fallback `<0xAB>`
    stands for at most one character, so the string's length is an upper bound), times what the
    normaliser may compress; 0 when no such bound is known."""
    factor = _normalizer_factor(tokenizer.get("normalizer"))
    if not factor or not _pre_tokenizer_keeps(tokenizer.get("pre_tokenizer")):
        return 0
    vocab = (tokenizer.get("model") or {}).get("vocab") or {}
    pieces = list(vocab) if isinstance(vocab, dict) else [entry[0] for entry in vocab]
    pieces += [t.get("content", "") for t in tokenizer.get("added_tokens") or []]
    longest = max(map(len, pieces), default=0)
    return longest * factor


def turn_char_limit(tokenizer_dir: str | Path, max_seq_length: int) -> int:
    """Characters over which a message content cannot fit `max_seq_length` tokens (0: no bound)."""
    tokenizer = json.loads((Path(tokenizer_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    return max_seq_length * longest_token_chars(tokenizer)


def _normalizer_factor(normalizer) -> int:
    if normalizer is None:
        return 1
    kind = normalizer.get("type")
    if kind == "Sequence":
        factor = 1
        for step in normalizer.get("normalizers") or []:
            factor *= _normalizer_factor(step)
        return factor
    if kind in EXPANDING:
        return 1
    if kind in COMPOSING:
        return COMPOSING[kind]
    if kind == "Replace":
        pattern, content = (normalizer.get("pattern") or {}).get("String"), normalizer.get("content") or ""
        if pattern and content:  # a plain string: len(pattern) characters become len(content)
            return max(1, -(-len(pattern) // len(content)))
    return 0


def _pre_tokenizer_keeps(pre) -> bool:
    if pre is None:
        return True
    if pre.get("type") == "Sequence":
        return all(map(_pre_tokenizer_keeps, pre.get("pretokenizers") or []))
    return pre.get("type") in SAFE_PRE_TOKENIZERS and pre.get("behavior") != "Removed"
