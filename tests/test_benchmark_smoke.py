"""The benchmark corpus generator (benchmarks/corpus.py): shape and determinism, not timing."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

from beam_prep.core.normalize import normalize
from beam_prep.core.records import RawRecord
from benchmarks.corpus import (
    _words,
    corpus_files_of,
    describe,
    make_dialogue,
    make_sharegpt,
    num_pairs,
    read_corpus,
    turn_texts,
    write_corpus,
)

SPECIAL = ("<s>", "</s>", "<unk>")


def test_corpus_is_deterministic_and_sharded(tmp_path):
    first = write_corpus(tmp_path / "a", 40, seed=3, shard_size=16, jobs=1)
    again = write_corpus(tmp_path / "b", 40, seed=3, shard_size=16, jobs=2)
    assert [p.rsplit("/", 1)[1] for p in first] == [f"part-{i:05d}-of-00003.jsonl.gz" for i in range(3)]
    assert [Path(p).read_bytes() for p in first] == [Path(p).read_bytes() for p in again]
    other = write_corpus(tmp_path / "c", 40, seed=4, shard_size=16, jobs=1)
    assert Path(first[0]).read_bytes() != Path(other[0]).read_bytes()
    dialogues = read_corpus(corpus_files_of(tmp_path / "a"))
    assert [d["id"] for d in dialogues] == [f"bench-3-{i:07d}" for i in range(40)]
    assert dialogues[7] == make_dialogue(3, 7)


def test_dialogues_are_clean_chat_input():
    """Alternating, stripped, no special-token strings: beam_prep keeps them without repair."""
    for i in range(60):
        raw = make_dialogue(0, i)
        roles = [m["role"] for m in raw["messages"]]
        body = roles[1:] if roles[0] == "system" else roles
        assert body[0] == "user" and all(r == ("user", "assistant")[k % 2] for k, r in enumerate(body))
        for m in raw["messages"]:
            assert m["content"] and m["content"] == m["content"].strip()
            assert not any(s in m["content"] for s in SPECIAL)
        dialogue, repairs, reject = normalize(RawRecord("bench.jsonl", i + 1, raw))
        assert reject is None and repairs == ()
        assert len(dialogue.turns) == len(raw["messages"])


def test_heavy_tails_of_turn_counts_and_lengths():
    rng = random.Random(0)
    pairs = [num_pairs(rng) for _ in range(20_000)]
    assert sum(p <= 5 for p in pairs) / len(pairs) > 0.85  # most dialogues have 2-10 turns
    assert sum(p > 50 for p in pairs) >= 20  # some over 100 turns
    assert max(pairs) >= 200  # and a few of 400 or more
    lengths = [_words(rng, role, 1.0)[0] for role in ("user", "assistant") for _ in range(5_000)]
    assert min(lengths) <= 3 and max(lengths) >= 3_000  # a few words to several thousand
    long = make_dialogue(0, 1, pairs=60)
    assert sum(m["role"] != "system" for m in long["messages"]) >= 120


def test_some_code_and_non_english_text():
    dialogues = [make_dialogue(0, i) for i in range(200)]
    kinds = {d["kind"] for d in dialogues}
    assert "code" in kinds and "en" in kinds
    assert kinds & {"de", "es", "fr", "ru", "zh", "ja", "ko", "ar", "hi"}
    code = [m["content"] for d in dialogues if d["kind"] == "code" for m in d["messages"]]
    assert any("```" in c for c in code)


def test_the_floor_reads_every_turn_of_either_corpus(tmp_path):
    """benchmarks/run.py --sharegpt: the floor tokenizes every turn of every ShareGPT record (its
    `value`s), and the shape figures count them as in the plain corpus."""
    plain = read_corpus(write_corpus(tmp_path / "plain", 30, seed=1, jobs=1))
    shared = read_corpus(write_corpus(tmp_path / "sharegpt", 30, seed=1, jobs=1, sharegpt=True))
    assert shared == [r for i in range(30) for r in make_sharegpt(1, i)]
    for records in (plain, shared):
        shape = describe(records)
        assert shape["dialogues"] == len(records)
        assert shape["turns"] == sum(len(turn_texts(r)) for r in records)
    assert turn_texts(plain[0]) == [m["content"] for m in plain[0]["messages"]]
    assert turn_texts(shared[0]) == [m["value"] for m in shared[0]["conversations"]]
    # The same dialogues: a record of a ShareGPT copy or a part holds turns of the plain corpus.
    every_plain_turn = {t for r in plain for t in turn_texts(r)}
    assert sum(t in every_plain_turn for r in shared for t in turn_texts(r)) > 0.9 * describe(shared)["turns"]


def test_write_cost_reads_back_the_rows_the_writer_was_given(tmp_path):
    """benchmarks/write_cost.py times the writer on rows read back from an output's Parquet: they
    must be the rows as the writer receives them (token columns as array('i'), no attention_mask)."""
    from beam_prep.io.shard_writer import write_shard
    from benchmarks.write_cost import load_rows, measure
    from tests.pipeline.test_write import make_row

    rows = [make_row(i, n) for i, n in enumerate([1, 5, 40, 300])]
    write_shard(str(tmp_path), "train", rows)
    folder = next(p.parent for p in tmp_path.rglob("*.parquet"))
    back = load_rows(str(folder), max_rows=3)
    assert back == rows[:3]
    assert all(isinstance(r["input_ids"], array) for r in back)
    costs = measure(back, repeat=1)
    assert {"rows_to_table", "_json_lines", "parquet, all columns", "parquet, labels alone"} <= costs.keys()
    assert all(c >= 0 for c in costs.values())


def test_tree_sampler_keeps_the_system_part_of_a_childs_cpu(tmp_path):
    """benchmarks/memory.py: `system_cpu_seconds` is the part of `cpu_seconds` spent in the kernel,
    summed over the tree (a child writing 256 MiB into the page cache spends it there)."""
    import subprocess
    import sys

    from benchmarks.memory import TreeSampler

    script = (
        "import os, sys\n"
        "with open(sys.argv[1], 'wb') as f:\n"
        "    for _ in range(256): f.write(os.urandom(1 << 20))\n"
        "sum(i * i for i in range(3_000_000))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "blob")])
    sampler = TreeSampler(child.pid, 0.02)
    sampler.start()
    child.wait()
    peaks = sampler.stop()
    assert child.returncode == 0
    assert 0 < peaks["system_cpu_seconds"] < peaks["cpu_seconds"]
