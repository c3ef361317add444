"""Deterministic train/validation assignment by dialogue, the same on every worker and run."""

from __future__ import annotations

import hashlib

from beam_prep.core.records import TRAIN, VALIDATION


def stable_unit(key: str, seed: int) -> float:
    """A uniform number in [0, 1) from a key and a seed.

    BLAKE2b: the same on every worker and run, unlike Python's salted built-in hashing.
    """
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign_split(dialogue_id: str, seed: int, val_fraction: float) -> str:
    """`validation` for about val_fraction of dialogue ids, `train` for the rest."""
    return VALIDATION if stable_unit(dialogue_id, seed) < val_fraction else TRAIN


def shard_of(key: str, num_shards: int) -> int:
    """The output shard of a dialogue: stable, independent of the split seed."""
    return int(stable_unit(key, -1) * num_shards)
