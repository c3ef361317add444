"""The train/validation split is a function of (dialogue id, seed, fraction) only: the same in every
process (whatever PYTHONHASHSEED), nested as the fraction grows, and independent of other dialogues."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from beam_prep.core.records import TRAIN, VALIDATION
from beam_prep.core.split import assign_split, shard_of, stable_unit

SETTINGS = settings(max_examples=100, deadline=None)
ids = st.text(min_size=0, max_size=30)
fractions = st.floats(0, 0.999)


@SETTINGS
@given(ids, st.integers(-(2**63), 2**63), fractions, fractions)
def test_split_is_stable_and_nested(dialogue_id, seed, f1, f2):
    lo, hi = sorted((f1, f2))
    split = assign_split(dialogue_id, seed, lo)
    assert split in (TRAIN, VALIDATION) and split == assign_split(dialogue_id, seed, lo)
    if split == VALIDATION:  # growing the validation share never moves a dialogue back to train
        assert assign_split(dialogue_id, seed, hi) == VALIDATION
    assert 0 <= stable_unit(dialogue_id, seed) < 1
    assert assign_split(dialogue_id, seed, 0.0) == TRAIN


@SETTINGS
@given(ids, st.integers(1, 10_000))
def test_shard_is_in_range_and_seed_independent(dialogue_id, n):
    assert 0 <= shard_of(dialogue_id, n) < n
    assert shard_of(dialogue_id, n) == int(stable_unit(dialogue_id, -1) * n)


@settings(max_examples=5, deadline=None)
@given(st.lists(ids, min_size=1, max_size=50, unique=True), st.integers(0, 1000))
def test_split_is_the_same_in_another_process(dialogue_ids, seed):
    code = (
        "import json, sys; from beam_prep.core.split import assign_split; "
        "ids, seed = json.load(sys.stdin); print(json.dumps([assign_split(i, seed, 0.3) for i in ids]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": str(seed + 1)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([dialogue_ids, seed]),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == [assign_split(i, seed, 0.3) for i in dialogue_ids]
