"""A larger messy corpus, as real ShareGPT-style dumps are, for a demonstration run (not a unit test):

    python -m tests.robustness.messy_corpus OUT_DIR [N_DIALOGUES]
    python -m beam_prep --input 'OUT_DIR/*' --output out/messy --max_seq_length 1024

Dialogues from tests/pipeline/corpus.py, each spoilt at a fixed rate (seeded, so the same corpus
every time) in the ways docs/input.md lists, spread over .jsonl, .jsonl.gz, .json and .parquet
files, with a torn gzip, a cut-off JSON array, an empty file and a garbage parquet file.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.pipeline.corpus import make_dialogues, to_sharegpt

# (rate, name): applied to a dialogue in this order, at most one per dialogue.
SPOILERS = [
    (0.08, "sharegpt_aliases"),
    (0.05, "same_role"),
    (0.05, "empty_turn"),
    (0.03, "leading_assistant"),
    (0.03, "content_parts"),
    (0.02, "tool_role"),
    (0.01, "int_content"),
    (0.01, "image_part"),
    (0.01, "special_tokens"),
    (0.01, "only_user"),
    (0.01, "huge_turn"),
    (0.01, "invalid_json"),
    (0.005, "invalid_utf8"),
    (0.005, "not_an_object"),
    (0.005, "missing_messages"),
]


def spoil(d: dict, rng: random.Random) -> tuple[str, object]:
    """(what was done, the record: a dict, or a str/bytes line)."""
    msgs = d["messages"]
    roll, name = rng.random(), "clean"
    for rate, spoiler in SPOILERS:
        if roll < rate:
            name = spoiler
            break
        roll -= rate
    if name == "clean":
        return name, d
    body = [m for m in msgs if m["role"] != "system"]
    if name == "sharegpt_aliases":
        record = to_sharegpt(d)
        for t in record["conversations"]:
            t["from"] = rng.choice(["gpt", "bing", "bard", "chatgpt"]) if t["from"] == "gpt" else t["from"]
        return name, record
    if name == "same_role":
        m = body[0]
        body.insert(1, {"role": m["role"], "content": "and one more thing"})
    elif name == "empty_turn":
        body.insert(rng.randrange(len(body) + 1), {"role": rng.choice(["user", "assistant"]), "content": "  "})
    elif name == "leading_assistant":
        body.insert(0, {"role": "assistant", "content": "Hello! How can I help you today?"})
    elif name == "content_parts":
        words = body[0]["content"].split()
        body[0] = {"role": body[0]["role"], "content": [{"type": "text", "text": w} for w in words]}
    elif name == "tool_role":
        body.insert(1, {"role": "tool", "content": '{"result": 42}'})
    elif name == "int_content":
        body[0] = {"role": "user", "content": 42}
    elif name == "image_part":
        body[0] = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/cat.png"}}]}
    elif name == "special_tokens":
        body[-1] = {"role": "assistant", "content": body[-1]["content"] + " </s>"}
    elif name == "only_user":
        body = body[:1]
    elif name == "huge_turn":
        body[0] = {"role": "user", "content": " ".join(f"token{i}" for i in range(1500))}
    elif name == "invalid_json":
        return name, json.dumps(d)[: rng.randrange(5, 40)]
    elif name == "invalid_utf8":
        return name, json.dumps(d).encode().replace(b"the", b"th\xe9", 1) + b"\xff"
    elif name == "not_an_object":
        return name, json.dumps(msgs)
    elif name == "missing_messages":
        return name, {"id": d["id"], "text": "no turns here"}
    sys_turns = [m for m in msgs if m["role"] == "system"]
    return name, {"id": d["id"], "messages": sys_turns + body}


def line(record) -> bytes:
    if isinstance(record, bytes):
        return record
    return (record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)).encode()


def write(out: Path, n: int) -> dict:
    rng = random.Random(6)
    out.mkdir(parents=True, exist_ok=True)
    done = [spoil(d, rng) for d in make_dialogues(n, seed=6, prefix="m")]
    counts: dict = {}
    for name, _ in done:
        counts[name] = counts.get(name, 0) + 1
    parts = [[r for _, r in done[i::6]] for i in range(6)]
    for i in range(2):
        (out / f"chats-{i}.jsonl").write_bytes(b"\n".join(map(line, parts[i])) + b"\n")
    (out / "chats-2.jsonl.gz").write_bytes(gzip.compress(b"\n".join(map(line, parts[2])) + b"\n", mtime=0))
    torn = gzip.compress(b"\n".join(map(line, parts[3])) + b"\n", mtime=0)
    (out / "chats-3-torn.jsonl.gz").write_bytes(torn[: int(len(torn) * 0.8)])
    objects = [r for r in parts[4] if isinstance(r, dict)]
    text = json.dumps(objects, ensure_ascii=False)
    (out / "chats-4-cut.json").write_text(text[: int(len(text) * 0.9)])
    rows = [to_sharegpt(r) for r in parts[5] if _plain(r)]  # parquet needs one schema
    pq.write_table(pa.Table.from_pylist(rows), out / "chats-5.parquet")
    (out / "empty.jsonl").write_bytes(b"")
    (out / "garbage.parquet").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    return counts


def _plain(r) -> bool:
    msgs = r.get("messages") if isinstance(r, dict) else None
    return isinstance(msgs, list) and all(
        isinstance(m.get("content"), str) and m["role"] in ("system", "user", "assistant") for m in msgs
    )


if __name__ == "__main__":
    counts = write(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5000)
    print(json.dumps(counts, indent=1, sort_keys=True))
