"""stats.json from the merged per-bundle counters (see pipeline/stats.py for the keys)."""

from __future__ import annotations

from collections import defaultdict

from beam_prep.core.records import SPLITS

PERCENTILES = (50, 90, 99)
# Rejects of single examples (a dialogue may still give other examples), not of input records.
EXAMPLE_REASONS = ("too_long",)
# Rejects of a whole dialogue after normalisation kept it.
DIALOGUE_REASONS = ("special_tokens_in_content", "unsupported_by_template")
FILE_PART = "unreadable_file"  # a file or part of one that could not be read: not a record


def summarize(counts: dict, splits=SPLITS) -> dict:
    """stats.json from merged counters. Keys (pipeline/read.py, pipeline/truncate.py):

    ("file_read", source), ("records_read", source), ("dialogues_kept", source),
    ("rejected", reason, source), ("examples_rejected", reason), ("repaired", repair),
    ("dialogues" | "dialogues_rejected" | "examples" | "truncated" | "turns_dropped", split),
    ("tool_call_targets" | "reasoning_targets", split): trained turns that call tools / carry reasoning,
    ("file_examples", source, split), ("tokens", split, num_tokens).

    Per file, records_read == dialogues_kept + records_rejected: every record read ends as a kept
    dialogue or one reject line. `unreadable` counts the unreadable parts of the file (one reject
    line each, not records); examples_rejected counts too_long examples.
    """
    files: dict = {}
    rejects: dict = defaultdict(int)
    examples_rejected: dict = defaultdict(int)
    repairs: dict = defaultdict(int)
    per_split = {s: _split_entry() for s in splits}
    lengths: dict = {s: defaultdict(int) for s in splits}

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

    for key, n in counts.items():
        kind = key[0]
        if kind == "file_read":
            file(key[1])
        elif kind in ("records_read", "dialogues_kept"):
            file(key[1])[kind] += n
        elif kind == "rejected":
            reason, entry = key[1], file(key[2])
            rejects[reason] += n
            entry["rejects"][reason] = entry["rejects"].get(reason, 0) + n
            if reason == FILE_PART:
                entry["unreadable"] += n
            elif reason in EXAMPLE_REASONS:
                entry["examples_rejected"] += n
            else:
                entry["records_rejected"] += n
                if reason in DIALOGUE_REASONS:
                    entry["dialogues_kept"] -= n
        elif kind == "file_examples":
            file(key[1])["examples"][key[2]] = file(key[1])["examples"].get(key[2], 0) + n
        elif kind == "examples_rejected" and key[1] in EXAMPLE_REASONS:  # not whole dialogues
            examples_rejected[key[1]] += n
        elif kind == "repaired":
            repairs[key[1]] += n
        elif kind in SPLIT_COUNTS or kind == "dialogues_rejected":
            entry = per_split.setdefault(key[1], _split_entry())
            if kind == "dialogues_rejected":
                entry["dialogues"] -= n
            else:
                entry[kind] += n
        elif kind == "tokens":
            lengths.setdefault(key[1], defaultdict(int))[key[2]] += n
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
    }


SPLIT_COUNTS = ("dialogues", "examples", "truncated", "turns_dropped", "tool_call_targets", "reasoning_targets")


def _split_entry() -> dict:
    return dict.fromkeys(SPLIT_COUNTS, 0)


def distribution(histogram: dict[int, int]) -> dict:
    """count, min, max, mean and percentiles of an exact {length: count} histogram."""
    total = sum(histogram.values())
    if not total:
        return {"count": 0}
    items = sorted(histogram.items())
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
