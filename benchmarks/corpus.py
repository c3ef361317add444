"""A seeded, heavy-tailed chat corpus for the benchmark, written as sharded .jsonl.gz (messages schema).

Shape, loosely after public chat logs (ShareGPT, LMSYS-Chat): the number of user/assistant pairs
follows a Pareto tail, P(pairs >= k) = k**-1.45 capped at 250 pairs, so about 92% of dialogues have
2-10 turns, about 1 in 300 has over 100 turns and a handful reach 400-500; turn lengths are
log-normal (user median ~18 words, assistant ~130) with a per-dialogue verbosity factor, plus rare
pasted documents or code of 300-5,000 words. 72% of dialogues are English prose, 15% code-heavy
(fenced Python/JS/SQL/shell blocks, tracebacks), 13% in another script (de, es, fr, ru, zh, ja, ko,
ar, hi). 15% carry a system prompt, 3% end with an unanswered user turn.

Every dialogue is drawn from its own `random.Random(f"{seed}:{index}")`, so the corpus is the same
for a seed whatever the sharding, and shards can be written in parallel. Files are byte-identical
across runs (gzip mtime 0).

    python benchmarks/corpus.py --out /tmp/corpus --dialogues 20000 --seed 0

`--sharegpt` writes the same dialogues as a ShareGPT dump would hold them (`make_sharegpt`): ids
`<base>_<n>` with opaque 7-character bases; 60% of dialogues of two or more exchanges (about a
fifth of all) split over 2-6 records (a cut between
exchanges, or inside an answer so the next part opens with the rest of it), 45% of those missing a
part (a gap), and copies of earlier dialogues: 5% exact, 4% a prefix of it, 3% a fork (its opening,
then other turns), usually in another shard.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
import time
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.text import LANGUAGES, paragraphs, pools

PAIRS_ALPHA = 1.45
MAX_PAIRS = 250
SHORT_REPLIES = ("ok", "thanks!", "continue", "go on", "why?", "yes", "no, the other one", "more detail please", "👍")
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a senior Python engineer. Answer with working code and explain trade-offs briefly.",
    "Du bist ein hilfreicher Assistent. Antworte auf Deutsch.",
    "You are a customer support agent for an online shop. Be polite, concise and never invent order data. "
    "If you do not know the answer, say so and offer to escalate the ticket to a human colleague.",
    "你是一个乐于助人的助手。",
)


def num_pairs(rng: random.Random) -> int:
    """User/assistant pairs of a dialogue: P(pairs >= k) = k**-PAIRS_ALPHA, at most MAX_PAIRS."""
    u = 1.0 - rng.random()  # (0, 1]
    return min(MAX_PAIRS, int(u ** (-1.0 / PAIRS_ALPHA)))


def _words(rng: random.Random, role: str, verbosity: float) -> tuple[int, bool]:
    """(words, pasted) of one turn."""
    if role == "user":
        if rng.random() < 0.025:  # a pasted document, log or file
            return int(math.exp(rng.uniform(math.log(300), math.log(5000)))), True
        return max(1, min(5000, int(rng.lognormvariate(math.log(18), 1.2) * verbosity))), False
    return max(1, min(5000, int(rng.lognormvariate(math.log(130), 0.9) * verbosity))), False


def make_dialogue(seed: int, index: int, pairs: int | None = None) -> dict:
    """Dialogue `index` of the corpus of `seed`; `pairs` forces its length (same text distribution)."""
    rng = random.Random(f"{seed}:{index}")
    p = pools()
    style = rng.random()
    lang = "en" if style < 0.87 else LANGUAGES[rng.randrange(len(LANGUAGES))]
    code = p["code"] if 0.72 <= style < 0.87 else None
    n_pairs = num_pairs(rng) if pairs is None else pairs
    verbosity = rng.lognormvariate(0.0, 0.4)
    messages = []
    if rng.random() < 0.15:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    trailing_user = rng.random() < 0.03
    for turn in range(2 * n_pairs + int(trailing_user)):
        role = "user" if turn % 2 == 0 else "assistant"
        words, pasted = _words(rng, role, verbosity)
        pool = p[lang if rng.random() < 0.8 else "en"]
        if role == "user" and not pasted and rng.random() < 0.08:
            content = rng.choice(SHORT_REPLIES)
        elif pasted and (code is not None or rng.random() < 0.4):
            content = "Here is my code, what is wrong?\n\n" + paragraphs(rng, pool, words, p["code"], code_share=0.7)
        else:
            content = paragraphs(rng, pool, words, code)
        messages.append({"role": role, "content": content.strip()})
    kind = "code" if code is not None else lang
    return {"id": f"bench-{seed}-{index:07d}", "kind": kind, "messages": messages}


SPLIT_SHARE, GAP_SHARE = 0.6, 0.45
COPY_SHARES = (("exact", 0.05), ("prefix", 0.04), ("fork", 0.03))
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base_id(rng: random.Random) -> str:
    while True:  # ShareGPT's ids mix upper case, lower case and digits
        base = "".join(rng.choice(_BASE62) for _ in range(7))
        if sum((any(c.isupper() for c in base), any(c.islower() for c in base), any(c.isdigit() for c in base))) >= 2:
            return base


def _turns(seed: int, index: int) -> list[tuple[str, str]]:
    names = {"system": "system", "user": "human", "assistant": "gpt"}
    return [(names[m["role"]], m["content"]) for m in make_dialogue(seed, index)["messages"]]


def make_sharegpt(seed: int, index: int) -> list[dict]:
    """Dialogue `index` as the ShareGPT records that hold it (see the module docstring)."""
    rng = random.Random(f"{seed}:sharegpt:{index}")
    turns = _turns(seed, index)
    draw, copy = rng.random(), None
    for kind, share in COPY_SHARES:
        if index and draw < share:
            copy = kind
            break
        draw -= share
    if copy:  # a copy of an earlier dialogue, under its own id
        earlier = _turns(seed, rng.randrange(index))
        keep = 2 * rng.randint(1, max(1, len(earlier) // 2 - 1)) + (earlier[0][0] == "system")
        own = turns[turns[0][0] == "system" :][2:]  # this dialogue's turns after its first exchange
        turns = earlier if copy == "exact" else earlier[:keep] + (own if copy == "fork" else [])
    base = _base_id(rng)
    parts = [turns]
    if len(turns) >= 4 and rng.random() < SPLIT_SHARE:
        cuts = sorted(rng.sample(range(1, len(turns)), min(len(turns) - 1, rng.randint(1, 5))))
        parts = [turns[a:b] for a, b in zip([0, *cuts], [*cuts, len(turns)])]
        for i in range(len(parts) - 1):  # cut inside an answer: the next part opens with its rest
            role, text = parts[i][-1]
            if role == "gpt" and " " in text and rng.random() < 0.5:
                at = text.index(" ", len(text) // 2) if " " in text[len(text) // 2 :] else text.index(" ")
                parts[i][-1], parts[i + 1] = (role, text[:at]), [(role, text[at + 1 :]), *parts[i + 1]]
    numbered = list(enumerate(parts))
    if len(numbered) > 2 and rng.random() < GAP_SHARE:
        del numbered[rng.randrange(1, len(numbered) - 1)]
    return [{"id": f"{base}_{n}", "conversations": [{"from": f, "value": v} for f, v in part]} for n, part in numbered]


def shard_paths(out: Path, dialogues: int, shard_size: int) -> list[Path]:
    n = max(1, math.ceil(dialogues / shard_size))
    return [out / f"part-{i:05d}-of-{n:05d}.jsonl.gz" for i in range(n)]


def _write_shard(job: tuple) -> str:
    path, seed, first, last, sharegpt = job
    if sharegpt:
        records = [r for i in range(first, last) for r in make_sharegpt(seed, i)]
    else:
        records = [make_dialogue(seed, i) for i in range(first, last)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as f:
        f.write(data)
    return str(path)


def write_corpus(
    out: str | Path, dialogues: int, seed: int = 0, shard_size: int = 1000, jobs: int = 2, sharegpt: bool = False
) -> list[str]:
    """Write `dialogues` dialogues to out/part-SSSSS-of-NNNNN.jsonl.gz; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.jsonl.gz"):
        old.unlink()
    paths = shard_paths(out, dialogues, shard_size)
    work = [(p, seed, i * shard_size, min(dialogues, (i + 1) * shard_size), sharegpt) for i, p in enumerate(paths)]
    if jobs > 1 and len(work) > 1:
        with get_context("fork").Pool(min(jobs, len(work))) as pool:
            return pool.map(_write_shard, work, chunksize=1)
    return [_write_shard(w) for w in work]


def corpus_files_of(folder: str | Path) -> list[str]:
    return sorted(str(p) for p in Path(folder).glob("part-*.jsonl.gz"))


def read_corpus(paths) -> list[dict]:
    out = []
    for path in sorted(map(str, paths)):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def turn_texts(record: dict) -> list[str]:
    """The turns' texts of a record of either corpus: `messages` (content) or ShareGPT
    `conversations` (value)."""
    if "messages" in record:
        return [m["content"] for m in record["messages"]]
    return [m["value"] for m in record["conversations"]]


def describe(dialogues: list[dict]) -> dict:
    """Shape figures: turn counts and turn lengths (words as whitespace splits, characters), per
    record (a ShareGPT corpus: per record, not per conversation)."""
    texts = [turn_texts(d) for d in dialogues]
    turns = sorted(map(len, texts))
    lengths = sorted(len(t) for ts in texts for t in ts)
    words = sorted(len(t.split()) for ts in texts for t in ts)

    def pct(xs, q):
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0

    return {
        "dialogues": len(dialogues),
        "turns": sum(turns),
        "characters": sum(lengths),
        "turns_per_dialogue": {q: pct(turns, q) for q in (0.5, 0.9, 0.99, 1.0)},
        "share_2_to_10_turns": round(sum(2 <= t <= 10 for t in turns) / max(1, len(turns)), 3),
        "dialogues_over_100_turns": sum(t > 100 for t in turns),
        "words_per_turn": {q: pct(words, q) for q in (0.0, 0.5, 0.9, 0.99, 1.0)},
        "characters_per_turn": {q: pct(lengths, q) for q in (0.5, 0.99, 1.0)},
        "kinds": dict(sorted(Counter(d.get("kind", "?") for d in dialogues).items())),
        "code_turns": sum("```" in t for ts in texts for t in ts),
        "non_ascii_turns": sum(not t.isascii() for ts in texts for t in ts),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--dialogues", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard_size", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sharegpt", action="store_true", help="ShareGPT records: split conversations, copies")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    paths = write_corpus(args.out, args.dialogues, args.seed, args.shard_size, args.jobs, args.sharegpt)
    print(f"wrote {len(paths)} shards in {time.perf_counter() - started:.1f}s")
    print(json.dumps(describe(read_corpus(paths)), indent=1))


if __name__ == "__main__":
    main()
