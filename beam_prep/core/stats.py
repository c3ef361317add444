"""What happened to every record, counted once where it happens, and stats.json from the counts.

A stage counts a `Stat` (an `Outcome` and its labels) at the point where the outcome is decided,
as datatrove's `stat_update` does: a record is read, then either kept (as a dialogue, or as one
part of a rejoined one) or rejected, exactly once; an example is written or rejected exactly once.
`summarize` only adds counts up; nothing is corrected afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import Enum

from beam_prep.core.records import SPLITS

PERCENTILES = (50, 90, 99)
FILE_PART = "unreadable_file"  # a file or part of one that could not be read: not a record


class Outcome(str, Enum):
    """What happened; the labels a Stat of it carries are in brackets."""

    FILE_READ = "file_read"  # an input file was planned [source]
    RECORD_READ = "record_read"  # a record was read [source]
    RECORD_KEPT = "record_kept"  # a record became a dialogue or one part of a rejoined one [source]
    RECORD_REJECTED = "record_rejected"  # a record (or an unreadable part of a file) went to rejects [source, reason]
    REPAIRED = "repaired"  # normalisation repaired a kept record [reason: the repair]
    DIALOGUE = "dialogue"  # a kept dialogue entered its split [split]
    EXAMPLE = "example"  # an example was written [source, split]
    EXAMPLE_REJECTED = "example_rejected"  # an example went to rejects [source, reason]
    TRUNCATED = "truncated"  # a written example lost older turns [split]; value: the turns dropped
    TOKENS = "tokens"  # a written example's length [split, value]
    PART = "part"  # a record was one part of a conversation split over records [source]
    CONVERSATION = "conversation"  # a conversation of several records was rejoined
    GAP = "gap"  # a gap in a conversation's part numbers (no memory across it)
    RECOVERED = "recovered"  # an example whose target lies in a continuation part (memory rejoined) [split]
    TRAIN_TARGET = "train_target"  # a validation target also trained verbatim (other memory)
    TOOL_CALL_TARGET = "tool_call_target"  # a trained assistant turn of a rendered example calls tools [split]
    REASONING_TARGET = "reasoning_target"  # a trained assistant turn of a rendered example carries reasoning [split]


@dataclass(frozen=True, slots=True)
class Stat:
    """A counter key: the outcome and its labels (unused labels stay empty)."""

    outcome: Outcome
    source: str = ""
    split: str = ""
    reason: str = ""
    value: int = 0


def summarize(counts: dict, splits=SPLITS) -> dict:
    """stats.json from merged {Stat: n} counters.

    Per file, records_read == dialogues_kept + records_rejected: every record read ends as a kept
    dialogue (or a part of one) or one reject line. `unreadable` counts the unreadable parts of the
    file (one reject line each, not records); examples_rejected counts rejected examples.
    """
    files: dict = {}
    rejects: dict = defaultdict(int)
    examples_rejected: dict = defaultdict(int)
    repairs: dict = defaultdict(int)
    per_split = {s: _split_entry() for s in splits}
    lengths: dict = {s: defaultdict(int) for s in splits}
    other: dict = defaultdict(int)

    def file(source: str) -> dict:
        if source not in files:
            files[source] = {
                "records_read": 0,
                "dialogues_kept": 0,
                "records_rejected": 0,
                "unreadable": 0,
                "rejects": {},
                "examples": {s: 0 for s in splits},
                "examples_rejected": 0,
            }
        return files[source]

    for stat, n in counts.items():
        kind = stat.outcome
        if kind is Outcome.FILE_READ:
            file(stat.source)
        elif kind is Outcome.RECORD_READ:
            file(stat.source)["records_read"] += n
        elif kind is Outcome.RECORD_KEPT:
            file(stat.source)["dialogues_kept"] += n
        elif kind in (Outcome.RECORD_REJECTED, Outcome.EXAMPLE_REJECTED):
            entry = file(stat.source)
            rejects[stat.reason] += n
            entry["rejects"][stat.reason] = entry["rejects"].get(stat.reason, 0) + n
            if kind is Outcome.EXAMPLE_REJECTED:
                entry["examples_rejected"] += n
                examples_rejected[stat.reason] += n
            elif stat.reason == FILE_PART:
                entry["unreadable"] += n
            else:
                entry["records_rejected"] += n
        elif kind is Outcome.EXAMPLE:
            examples = file(stat.source)["examples"]
            examples[stat.split] = examples.get(stat.split, 0) + n
            per_split.setdefault(stat.split, _split_entry())["examples"] += n
        elif kind is Outcome.REPAIRED:
            repairs[stat.reason] += n
        elif kind is Outcome.DIALOGUE:
            per_split.setdefault(stat.split, _split_entry())["dialogues"] += n
        elif kind is Outcome.TRUNCATED:
            entry = per_split.setdefault(stat.split, _split_entry())
            entry["truncated"] += n
            entry["turns_dropped"] += n * stat.value
        elif kind is Outcome.TOKENS:
            lengths.setdefault(stat.split, defaultdict(int))[stat.value] += n
        elif kind in _TARGET_COUNTS:
            per_split.setdefault(stat.split, _split_entry())[_TARGET_COUNTS[kind]] += n
        else:
            other[kind] += n
    for entry in files.values():
        entry["rejects"] = dict(sorted(entry["rejects"].items()))
    read = sum(f["records_read"] for f in files.values())
    kept = sum(f["dialogues_kept"] for f in files.values())
    return {
        "records": {
            "files": len(files),
            "read": read,
            "dialogues_kept": kept,
            "rejected": sum(f["records_rejected"] for f in files.values()),
            "unreadable_files": sum(1 for f in files.values() if f["unreadable"]),
        },
        "files": dict(sorted(files.items())),
        "splits": per_split,
        "rejects": dict(sorted(rejects.items())),
        "examples_rejected": dict(sorted(examples_rejected.items())),
        "repairs": dict(sorted(repairs.items())),
        "num_tokens": {s: distribution(h) for s, h in lengths.items()},
        "conversations": {
            "rejoined": other[Outcome.CONVERSATION],
            "parts": other[Outcome.PART],
            "gaps": other[Outcome.GAP],
            "responses_recovered": other[Outcome.RECOVERED],
        },
        "duplicates": {
            "examples_dropped": examples_rejected.get("duplicate", 0),
            "duplicate_ids": rejects.get("duplicate_id", 0),
        },
        "validation_train_targets": other[Outcome.TRAIN_TARGET],
    }


SPLIT_COUNTS = ("dialogues", "examples", "truncated", "turns_dropped", "tool_call_targets", "reasoning_targets")
_TARGET_COUNTS = {Outcome.TOOL_CALL_TARGET: "tool_call_targets", Outcome.REASONING_TARGET: "reasoning_targets"}


def _split_entry() -> dict:
    return dict.fromkeys(SPLIT_COUNTS, 0)


def example_stats(split: str, source: str, num_tokens: int, dropped_turns: int) -> list[tuple[Stat, int]]:
    """The counts of one fitted example. A later stage that rejects it (a row that fails to render
    or to encode) counts them again with n * -1 beside its EXAMPLE_REJECTED: the example's fate is
    known only there, and its length and truncation only here."""
    stats = [(Stat(Outcome.EXAMPLE, source, split), 1), (Stat(Outcome.TOKENS, split=split, value=num_tokens), 1)]
    if dropped_turns:
        stats.append((Stat(Outcome.TRUNCATED, split=split, value=dropped_turns), 1))
    return stats


def distribution(histogram: dict[int, int]) -> dict:
    """count, min, max, mean and percentiles of an exact {length: count} histogram (a length whose
    examples were all taken back by a later reject, count 0, is not in it)."""
    items = sorted((k, v) for k, v in histogram.items() if v > 0)
    total = sum(v for _, v in items)
    if not total:
        return {"count": 0}
    out = {
        "count": total,
        "min": items[0][0],
        "max": items[-1][0],
        "mean": round(sum(k * v for k, v in items) / total, 2),
    }
    for p in PERCENTILES:
        rank, seen = p / 100 * total, 0
        for length, n in items:
            seen += n
            if seen >= rank:
                out[f"p{p}"] = length
                break
    out["histogram"] = {str(k): v for k, v in items}
    return out


def packing_stats(shards, max_seq_length: int) -> dict:
    """Packed rows per split and their fill ratio: tokens / (rows * max_seq_length). `shards`: what
    the writer wrote, each with its split, rows and tokens (io/results.py ShardWritten)."""
    out = {}
    for split in SPLITS:
        rows = sum(w.rows for w in shards if w.split == split)
        tokens = sum(w.tokens for w in shards if w.split == split)
        out[split] = {
            "rows": rows,
            "tokens": tokens,
            "fill_ratio": round(tokens / (rows * max_seq_length), 4) if rows else None,
        }
    return out
