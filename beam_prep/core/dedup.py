"""Duplicate examples and the kept copy, decided from small keys only.

An example's key is a BLAKE2b digest of the digests of the canonical serialisation of every field
of every Turn from the start of its dialogue (the system turn included) up to and including its
target, so two examples with the same memory and target have the same key: exact duplicate
dialogues, prefix copies (the same chat saved at two lengths) and the shared openings of forked
chats alike. The digest runs over the turns once per dialogue (a copy of the running hash at each
target), and any field a Turn gains is part of the key without change here.

Because a key needs only each turn's digest, the planning pass shuffles `light` parts of split
conversations: a part's inner turns travel as a LightTurn (role, weight and digest, no text); only
its first and last turn, which rejoining may join with a neighbour's (core/rejoin.py), keep theirs.

Of the examples with one key, the kept copy is the smallest `owner`: train before validation (so
a validation example never repeats a trained one), then conversation, dialogue id, file, line and
turn: the same choice on every runner and worker count.

What crosses the plan's shuffle is an ExampleKey as a tuple of plain values (two digests, the
owner's fields with a file rank for the file name, a digest of the place): about 100 bytes an
example, a third of the named types it replaced. One shuffle decides both duplicates and the
verbatim-target figure (`decide`): the copies of one example share its target.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

from beam_prep.core.explode import explode
from beam_prep.core.normalize import content_id
from beam_prep.core.records import TRAIN, VALIDATION, Dialogue, Part, Turn

DIGEST = 16


class Place(NamedTuple):
    """Where a dialogue is (see place()); its place_digest names it in the plan's shuffles and side inputs."""

    source: str
    line: int
    id: str
    content_id: str


class ExampleKey(NamedTuple):
    """What crosses the dedup shuffle for one example, as plain values (it travels as a tuple):
    its two digests, the fields of its owner (the sort order of copies) and its place's digest."""

    target: bytes  # the target turn alone (the verbatim-target figure)
    key: bytes  # memory + target
    split_rank: int  # 0 train, 1 validation
    conversation: str  # "" for a dialogue of its own: its unit is its id
    dialogue_id: str
    file_rank: int  # the file's rank among the sorted input files (example_keys `ranks`), else -1
    source: str  # "" when file_rank names the file
    line: int
    turn_index: int
    place: bytes  # place_digest of its dialogue

    @property
    def owner(self) -> tuple:
        """The sort order of the copies of one example: the smallest is kept."""
        unit = self.conversation or self.dialogue_id
        return (self.split_rank, unit, self.dialogue_id, self.file_rank, self.source, self.line, self.turn_index)

    @property
    def ref(self) -> bytes:
        return example_ref(self.place, self.turn_index)

    @property
    def example_id(self) -> str:
        return f"{self.dialogue_id}/{self.turn_index}"

    @property
    def split(self) -> str:
        return VALIDATION if self.split_rank else TRAIN


def place_digest(where: Place) -> bytes:
    """A Place as DIGEST bytes: what names a dialogue in the plan's shuffles and side inputs."""
    text = json.dumps(where, ensure_ascii=False).encode("utf-8")
    return hashlib.blake2b(text, digest_size=DIGEST).digest()


def example_ref(place: bytes, turn_index: int) -> bytes:
    """One example, unique even where ids repeat: its dialogue's place digest and its turn index."""
    return place + turn_index.to_bytes(4, "big", signed=True)  # -1: a whole_dialog example


@dataclass(frozen=True, slots=True)
class LightTurn(Turn):
    """An inner turn of a light part: what rejoining and exploding read (role, weight), and the
    digest of the whole turn; its text stays with the record."""

    digest: bytes = b""


def place(dialogue: Dialogue) -> Place:
    """Where a dialogue is: (source, line, id, content id). Values sharing a line of a .json file
    share source and line, and may share an id; only equal values share all four (and it does not
    matter which of them is kept). A dialogue rejoined from parts, which the planning pass sees
    with light turns, has a digest of its turn digests instead; one of several records needs none:
    its id (conversation and part numbers, each kept once) and first record tell it apart."""
    if dialogue.parts:
        return Place(dialogue.source, dialogue.line, dialogue.id, "")
    if dialogue.conversation:
        digests = b"".join(turn_digest(t) for t in dialogue.turns)
        return Place(dialogue.source, dialogue.line, dialogue.id, hashlib.blake2b(digests, digest_size=10).hexdigest())
    return Place(dialogue.source, dialogue.line, dialogue.id, content_id(dialogue.turns))


def canonical(turn: Turn) -> bytes:
    """Every field of a Turn, by name, as JSON (values that JSON cannot hold by their repr)."""
    data = {f.name: getattr(turn, f.name) for f in fields(turn)}
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=repr).encode("utf-8")


def turn_digest(turn: Turn) -> bytes:
    """The digest of canonical(turn); a LightTurn carries the one of the turn it stands for."""
    if isinstance(turn, LightTurn):
        return turn.digest
    return hashlib.blake2b(canonical(turn), digest_size=DIGEST).digest()


def light(part: Part) -> Part:
    """The part as the planning pass needs it: its inner turns as LightTurns, no tools."""
    turns = part.dialogue.turns
    inner = tuple(LightTurn(t.role, "", weight=t.weight, digest=turn_digest(t)) for t in turns[1:-1])
    turns = turns if len(turns) < 3 else (turns[0], *inner, turns[-1])
    return replace(part, dialogue=replace(part.dialogue, turns=turns, tools=""))


def file_of(source: str, ranks: Mapping[str, int] | None) -> tuple[int, str]:
    """What a key carries for its file: (its rank among the sorted input files, ""), or (-1, its
    name) where `ranks` has none. Sorting these sorts as the names do."""
    rank = -1 if ranks is None else ranks.get(source, -1)
    return rank, "" if rank >= 0 else source


def example_keys(dialogue: Dialogue, mode: str, ranks: Mapping[str, int] | None = None) -> list[ExampleKey]:
    """The keys of the examples `explode(dialogue, mode)` makes, in the same order. `ranks`: each
    input file's rank among the sorted files, so that a key carries a small integer for its file in
    the same order; a file not in it keeps its name, and rank -1."""
    ends = {ex.end: ex.turn_index for ex in explode(dialogue, mode)}
    running = hashlib.blake2b(digest_size=DIGEST)
    out = []
    rank = 0 if dialogue.split == TRAIN else 1
    where = place_digest(place(dialogue))
    file_rank, source = file_of(dialogue.source, ranks)
    conversation = "" if dialogue.unit == dialogue.id else dialogue.unit
    for i, turn in enumerate(dialogue.turns):
        target = turn_digest(turn)
        running.update(target)
        if i in ends:
            owner = (rank, conversation, dialogue.id, file_rank, source, dialogue.line, ends[i])
            out.append(ExampleKey(target, running.copy().digest(), *owner, where))
    return out


def kept_and_dropped(copies: list[ExampleKey]) -> tuple[ExampleKey, list[ExampleKey]]:
    """The copy kept among examples of one key, and the ones dropped. A copy at the kept one's very
    place (equal values with one id on one line of a .json file) cannot be told apart from it and
    is not dropped."""
    ordered = sorted(copies, key=lambda k: k.owner)
    return ordered[0], [k for k in ordered[1:] if k.ref != ordered[0].ref]


def validation_train_targets(copies: list[ExampleKey]) -> list[ExampleKey]:
    """Of examples with one target, the validation ones when a train example has it too."""
    if not any(k.split == TRAIN for k in copies):
        return []
    return [k for k in copies if k.split == VALIDATION]


def decide(copies: Iterable[ExampleKey]) -> tuple[list[tuple[bytes, str]], list[bytes]]:
    """What keys holding every copy of their targets decide (a bucket of the plan's shuffle, which
    is keyed by the target's first bytes): (ref, id of the kept copy) of each example dropped as a
    copy, and the refs of the validation examples whose target is trained verbatim. The copies of
    one example share its target, so they are all here."""
    by_key: dict[bytes, list[ExampleKey]] = defaultdict(list)
    by_target: dict[bytes, list[ExampleKey]] = defaultdict(list)
    for copy in copies:
        by_key[copy.key].append(copy)
        by_target[copy.target].append(copy)
    dropped = []
    for same in by_key.values():
        if len(same) > 1:
            kept, others = kept_and_dropped(same)
            dropped += [(other.ref, kept.example_id) for other in others]
    trained = [k.ref for same in by_target.values() if len(same) > 1 for k in validation_train_targets(same)]
    return dropped, trained


def duplicate_id_detail(dialogue_id: str, id_type: str, kept_at: str, kept_type: str) -> str:
    """The detail of a `duplicate_id` reject: where the kept record is, and, when the two ids are
    of different JSON types that print alike (7 and "7"), both types (`id_type` "": a string).

    >>> duplicate_id_detail("7", "", "a.jsonl:6", "number")
    'id "7" (string) and id 7 (number) print alike: one id, already read at a.jsonl:6'
    """
    if id_type == kept_type:
        return f"id {dialogue_id!r} already read at {kept_at}"
    return (
        f"id {_shown(dialogue_id, id_type)} and id {_shown(dialogue_id, kept_type)} print alike: "
        f"one id, already read at {kept_at}"
    )


def _shown(dialogue_id: str, id_type: str) -> str:
    """An id as its JSON type reads: a string in double quotes, another type as printed."""
    if not id_type:
        return f"{json.dumps(dialogue_id, ensure_ascii=False)} (string)"
    return f"{dialogue_id} ({id_type})"
