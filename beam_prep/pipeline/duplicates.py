"""PlanDuplicates: what to drop, decided from small keys (a first pass over the input).

An element can only be dropped as a copy once every other element has been seen, so the decisions
come from a planning pass (the input read, normalised and rejoined once more, see build.py) and
reach the writing pass as side inputs. Only small records cross its shuffles: (id, file, line) for
duplicate ids, and one ExampleKey (two digests and the owner) per example, packed into bytes while
they cross (pipeline/shuffle.py); the side inputs hold only what is dropped. Dialogues and
examples never travel.

Outputs, each a PCollection of (key, value) pairs for beam.pvalue.AsDict:
- duplicate_ids: the Place (source, line, id, content id; core/dedup.py) of a single-record
  dialogue that is not a part (the dialogues read also hold conversations of one record) whose
  id an earlier record (by file, then line) already has -> the reject's detail, naming that
  record's "source:line". Ids compare as text: 7 and "7" are one, and the detail names both
  JSON types (core/dedup.py duplicate_id_detail).
- duplicates: the ExampleRef (place + turn index) of an example dropped as a copy -> id of the kept copy.
- train_targets: the ExampleRef of a validation example whose target is also a
  training target (with other memory) -> True.
"""

from __future__ import annotations

import apache_beam as beam

from beam_prep.core.dedup import (
    duplicate_id_detail,
    example_keys,
    kept_and_dropped,
    place,
    validation_train_targets,
)
from beam_prep.pipeline.read import Outputs
from beam_prep.pipeline.shuffle import GroupPacked


def _later_records(id_records):
    """(id, [(place, id type)]) -> (place, detail) of every record but the first by file and line."""
    dialogue_id, records = id_records
    (first, first_type), *later = sorted(records)
    for where, id_type in later:
        if where != first:  # the same place (equal values on one line) cannot be told apart
            yield where, duplicate_id_detail(dialogue_id, id_type, f"{first.source}:{first.line}", first_type)


def _dropped(key_copies):
    kept, dropped = kept_and_dropped(key_copies[1])
    for copy in dropped:
        yield copy.ref, kept.example_id


def _train_targets(target_copies):
    for copy in validation_train_targets(target_copies[1]):
        yield copy.ref, True


class PlanDuplicates(beam.PTransform):
    """(dialogues read, dialogues rejoined after a shuffle) -> outputs duplicate_ids, duplicates, train_targets."""

    def __init__(self, mode: str):
        super().__init__()
        self._mode = mode

    def expand(self, singles_and_joined):
        singles, joined = singles_and_joined
        duplicate_ids = (
            singles  # records of their own, with the JSON type of their id (7 and "7" print alike)
            | "IdOf" >> beam.FlatMap(lambda d: [] if d.conversation else [(d.id, (place(d), d.id_type))])
            | "GroupIds" >> GroupPacked()
            | "LaterRecords" >> beam.FlatMap(_later_records)
        )
        ids = beam.pvalue.AsDict(duplicate_ids)
        # Keys are made on each branch and flattened, not the dialogues: the local runner materialises
        # a Flatten of several stages in its own memory.
        keys = (
            (
                singles | "SingleKeys" >> beam.FlatMap(example_keys, self._mode),
                joined | "JoinedKeys" >> beam.FlatMap(example_keys, self._mode),
            )
            | "AllKeys" >> beam.Flatten()
            | "WithoutDuplicateIds" >> beam.Filter(lambda k, dup: k.place not in dup, ids)  # keys wait, not dialogues
        )
        duplicates = (
            keys
            | "ByKey" >> beam.Map(lambda k: (k.key, k))
            | "GroupKeys" >> GroupPacked()
            | "Dropped" >> beam.FlatMap(_dropped)
        )
        train_targets = (
            keys
            | "ByTarget" >> beam.Map(lambda k: (k.target, k))
            | "GroupTargets" >> GroupPacked()
            | "TrainTargets" >> beam.FlatMap(_train_targets)
        )
        return Outputs(duplicate_ids=duplicate_ids, duplicates=duplicates, train_targets=train_targets)
