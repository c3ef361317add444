"""Output naming: the final path of every shard and rejects file (README.md, "Output"), the
temporary path a shard is written under, and which shards a split still needs."""

from __future__ import annotations

import uuid

from beam_prep.io.hf import arrow_name
from beam_prep.io.results import ShardPaths, ShardWritten


def shard_paths(split: str, shard: int, num_shards: int) -> ShardPaths:
    """Final paths of one shard's files, relative to the output."""
    stem = f"{split}-{shard:05d}-of-{num_shards:05d}"
    return ShardPaths(f"parquet/{stem}.parquet", f"jsonl/{stem}.jsonl", f"hf/{split}/{arrow_name(shard, num_shards)}")


def temp_paths(split: str) -> ShardPaths:
    """Paths of a shard being written, relative to the temporary folder; unique per attempt."""
    stem = f"{split}-{uuid.uuid4().hex}"
    return ShardPaths(f"parquet/{stem}.parquet", f"jsonl/{stem}.jsonl", f"hf/{split}/{stem}.arrow")


def rejects_path(file: int, num_files: int) -> str:
    """Path of one rejects file, relative to the output (and to the temporary folder)."""
    return f"rejects/rejects-{file:05d}-of-{num_files:05d}.jsonl"


def missing_shards(shards: list[ShardWritten], splits, fixed: int) -> list[tuple[str, int | None]]:
    """(split, shard number) of the shards to write empty: every shard number of a fixed count that
    got no rows, and one shard (number None) for a split that got none, so every split loads."""
    missing = []
    for split in splits:
        have = {w.number for w in shards if w.split == split}
        if fixed:
            missing += [(split, i) for i in range(fixed) if i not in have]
        elif not have:
            missing.append((split, None))
    return missing


def final_names(shards: list[ShardWritten], fixed: int) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(temporary -> final relative paths, shard count per split). With a fixed count a shard keeps
    its number; otherwise a split's shards are numbered in the input position of their first row."""
    moves, counts = [], {}
    for split in sorted({w.split for w in shards}):
        mine = sorted((w for w in shards if w.split == split), key=lambda w: (w.first, w.paths.parquet))
        counts[split] = fixed or len(mine)
        for i, w in enumerate(mine):
            final = shard_paths(split, w.number if fixed else i, counts[split])
            moves += list(zip(w.paths, final))
    return moves, counts
