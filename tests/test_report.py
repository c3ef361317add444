"""The end-of-run summary a person reads."""

from __future__ import annotations

from beam_prep.report import summary_lines

STATS = {
    "records": {"read": 52, "dialogues_kept": 49, "rejected": 3, "unreadable_files": 1},
    "splits": {
        "train": {"dialogues": 45, "examples": 170, "truncated": 59, "turns_dropped": 258},
        "validation": {"dialogues": 4, "examples": 8, "truncated": 0, "turns_dropped": 0},
    },
    "rejects": {"invalid_json": 2, "too_long": 1, "unknown_role": 1},
    "examples_rejected": {"too_long": 1},
    "repairs": {"merged_same_role_turns": 3},
    "num_tokens": {
        "train": {"count": 170, "p50": 177, "p90": 242, "p99": 254, "max": 255},
        "validation": {"count": 8, "p50": 167, "p90": 255, "p99": 255, "max": 255},
    },
    "wall_seconds": 9.14,
}


def test_summary_shows_splits_rejects_truncation_lengths_time_and_output():
    lines = summary_lines(STATS, "s3://bucket/run", 256)
    text = "\n".join(lines)
    assert lines[0].split() == ["train", "validation"]
    assert lines[1].split() == ["dialogues", "45", "4"]
    assert lines[2].split() == ["examples", "170", "8"]
    assert lines[3].split() == ["truncated", "59", "0"]
    assert lines[4].split() == ["turns", "dropped", "258", "0"]
    assert lines[5].split() == ["num_tokens", "p50", "177", "167"]
    assert "(budget 256)" in lines[8] and lines[8].split()[:4] == ["num_tokens", "max", "255", "255"]
    assert "records read 52, dialogues kept 49, records rejected 3, unreadable files 1" in text
    assert "rejects by reason: invalid_json 2, too_long 1, unknown_role 1" in text
    assert "examples rejected: too_long 1" in text and "repairs: merged_same_role_turns 3" in text
    assert "wall time: 9.1 s" in text and "output: s3://bucket/run" in text


def test_summary_of_an_empty_split():
    stats = {**STATS, "num_tokens": {"train": STATS["num_tokens"]["train"], "validation": {"count": 0}}}
    lines = summary_lines(stats, "out", 256)
    assert lines[5].split() == ["num_tokens", "p50", "177", "-"]


def test_summary_shows_rejoined_conversations_duplicates_and_verbatim_targets():
    stats = {
        **STATS,
        "conversations": {"rejoined": 2500, "parts": 10779, "gaps": 812, "responses_recovered": 6227},
        "duplicates": {"examples_dropped": 3771, "duplicate_ids": 4},
        "validation_train_targets": 358,
    }
    text = "\n".join(summary_lines(stats, "out", 256))
    assert "conversations rejoined 2,500 (parts 10,779, gaps 812, responses recovered 6,227)" in text
    assert "duplicates dropped 3,771 examples, duplicate ids 4; validation targets also trained verbatim 358" in text
    assert "conversations rejoined" not in "\n".join(summary_lines(STATS, "out", 256))  # older stats.json
