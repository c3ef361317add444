"""A worker's redaction (io/redact.py Fingerprints) replaces exactly the spans a plain search finds."""

from __future__ import annotations

import random

from beam_prep.io.redact import REDACTED, Fingerprints


def reference(text: str, secrets: list[str]) -> str:
    """The plain search: longest secrets first; for each length, left to right, a match skips its
    span (the digest-per-position scan this replaces, with the values themselves)."""
    for length in sorted({len(s) for s in secrets}, reverse=True):
        same = {s for s in secrets if len(s) == length}
        i, out = 0, []
        while i + length <= len(text):
            if text[i : i + length] in same:
                out.append(REDACTED)
                i += length
            else:
                out.append(text[i])
                i += 1
        text = "".join(out) + text[i:]
    return text


def test_every_occurrence_is_replaced_as_a_plain_search_would():
    rng = random.Random(7)
    alphabet = "ab01_-/ ü€🙂"
    for _ in range(300):
        secrets = ["".join(rng.choice(alphabet) for _ in range(rng.randint(8, 14))) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            secrets.append(secrets[0][:8])  # a secret that is a prefix of another
        pieces = []
        for _ in range(rng.randint(0, 8)):
            pieces.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))
            pieces.append(rng.choice(secrets))
        text = "".join(pieces)
        assert Fingerprints.of(secrets).replace(text) == reference(text, secrets), (text, secrets)


def test_overlapping_and_adjacent_occurrences():
    secret = "aaaaaaaa"
    fp = Fingerprints.of([secret])
    assert fp.replace("a" * 17) == REDACTED * 2 + "a"
    assert fp.replace("x" + secret + secret + "y") == "x" + REDACTED * 2 + "y"
    assert fp.replace("short") == "short"
    assert fp.replace("") == ""


def test_the_fingerprints_hold_no_secret_value():
    secret = "hf_SuperSecretTokenValue123"
    fp = Fingerprints.of([secret])
    assert secret not in repr(fp) and secret.encode() not in repr(fp).encode()
