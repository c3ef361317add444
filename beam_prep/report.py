"""What a person reads: the template list and the end-of-run summary."""

from __future__ import annotations

from beam_prep.core.templates import load_template, template_names


def print_templates() -> int:
    names = template_names()
    width = max(map(len, names))
    for name in names:
        spec = load_template(name)
        print(f"{name:<{width}}  {spec.description}")
    return 0


def print_summary(stats: dict, config) -> None:
    rec = stats["records"]
    lines = [
        f"records read          {rec['read']:>10,}",
        f"dialogues kept        {rec['dialogues_kept']:>10,}",
    ]
    for split, s in stats["splits"].items():
        lines.append(
            f"examples {split:<12} {s['examples']:>10,}  (dialogues {s['dialogues']:,}, "
            f"truncated {s['truncated']:,}, turns dropped {s['turns_dropped']:,})"
        )
    for reason, n in stats["rejects"].items():
        lines.append(f"rejected {reason:<12} {n:>10,}")
    for split, d in stats["num_tokens"].items():
        if d.get("count"):
            lines.append(
                f"num_tokens {split:<10} p50 {d['p50']}  p90 {d['p90']}  p99 {d['p99']}  max {d['max']}"
                f"  (budget {config.max_seq_length})"
            )
    lines.append(f"wall time             {stats.get('wall_seconds', 0):>10.1f} s")
    lines.append(f"output                {config.output}")
    print("\n".join(lines))
