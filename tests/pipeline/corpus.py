"""A small synthetic corpus in every input form, for pipeline tests."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = "the model keeps memory of older turns when budget allows code data token über 你好 🙂 x=1;".split()


def make_dialogues(n: int, seed: int = 0, prefix: str = "d") -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        msgs = [{"role": "system", "content": "Be brief."}] if i % 4 == 0 else []
        for _ in range(rng.choice([1, 1, 2, 3, 5, 12])):
            msgs.append({"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(2, 40)))})
            msgs.append({"role": "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(2, 60)))})
        out.append({"id": f"{prefix}{i}", "messages": msgs})
    return out


def to_sharegpt(d: dict) -> dict:
    names = {"user": "human", "assistant": "gpt", "system": "system"}
    return {"id": d["id"], "conversations": [{"from": names[m["role"]], "value": m["content"]} for m in d["messages"]]}


def write_corpus(root: Path, n: int = 120) -> list[dict]:
    """Shards in .jsonl, .jsonl.gz, .json, .parquet (messages and sharegpt), plus 2 bad lines."""
    dialogues = make_dialogues(n)
    parts = [dialogues[i::4] for i in range(4)]
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(d) for d in parts[0]] + ["{not json", "[1, 2]"]
    (root / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    (root / "part-1.jsonl.gz").write_bytes(
        gzip.compress("\n".join(json.dumps(to_sharegpt(d)) for d in parts[1]).encode())
    )
    (root / "part-2.json").write_text(json.dumps(parts[2]))
    pq.write_table(pa.Table.from_pylist([to_sharegpt(d) for d in parts[3]]), root / "part-3.parquet")
    return dialogues
