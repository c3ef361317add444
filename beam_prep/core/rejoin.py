"""Rejoin the parts of a conversation split over records into dialogues, in part order.

Consecutive parts (n, n+1) become one dialogue: where a part opens with the role the previous
part ended with (the rest of an assistant answer, or a user turn continued), the two turns are
joined with a blank line (repair `joined_split_turn`). A gap in the numbering, or a later part
that opens with a system turn, starts a new segment: a dialogue with no memory across the gap.
Every segment is then finished like a single record (leading assistant turns dropped, at least
one assistant turn). All segments keep the conversation as their unit for the split and dedup.

Ids: a segment of one part keeps the record's id; a segment of parts a..b is `{conversation}_a-b`,
and `Dialogue.parts` lists each record (id, file, line, first turn) so every example is traceable.
A second record with a part number already seen is rejected as `duplicate_id` (the one kept is the
first by file and line); a part whose order field is unusable is rejected as `bad_part`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from beam_prep.core.normalize import DEFAULT_POLICY, MERGE_SEPARATOR, Policy, finish
from beam_prep.core.records import SYSTEM, Dialogue, Part, PartRef, Reject, Turn

JOINED = "joined_split_turn"  # the repair counted for each seam where two turns were joined


@dataclass
class Rejoined:
    dialogues: list[Dialogue] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    gaps: int = 0
    joined: int = 0  # segments made of more than one record


def rejoin(conversation: str, parts: list[Part], policy: Policy = DEFAULT_POLICY) -> Rejoined:
    """The dialogues (and rejects) of one conversation's parts, in any order on input."""
    out = Rejoined()
    ordered = sorted(parts, key=lambda p: (p.dialogue.source, p.dialogue.line))
    if any(p.number is None for p in ordered):  # input order: number them
        ordered = [replace(p, number=i) for i, p in enumerate(ordered)]
    usable = []
    for p in ordered:
        if p.number < 0:
            out.rejects.append(_reject(p, "bad_part", f"conversation {conversation!r}: no integer part number"))
        else:
            usable.append(p)
    usable.sort(key=lambda p: p.number)  # stable: by file and line within a number
    segment: list[Part] = []
    for p in usable:
        if segment and p.number == segment[-1].number:
            kept = segment[-1].dialogue
            out.rejects.append(_reject(p, "duplicate_id", f"part {p.number} kept from {kept.source}:{kept.line}"))
            continue
        starts_system = bool(p.dialogue.turns) and p.dialogue.turns[0].role == SYSTEM
        if segment and (p.number != segment[-1].number + 1 or starts_system):
            out.gaps += p.number != segment[-1].number + 1
            _close(conversation, segment, policy, out)
            segment = []
        segment.append(p)
    if segment:
        _close(conversation, segment, policy, out)
    return out


def _close(conversation: str, segment: list[Part], policy: Policy, out: Rejoined) -> None:
    turns: list[Turn] = []
    starts: list[int] = []
    for p in segment:
        new = list(p.dialogue.turns)
        if turns and new and turns[-1].role == new[0].role and not (turns[-1].structured or new[0].structured):
            turns[-1] = replace(turns[-1], content=turns[-1].content + MERGE_SEPARATOR + new[0].content)
            out.repairs.append(JOINED)
            starts.append(len(turns) - 1)
            new = new[1:]
        else:
            starts.append(len(turns))
        turns += new
    before = len(turns)
    turns, repair, problem = finish(turns, policy)
    first, shift = (1 if turns and turns[0].role == SYSTEM else 0), before - len(turns)
    if problem:
        span = f"{segment[0].number}-{segment[-1].number}"
        for p in segment:
            out.rejects.append(_reject(p, problem[0], f"conversation {conversation!r} parts {span}: {problem[0]}"))
        return
    out.repairs += [repair] if repair else []
    head = segment[0].dialogue
    if len(segment) == 1:
        out.dialogues.append(replace(head, turns=tuple(turns), conversation=conversation))
        return
    refs = tuple(
        PartRef(p.dialogue.id, p.dialogue.source, p.dialogue.line, max(first, s - shift) if s >= first else s)
        for p, s in zip(segment, starts)
    )
    ident = f"{conversation}_{segment[0].number}-{segment[-1].number}"
    dialogue = Dialogue(ident, tuple(turns), head.source, head.line, head.split, conversation, refs, head.tools)
    out.dialogues.append(dialogue)
    out.joined += 1


def _reject(part: Part, reason: str, detail: str) -> Reject:
    d = part.dialogue
    return Reject(reason, d.source, d.line, "", detail, d.id)
