"""What crosses a stage or a shuffle of the writing pass, named: an output row with its split and
input position, and what a writer wrote (as Beam's fileio names its results, FileResult).

NamedTuples and frozen dataclasses of plain values: Beam pickles them like any other element
(none is a GroupByKey key, so no deterministic coder is needed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Position(NamedTuple):
    """Where an output row comes from: rows within a shard, and a split's shards, follow it."""

    source: str
    line: int
    turn_index: int


NOWHERE = Position("", 0, 0)  # the position of a row of unknown origin (a merged shard's rows)


class KeyedRow(NamedTuple):
    """An output row (README.md, "Columns") on its way to the writer."""

    split: str
    position: Position
    row: dict


class ShardPaths(NamedTuple):
    """The three files of one shard, relative to the output or to the temporary folder."""

    parquet: str
    jsonl: str
    arrow: str


@dataclass(frozen=True, slots=True)
class ShardWritten:
    """A shard written under the temporary folder; Finalize names it and moves it into place.
    `first`: the position of its first row (a split's shards are named in that order; NOWHERE for
    an empty shard); `number`: its shard number when --num_shards fixes the count, else None."""

    split: str
    first: Position
    number: int | None
    rows: int
    tokens: int
    paths: ShardPaths


@dataclass(frozen=True, slots=True)
class RejectsWritten:
    """A rejects file written under the temporary folder (its final path is the same)."""

    rows: int
    path: str
