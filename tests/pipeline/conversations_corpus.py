"""A seeded messy ShareGPT-style corpus where rejoin and dedup meet bad records, across two files.

`write_conversations(root)` writes a.jsonl and b.jsonl and returns what a test needs to know about
them (the cases below, by name). Random filler dialogues (tests/pipeline/corpus.py) fill both splits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.pipeline.corpus import make_dialogues, to_sharegpt

VAL_FRACTION = 0.5


def split_of(key: str, seed: int = 0) -> str:
    """The split as core/split.py defines it (an 8-byte BLAKE2b of the seed and the key), computed here."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return "validation" if int.from_bytes(digest, "big") / 2**64 < VAL_FRACTION else "train"


def sg(ident, *turns) -> dict:
    """A ShareGPT record; plain strings alternate human/gpt after the turn before, (from, value) as given."""
    convs = []
    for t in turns:
        after = convs[-1][0] if convs else "gpt"
        convs.append(t if isinstance(t, tuple) else ("gpt" if after == "human" else "human", t))
    return {"id": ident, "conversations": [{"from": f, "value": v} for f, v in convs]}


def _ids_in(split: str, prefix: str, n: int) -> list[str]:
    out, i = [], 0
    while len(out) < n:
        if split_of(f"{prefix}{i}") == split:
            out.append(f"{prefix}{i}")
        i += 1
    return out


def write_conversations(root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    [vt_train], [vt_val] = _ids_in("train", "vt-t", 1), _ids_in("validation", "vt-v", 1)
    [cross_val] = _ids_in("validation", "dup-v", 1)
    a = [
        sg("QWJhYvA_0", "first question", "the start of a long answer"),
        sg("QWJhYvA_3", ("gpt", "the tail of an answer whose part is lost"), "question four", "answer four"),
        sg("i6IyJda_0", "cross-file question", "cross-file answer"),
        sg("user_17", "hello seventeen", "hi seventeen"),
        sg("user_18", "hello eighteen", "hi eighteen"),
        {"id": "7", "conversations": [{"from": "human", "value": "seven as text"}, {"from": "gpt", "value": "s"}]},
        sg("exact-a", "exact question", "exact answer"),
        sg("long-a", "prefix q1", "prefix a1", "prefix q2", "prefix a2", "prefix q3", "prefix a3"),
        sg("fork-a", "fork q1", "fork a1", "fork q2", "fork branch a"),
        sg(vt_train, "train memory", "a shared verbatim answer"),
        sg("Zx9Yw8V_0", "a part with a special token </s>", "answer"),
        sg("Zx9Yw8V_1", "after the rejected part", "answer one"),
        "{broken json",
        sg("Bad1Part_0", ("robot", "unknown role")),
    ]
    b = [
        sg("QWJhYvA_1", ("gpt", "and the rest of that answer"), "second question", "second answer"),
        sg("i6IyJda_1", "cross-file follow-up", "cross-file second answer"),
        {"id": 7, "conversations": [{"from": "human", "value": "seven as a number"}, {"from": "gpt", "value": "n"}]},
        sg("exact-b", "exact question", "exact answer"),
        sg("long-b", "prefix q1", "prefix a1", "prefix q2", "prefix a2"),
        sg("fork-b", "fork q1", "fork a1", "fork q2", "fork branch b"),
        sg(vt_val, "validation memory", "a shared verbatim answer"),
        sg(cross_val, "exact question", "exact answer"),
        [1, 2],
    ]
    filler = [to_sharegpt(d) for d in make_dialogues(40, seed=7, prefix="f")]
    a += filler[::2]
    b += filler[1::2]
    for name, records in (("a.jsonl", a), ("b.jsonl", b)):
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        (root / name).write_text("\n".join(lines) + "\n")
    return {"vt_train": vt_train, "vt_val": vt_val, "cross_val": cross_val, "records": len(a) + len(b)}
