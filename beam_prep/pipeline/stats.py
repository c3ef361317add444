"""Counting what happens to every record: per-bundle counters merged into one stats mapping.

Each DoFn counts into a local Counter and emits it once per bundle on the `stats` output, so the
counts cost one small element per bundle, work on every runner, and are exact (unlike metrics on
some runners). The same counts also go to Beam metrics for runner UIs.
"""

from __future__ import annotations

from collections import Counter

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

STATS = "stats"
NAMESPACE = "beam_prep"


class CountingDoFn(beam.DoFn):
    """A DoFn with `self.count(key, n)` whose counts leave on the `stats` output per bundle."""

    def start_bundle(self):
        self._counts = Counter()

    def count(self, key: tuple, n: int = 1) -> None:
        self._counts[key] += n

    def finish_bundle(self):
        yield from self.flush_counts()

    def flush_counts(self):
        if self._counts:
            for key, n in self._counts.items():
                if key[0] == "rejected" or (len(key) <= 2 and key[0] not in ("tokens", "file_read")):
                    beam.metrics.Metrics.counter(NAMESPACE, "_".join(map(str, key[:2]))).inc(n)  # rejected_<reason>
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
