"""stats.json from the merged per-bundle counters (see pipeline/stats.py for the keys)."""

from __future__ import annotations

from collections import defaultdict

from beam_prep.core.records import SPLITS

PERCENTILES = (50, 90, 99)
# Rejected after a dialogue was kept: whole dialogues (special tokens) or single examples (too long).
AFTER_NORMALISATION = ("too_long", "special_tokens_in_content")


def summarize(counts: dict, splits=SPLITS) -> dict:
    files: dict = defaultdict(lambda: {"records_read": 0, "dialogues_kept": 0, "records_rejected": 0})
    rejects: dict = defaultdict(int)
    examples_rejected: dict = defaultdict(int)
    repairs: dict = defaultdict(int)
    per_split = {s: {"dialogues": 0, "examples": 0, "truncated": 0, "turns_dropped": 0} for s in splits}
    lengths: dict = {s: defaultdict(int) for s in splits}
    unreadable_files = 0
    for key, n in counts.items():
        kind = key[0]
        if kind == "records_read":
            files[key[1]]["records_read"] += n
        elif kind == "dialogues_kept":
            files[key[1]]["dialogues_kept"] += n
        elif kind == "rejected":
            rejects[key[1]] += n
            if key[1] == "unreadable_file":
                unreadable_files += n
            elif key[1] not in AFTER_NORMALISATION:
                files[key[2]]["records_rejected"] += n
        elif kind == "examples_rejected":
            examples_rejected[key[1]] += n
        elif kind == "repaired":
            repairs[key[1]] += n
        elif kind in ("dialogues", "examples", "truncated", "turns_dropped"):
            per_split.setdefault(key[1], {"dialogues": 0, "examples": 0, "truncated": 0, "turns_dropped": 0})
            per_split[key[1]][kind] += n
        elif kind == "tokens":
            lengths.setdefault(key[1], defaultdict(int))[key[2]] += n
    read = sum(f["records_read"] for f in files.values())
    kept = sum(f["dialogues_kept"] for f in files.values())
    return {
        "records": {
            "read": read,
            "dialogues_kept": kept,
            "rejected": read - kept,
            "unreadable_files": unreadable_files,
        },
        "files": {k: dict(v) for k, v in sorted(files.items())},
        "splits": per_split,
        "rejects": dict(sorted(rejects.items())),
        "examples_rejected": dict(sorted(examples_rejected.items())),
        "repairs": dict(sorted(repairs.items())),
        "num_tokens": {s: distribution(h) for s, h in lengths.items()},
    }


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
