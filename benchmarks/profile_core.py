"""Profile beam_prep's core fitting path on the benchmark corpus, in one process, with pyinstrument.

The profiled region is what a worker does per dialogue after reading: explode, Fitter.fit (batches
of 64 dialogues, as TruncateExamples), window_text + example_row (RenderExamples) and
io.shards.rows_to_table per 1,000 rows (the shard writer's table). Reading and normalising the
corpus happen before it. Writes profile.txt and profile.html under --work and prints the text.

    python benchmarks/profile_core.py --dialogues 2000 [--corpus DIR] [--work DIR]
    py-spy record --format raw -o /tmp/core.folded -- python benchmarks/profile_core.py --no_pyinstrument
    python benchmarks/spy_summary.py /tmp/core.folded   # the same region without instrumentation bias
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beam_prep.core.explode import explode
from beam_prep.core.fit import window_texts
from beam_prep.core.records import Example
from beam_prep.io.shards import rows_to_table
from beam_prep.pipeline.render import example_row  # imports apache_beam: outside the profiled region
from benchmarks.corpus import corpus_files_of, read_corpus, write_corpus
from benchmarks.scaling import BATCH_DIALOGUES, TABLE_ROWS, make_fitter


def load_dialogues(corpus: str) -> list:
    from beam_prep.core.normalize import normalize
    from beam_prep.core.records import RawRecord

    out = []
    for i, raw in enumerate(read_corpus(corpus_files_of(corpus))):
        dialogue, _, reject = normalize(RawRecord("bench.jsonl", i + 1, raw))
        if reject is None:
            out.append(dialogue)
    return out


def core_path(fitter, dialogues: list) -> dict:
    """What the profiler sees: the per-dialogue work of a worker, rows turned into Arrow tables."""
    examples = tokens = 0
    rows: list[dict] = []
    for i in range(0, len(dialogues), BATCH_DIALOGUES):
        batch = [(d, explode(d, "per_response")) for d in dialogues[i : i + BATCH_DIALOGUES]]
        fitted = [ex for ex in fitter.fit(batch, "per_response") if isinstance(ex, Example)]
        for ex, text in zip(fitted, window_texts(fitter, fitted)):
            rows.append(example_row(ex, *text))
            examples += 1
            tokens += len(ex.input_ids)
        if len(rows) >= TABLE_ROWS:
            rows_to_table(rows)
            rows = []
    if rows:
        rows_to_table(rows)
    return {"examples": examples, "tokens": tokens}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dialogues", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus", help="an existing corpus folder (default: generate one under --work)")
    ap.add_argument("--work", default="/tmp/beam_prep_bench")
    ap.add_argument("--interval", type=float, default=0.001, help="pyinstrument sampling interval (s)")
    ap.add_argument("--no_pyinstrument", action="store_true", help="just run the region (to wrap in py-spy)")
    args = ap.parse_args(argv)
    work = Path(args.work)
    corpus = args.corpus or str(work / f"corpus-{args.dialogues}-{args.seed}")
    if not args.corpus:
        write_corpus(corpus, args.dialogues, args.seed)
    dialogues = load_dialogues(corpus)
    fitter = make_fitter()
    if args.no_pyinstrument:
        started = time.perf_counter()
        counts = core_path(fitter, dialogues)
        print(f"{len(dialogues)} dialogues -> {counts} in {time.perf_counter() - started:.1f}s (not profiled)")
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=args.interval)
    started = time.perf_counter()
    profiler.start()
    counts = core_path(fitter, dialogues)
    profiler.stop()
    seconds = time.perf_counter() - started
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    work.mkdir(parents=True, exist_ok=True)
    (work / "profile.txt").write_text(text)
    (work / "profile.html").write_text(profiler.output_html())
    print(text)
    print(
        f"{len(dialogues)} dialogues -> {counts['examples']} examples, {counts['tokens']:,} tokens in {seconds:.1f}s "
        f"(profiled); {work / 'profile.txt'}, {work / 'profile.html'}"
    )


if __name__ == "__main__":
    main()
