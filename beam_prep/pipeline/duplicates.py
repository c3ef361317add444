"""PlanDuplicates: what to drop, decided from small keys (a first pass over the input).

An element can only be dropped as a copy once every other element has been seen, so the decisions
come from a planning pass (the input read, normalised and rejoined once more, see build.py) and
reach the writing pass as side inputs. Only small records cross its shuffles, as tuples of plain
values packed into bytes (pipeline/shuffle.py): (file rank, line, place digest, id type) per
single-record dialogue for duplicate ids, and one ExampleKey (two digests, the owner's fields, the
place digest; core/dedup.py) per example. Both kinds of decision come from one shuffle of the keys,
by the first bytes of the target: the copies of one example share its target. The side inputs
hold only what is dropped. Dialogues and examples never travel.

Outputs, each a PCollection of (key, value) pairs for beam.pvalue.AsDict:
- duplicate_ids: the place digest (core/dedup.py place_digest) of a single-record dialogue that
  is not a part (the dialogues read also hold conversations of one record) whose id an earlier
  record (by file, then line) already has -> the reject's detail, naming that record's
  "source:line". Ids compare as text: 7 and "7" are one, and the detail names both JSON types
  (core/dedup.py duplicate_id_detail).
- duplicates: the ref (place digest + turn index, core/dedup.py example_ref) of an example dropped
  as a copy -> id of the kept copy.
- train_targets: the ref of a validation example whose target is also a training target (with
  other memory) -> True.
"""

from __future__ import annotations

from collections.abc import Sequence

import apache_beam as beam

from beam_prep.core.dedup import (
    ExampleKey,
    decide,
    duplicate_id_detail,
    example_keys,
    file_of,
    place,
    place_digest,
)
from beam_prep.io.globs import relative_source
from beam_prep.pipeline.read import Outputs
from beam_prep.pipeline.shuffle import GroupPacked

DUPLICATES, TRAIN_TARGETS = "duplicates", "train_targets"
_BUCKET = 2  # bytes of the target that key the shuffle: at most 65,536 groups, each whole in a worker


def _id_of(dialogue, ranks: dict[str, int]):
    """(id, (file rank, source, line, place digest, id type)) of a record of its own; the file's
    name only where it has no rank (see example_keys)."""
    if dialogue.conversation:
        return []
    rank, source = file_of(dialogue.source, ranks)
    return [(dialogue.id, (rank, source, dialogue.line, place_digest(place(dialogue)), dialogue.id_type))]


def _later_records(id_records, sources: list[str]):
    """(id, [record]) -> (place digest, detail) of every record but the first by file and line."""
    dialogue_id, records = id_records
    (rank, source, line, first, first_type), *later = sorted(records)
    kept_at = f"{sources[rank] if rank >= 0 else source}:{line}"
    for *_, where, id_type in later:
        if where != first:  # the same place (equal values on one line) cannot be told apart
            yield where, duplicate_id_detail(dialogue_id, id_type, kept_at, first_type)


def _keys(dialogue, mode: str, ranks: dict[str, int]):
    """(bucket, key as a plain tuple): plain values cross the Flatten and the shuffle compactly."""
    return [(k.target[:_BUCKET], tuple(k)) for k in example_keys(dialogue, mode, ranks)]


def _decided(bucket_keys):
    dropped, trained = decide(ExampleKey._make(k) for k in bucket_keys[1])
    for ref, kept in dropped:
        yield beam.pvalue.TaggedOutput(DUPLICATES, (ref, kept))
    for ref in trained:
        yield beam.pvalue.TaggedOutput(TRAIN_TARGETS, (ref, True))


class PlanDuplicates(beam.PTransform):
    """(dialogues read, dialogues rejoined after a shuffle) -> outputs duplicate_ids, duplicates, train_targets.

    `files` and `root`: the input files and their root, whose sorted names give each file a rank
    (a file without one is named in each key, see example_keys)."""

    def __init__(self, mode: str, files: Sequence[str] = (), root: str = ""):
        super().__init__()
        self._mode = mode
        self._sources = sorted({relative_source(f, root) for f in files})

    def expand(self, singles_and_joined):
        singles, joined = singles_and_joined
        sources = self._sources
        ranks = {source: i for i, source in enumerate(sources)}
        duplicate_ids = (
            singles  # records of their own, with the JSON type of their id (7 and "7" print alike)
            | "IdOf" >> beam.FlatMap(_id_of, ranks)
            | "GroupIds" >> GroupPacked()
            | "LaterRecords" >> beam.FlatMap(_later_records, sources)
        )
        ids = beam.pvalue.AsDict(duplicate_ids)
        # Keys are made on each branch and flattened, not the dialogues: the local runner materialises
        # a Flatten of several stages in its own memory.
        decided = (
            (
                singles | "SingleKeys" >> beam.FlatMap(_keys, self._mode, ranks),
                joined | "JoinedKeys" >> beam.FlatMap(_keys, self._mode, ranks),
            )
            | "AllKeys" >> beam.Flatten()
            # keys wait for the duplicate ids, not dialogues
            | "WithoutDuplicateIds" >> beam.Filter(lambda k, dup: ExampleKey._make(k[1]).place not in dup, ids)
            | "GroupCopies" >> GroupPacked()
            | "Decide" >> beam.FlatMap(_decided).with_outputs(DUPLICATES, TRAIN_TARGETS)
        )
        duplicates = decided[DUPLICATES]
        train_targets = decided[TRAIN_TARGETS]
        return Outputs(duplicate_ids=duplicate_ids, duplicates=duplicates, train_targets=train_targets)
