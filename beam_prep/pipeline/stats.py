"""Counting what happens to every record: per-bundle counters merged into one stats mapping.

Each DoFn counts into a local Counter and emits it once per bundle on the `stats` output, so the
counts cost one small element per bundle, work on every runner, and are exact (unlike metrics on
some runners). The same counts also go to Beam metrics for runner UIs.
"""

from __future__ import annotations

from collections import Counter

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from beam_prep.core.stats import Outcome, Stat, example_stats
from beam_prep.pipeline.worker import RedactedDoFn

STATS = "stats"
_NOT_METRICS = (Outcome.FILE_READ, Outcome.TOKENS)  # per file or per length: too many for a runner UI
NAMESPACE = "beam_prep"


class CountingDoFn(RedactedDoFn):
    """A DoFn with `self.count(stat, n)` whose counts leave on the `stats` output per bundle (and
    the run's redaction, pipeline/worker.py)."""

    def start_bundle(self):
        self._counts = Counter()

    def count(self, stat: Stat, n: int = 1) -> None:
        self._counts[stat] += n

    def reject_fitted(self, reject, split: str, num_tokens: int, dropped_turns: int) -> None:
        """Count a fitted example rejected by a later stage: its fitted counts taken back."""
        self.count(Stat(Outcome.EXAMPLE_REJECTED, reject.source, reason=reject.reason))
        for stat, n in example_stats(split, reject.source, num_tokens, dropped_turns):
            self.count(stat, -n)

    def finish_bundle(self):
        yield from self.flush_counts()

    def flush_counts(self):
        if self._counts:
            for stat, n in self._counts.items():
                if stat.outcome not in _NOT_METRICS:  # e.g. record_rejected_invalid_json, example_train
                    name = "_".join(x for x in (stat.outcome.value, stat.reason, stat.split) if x)
                    beam.metrics.Metrics.counter(NAMESPACE, name).inc(n)
            yield beam.pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value(self._counts))
            self._counts = Counter()


class MergeCounters(beam.CombineFn):
    def create_accumulator(self):
        return Counter()

    def add_input(self, acc, counts):
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs):
        out = Counter()
        for acc in accs:
            out.update(acc)
        return out

    def extract_output(self, acc):
        return dict(acc)
