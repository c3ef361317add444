"""Offline packing: several examples in one row of at most max_seq_length tokens.

Best-fit decreasing over a buffer of rows: the longest example first, each into the open row with
the least room that still holds it (a new row when none does). A packed row concatenates its
examples' input_ids and labels unchanged and records their lengths in `seq_lengths`, the column
TRL's padding-free collator reads to restart position ids at every example, so no example attends
to another. The caller packs one split at a time: a row never mixes splits.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, insort

# Per-example columns kept in a packed row, as lists in packing order; the text columns (prompt,
# completion, text) and context_turns / dropped_turns are dropped (README "Packing").
LIST_COLUMNS = ("id", "dialogue_id", "turn_index")


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins of indices into `lengths`, each summing to at most `capacity`; deterministic (ties keep
    input order). O(n log n): the open bins are kept sorted by their room."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    rooms: list[tuple[int, int]] = []  # (room left, bin index), sorted
    for i in order:
        n = lengths[i]
        if n > capacity:
            raise ValueError(f"an example of {n} tokens does not fit a row of {capacity}")
        at = bisect_left(rooms, (n, -1))
        if at == len(rooms):
            bins.append([i])
            room, b = capacity - n, len(bins) - 1
        else:
            room, b = rooms.pop(at)
            bins[b].append(i)
            room -= n
        insort(rooms, (room, b))
    return bins


def pack_rows(rows: list[dict], capacity: int) -> list[tuple[dict, list[int]]]:
    """(packed row, indices of its members in `rows`) for one split's rendered example rows
    (pipeline/render.py example_row); members keep their input order inside a row."""
    return [
        (pack_row([rows[i] for i in sorted(b)]), sorted(b))
        for b in best_fit_decreasing([r["num_tokens"] for r in rows], capacity)
    ]


def pack_row(members: list[dict]) -> dict:
    """One packed row: the members' token columns end to end, their lengths in `seq_lengths`."""
    ids, labels = array("i"), array("i")
    for r in members:
        ids.extend(r["input_ids"])
        labels.extend(r["labels"])
    row = {name: [r[name] for r in members] for name in LIST_COLUMNS}
    row["num_tokens"] = len(ids)
    row["seq_lengths"] = [r["num_tokens"] for r in members]
    row["input_ids"], row["labels"] = ids, labels
    return row
