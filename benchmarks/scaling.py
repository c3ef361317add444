"""Per-example cost of beam_prep's core on long vs short dialogues (issue 7: 400-turn <= 2x 10-turn).

In one process, no Beam: dialogues of exactly 10 and exactly 400 turns (5 and 200 user/assistant
pairs, turn texts drawn as in the corpus), normalised, exploded, then
  fit     Fitter.fit in batches of 64 dialogues, as TruncateExamples does (ids and labels),
  render  window_text + example_row, as RenderExamples does (the text columns, int arrays),
  table   io.shards.rows_to_table per 1,000 rows, as a shard writer does,
each timed per example and per output token. The same number of examples on both sides; the two
lengths are run interleaved `repeats` times and the fastest run of each counts. For contrast, the
baseline's sliding-memory re-tokenization (baseline.py), once, on a quarter of the examples.
"""

from __future__ import annotations

import math
import time

from benchmarks.corpus import make_dialogue

LENGTHS = {"10_turns": 5, "400_turns": 200}  # name -> user/assistant pairs
BATCH_DIALOGUES = 64
TABLE_ROWS = 1000


def make_fitter(max_seq_length: int = 4096):
    from beam_prep.config import BUNDLED_TOKENIZER
    from beam_prep.core.loading import FitterSpec
    from beam_prep.core.templates import load_template
    from beam_prep.core.tokenizer import TextEncoder

    return FitterSpec(load_template("llama2-chat-memory"), max_seq_length).build(TextEncoder(BUNDLED_TOKENIZER))


def dialogues(seed: int, pairs: int, count: int) -> list[tuple[dict, object]]:
    """(raw dict, normalised Dialogue) pairs of exactly `pairs` pairs (no trailing user turn)."""
    from beam_prep.core.normalize import normalize
    from beam_prep.core.records import RawRecord

    out = []
    for i in range(count):
        raw = make_dialogue(seed, 50_000_000 + pairs * 100_000 + i, pairs=pairs)
        if raw["messages"][-1]["role"] == "user":
            raw["messages"].pop()
        dialogue, _, reject = normalize(RawRecord("scaling.jsonl", i + 1, raw))
        if reject is None:
            out.append((raw, dialogue))
    return out


def core_cost(fitter, dialogue_list: list) -> dict:
    from beam_prep.core.explode import explode
    from beam_prep.core.fit import window_texts
    from beam_prep.core.records import Example
    from beam_prep.io.shards import rows_to_table
    from beam_prep.pipeline.render import example_row

    items = [(d, explode(d, "per_response")) for d in dialogue_list]
    started = time.perf_counter()
    fitted = []
    for i in range(0, len(items), BATCH_DIALOGUES):
        fitted += [e for e in fitter.fit(items[i : i + BATCH_DIALOGUES], "per_response") if isinstance(e, Example)]
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = [example_row(e, *t) for e, t in zip(fitted, window_texts(fitter, fitted))]
    render_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(rows), TABLE_ROWS):
        rows_to_table(rows[i : i + TABLE_ROWS])
    table_s = time.perf_counter() - started
    tokens = sum(len(e.input_ids) for e in fitted)
    n = max(1, len(fitted))
    return {
        "examples": len(fitted),
        "mean_tokens": round(tokens / n),
        "fit_us_per_example": round(fit_s / n * 1e6, 1),
        "render_us_per_example": round(render_s / n * 1e6, 1),
        "table_us_per_example": round(table_s / n * 1e6, 1),
        "total_us_per_example": round((fit_s + render_s + table_s) / n * 1e6, 1),
        "total_ns_per_token": round((fit_s + render_s + table_s) / max(1, tokens) * 1e9, 1),
        "seconds": round(fit_s + render_s + table_s, 2),
    }


def baseline_cost(raw_list: list[dict], examples: int) -> dict:
    from beam_prep.config import BUNDLED_TOKENIZER
    from benchmarks.baseline import dialogue_examples, tokenizer

    tok = tokenizer(BUNDLED_TOKENIZER)
    started, rows = time.perf_counter(), 0
    for raw in raw_list:
        rows += len(dialogue_examples(tok, raw["id"], raw["messages"], 4096))
        if rows >= examples:
            break
    seconds = time.perf_counter() - started
    return {"examples": rows, "us_per_example": round(seconds / max(1, rows) * 1e6, 1)}


def _best(runs: list[dict]) -> dict:
    """Per figure, the fastest of the repeats: the least disturbed by other work on a shared machine."""
    best = dict(runs[0])
    for key in runs[0]:
        if key.endswith("_per_example") or key.endswith("_per_token") or key == "seconds":
            best[key] = min(r[key] for r in runs)
    return best


def measure_scaling(examples: int = 4000, seed: int = 0, repeats: int = 3) -> dict:
    fitter = make_fitter()
    warm = dialogues(seed + 1, 5, 20) + dialogues(seed + 1, 200, 1)  # literal-unit cache, skeletons, imports
    core_cost(fitter, [d for _, d in warm])
    data = {name: dialogues(seed, pairs, math.ceil(examples / pairs)) for name, pairs in LENGTHS.items()}
    runs: dict = {name: [] for name in LENGTHS}
    for _ in range(repeats):  # interleaved, so a burst of outside load hits both lengths alike
        for name in LENGTHS:
            runs[name].append(core_cost(fitter, [d for _, d in data[name]]))
    out: dict = {}
    for name in LENGTHS:
        out[name] = _best(runs[name])
        out[name]["baseline"] = baseline_cost([raw for raw, _ in data[name]], examples // 4)
    long, short = out["400_turns"], out["10_turns"]
    out["ratio_per_example"] = round(long["total_us_per_example"] / short["total_us_per_example"], 2)
    out["ratio_fit_per_example"] = round(long["fit_us_per_example"] / short["fit_us_per_example"], 2)
    out["ratio_per_token"] = round(long["total_ns_per_token"] / short["total_ns_per_token"], 2)
    out["baseline_ratio_per_example"] = round(
        long["baseline"]["us_per_example"] / short["baseline"]["us_per_example"], 2
    )
    out["seconds"] = round(sum(v["seconds"] for v in (long, short)), 2)
    return out
