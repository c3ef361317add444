"""TruncateExamples: batched, token-exact truncation of examples (and rejects that cannot fit)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from beam_prep.core.failures import contain
from beam_prep.core.records import Example, Reject
from beam_prep.core.stats import Outcome, Stat, example_stats
from beam_prep.pipeline.progress import Progress
from beam_prep.pipeline.read import REJECTS
from beam_prep.pipeline.stats import STATS, CountingDoFn
from beam_prep.pipeline.worker import WorkerSpec, acquire


class _Fit(CountingDoFn):
    """Buffers the examples of `batch_dialogues` dialogues, then fits them in one tokenizer batch.

    A batch that fails is fitted again dialogue by dialogue; a dialogue that fails alone is one
    reject (core/failures.py), counted as an example reject (the dialogue itself was admitted), and
    the other dialogues of the batch are kept."""

    def __init__(self, spec: WorkerSpec, mode: str, batch_dialogues: int, strict: bool = False):
        self._spec, self._mode, self._batch, self._strict = spec, mode, batch_dialogues, strict

    def setup(self):
        self._fitter = acquire(self._spec)
        self._progress = Progress()

    def start_bundle(self):
        super().start_bundle()
        self._groups: list[tuple] = []

    def process(self, example: Example):
        groups, d = self._groups, example.dialogue
        # A dialogue's examples arrive together, targets in increasing order; compared by provenance,
        # not identity, in case a runner does not fuse this step with AdmitDialogues and each
        # example brings its own copy. Two dialogues sharing an id and a line (equal values on one
        # line of a .json file) are told apart by the target order: never mixed into one group.
        last = groups[-1] if groups else None
        same = last is not None and (last[0].id, last[0].source, last[0].line) == (d.id, d.source, d.line)
        if same and example.end > last[1][-1].end:
            groups[-1][1].append(example)
            return
        if len(groups) >= self._batch:
            yield from self._flush(wrap=False)
        self._groups.append((example.dialogue, [example]))

    def finish_bundle(self):
        yield from self._flush(wrap=True)
        yield from self.flush_counts()

    def _flush(self, wrap: bool):
        groups, self._groups = self._groups, []
        examples = rejects = 0
        outputs, failed = self._fit_contained(groups)
        for out in [reject for reject, _ in failed] + outputs:
            if isinstance(out, Reject):
                self.count(Stat(Outcome.EXAMPLE_REJECTED, out.source, reason=out.reason))
                rejects += 1
                yield beam.pvalue.TaggedOutput(REJECTS, GlobalWindows.windowed_value(out) if wrap else out)
            else:
                d = out.dialogue
                for stat, n in example_stats(d.split, d.source, len(out.input_ids), out.dropped_turns):
                    self.count(stat, n)
                examples += 1
                yield GlobalWindows.windowed_value(out) if wrap else out
        self._progress.add(len(groups), examples, rejects)

    def _fit_contained(self, groups: list[tuple]) -> tuple[list, list[tuple[Reject, str]]]:
        """The fitter's outputs for `groups`, and (reject, split) of each dialogue it fails on alone."""
        if not groups:
            return [], []
        d = groups[0][0]
        where = {"source": d.source, "line": d.line, "dialogue_id": d.id, "strict": self._strict}
        outputs, failure = contain(lambda: list(self._fitter.fit(groups, self._mode)), **where)
        if failure is None:
            return outputs, []
        if len(groups) == 1:
            return [], [(failure, d.split)]
        outputs, failed = [], []
        for group in groups:
            more, lost = self._fit_contained([group])
            outputs += more
            failed += lost
        return outputs, failed


class TruncateExamples(beam.PTransform):
    """examples (exploded by `mode`) -> tagged outputs: fitted examples (main), rejects (too_long,
    template_error, ...), stats."""

    def __init__(self, spec: WorkerSpec, mode: str, batch_dialogues: int = 64, strict: bool = False):
        super().__init__()
        self._fn = _Fit(spec, mode, batch_dialogues, strict)

    def expand(self, examples):
        return examples | "FitToBudget" >> beam.ParDo(self._fn).with_outputs(REJECTS, STATS, main="examples")
