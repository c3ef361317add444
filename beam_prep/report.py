"""What a person reads: the template list and the end-of-run summary."""

from __future__ import annotations

from beam_prep.core.records import SPLITS
from beam_prep.core.templates import load_template, template_names


def print_templates() -> int:
    names = template_names()
    width = max(map(len, names))
    for name in names:
        spec = load_template(name)
        print(f"{name:<{width}}  {spec.description}")
    return 0


def _counts(mapping: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(mapping.items())) or "none"


def summary_lines(stats: dict, output: str, max_seq_length: int) -> list[str]:
    """The end-of-run summary as lines: per-split table, then rejects, repairs and where it went."""
    splits = [s for s in SPLITS if s in stats["splits"]]
    rows = [
        ("dialogues", lambda s: stats["splits"][s]["dialogues"]),
        ("examples", lambda s: stats["splits"][s]["examples"]),
        ("  truncated", lambda s: stats["splits"][s]["truncated"]),
        ("  turns dropped", lambda s: stats["splits"][s]["turns_dropped"]),
    ]
    for key in ("p50", "p90", "p99", "max"):
        rows.append((f"num_tokens {key}", lambda s, k=key: stats["num_tokens"].get(s, {}).get(k, "-")))
    header = f"{'':<16}" + "".join(f"{s:>12}" for s in splits)
    lines = internal_error_lines(stats) + [header]
    for label, value in rows:
        cells = "".join(f"{value(s):>12,}" if isinstance(value(s), int) else f"{value(s):>12}" for s in splits)
        lines.append(f"{label:<16}{cells}")
    lines[-1] += f"   (budget {max_seq_length:,})"
    rec = stats["records"]
    lines += [
        "",
        f"records read {rec['read']:,}, dialogues kept {rec['dialogues_kept']:,}, "
        f"records rejected {rec['rejected']:,}, unreadable files {rec.get('unreadable_files', 0):,}",
        f"rejects by reason: {_counts(stats['rejects'])}",
        f"examples rejected: {_counts(stats.get('examples_rejected', {}))}",
        f"repairs: {_counts(stats.get('repairs', {}))}",
    ]
    if "conversations" in stats:
        conv, dup = stats["conversations"], stats["duplicates"]
        lines += [
            f"conversations rejoined {conv['rejoined']:,} (parts {conv['parts']:,}, gaps {conv['gaps']:,}, "
            f"responses recovered {conv['responses_recovered']:,})",
            f"duplicates dropped {dup['examples_dropped']:,} examples, duplicate ids {dup['duplicate_ids']:,}; "
            f"validation targets also trained verbatim {stats['validation_train_targets']:,}",
        ]
    if "wall_seconds" in stats:
        lines.append(f"wall time: {stats['wall_seconds']:.1f} s")
    lines.append(f"output: {output}  (parquet/, jsonl/, hf/, rejects/, README.md, num_tokens.png, stats.json)")
    return lines


def internal_error_lines(stats: dict) -> list[str]:
    """A warning above everything when beam_prep itself failed on records (core/failures.py)."""
    n = stats.get("rejects", {}).get("internal_error", 0)
    if not n:
        return []
    return [
        f"WARNING: beam_prep failed on {n:,} record(s) itself (internal_error, a bug): they are in rejects/ with",
        "the exception, the run went on without them. --internal_errors fail stops a run at the first one.",
        "",
    ]


def print_summary(stats: dict, config) -> None:
    print("\n".join(summary_lines(stats, config.output, config.max_seq_length)))


def plan_lines(plan: dict) -> list[str]:
    """What --dry_run found: the runner, the stages of the translated job, where the output would go."""
    lines = [f"dry run: {plan['runner']}, {plan['inputs']:,} input files, {plan['transforms']} transforms"]
    if "job" in plan:
        lines.append(f"job: {plan['job']['name']} ({plan['job']['type']}), translated by Beam, not submitted")
    lines += [f"  {i}. {name}" for i, name in enumerate(plan["stages"], 1)]
    lines.append(f"worker environments: {', '.join(plan['environments']) or 'in this process'}")
    lines.append(f"output would go to: {plan['output']}  (nothing was written)")
    return lines


def print_plan(plan: dict) -> None:
    print("\n".join(plan_lines(plan)))
