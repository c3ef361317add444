"""TruncateExamples: batched, token-exact truncation of examples (and rejects that cannot fit)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from beam_prep.core.records import Example, Reject
from beam_prep.core.stats import DIALOGUE_REASONS
from beam_prep.core.structured import target_counts
from beam_prep.pipeline.progress import Progress
from beam_prep.pipeline.read import REJECTS
from beam_prep.pipeline.stats import STATS, CountingDoFn
from beam_prep.pipeline.worker import FitterSpec, acquire


class _Fit(CountingDoFn):
    """Buffers the examples of `batch_dialogues` dialogues, then fits them in one tokenizer batch."""

    def __init__(self, spec: FitterSpec, batch_dialogues: int):
        self._spec, self._batch = spec, batch_dialogues

    def setup(self):
        self._fitter = acquire(self._spec)
        self._progress = Progress()

    def start_bundle(self):
        super().start_bundle()
        self._groups: list[tuple] = []

    def process(self, example: Example):
        groups, d = self._groups, example.dialogue
        # A dialogue's examples arrive together; compared by provenance, not identity, in case a
        # runner does not fuse this step with ExplodeDialogues and each example brings its own copy.
        if groups and (groups[-1][0].id, groups[-1][0].source, groups[-1][0].line) == (d.id, d.source, d.line):
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
        splits = {(d.id, d.source, d.line): d.split for d, _ in groups}
        for out in self._fitter.fit(groups):
            if isinstance(out, Reject):
                self.count(("rejected", out.reason, out.source))
                if out.reason in DIALOGUE_REASONS:  # a whole dialogue, no longer in its split
                    self.count(("dialogues_rejected", splits[out.dialogue_id, out.source, out.line]))
                self.count(("examples_rejected", out.reason))
                value = GlobalWindows.windowed_value(out) if wrap else out
                rejects += 1
                yield beam.pvalue.TaggedOutput(REJECTS, value)
            else:
                split = out.dialogue.split
                self.count(("examples", split))
                self.count(("file_examples", out.dialogue.source, split))
                if out.dropped_turns:
                    self.count(("truncated", split))
                    self.count(("turns_dropped", split), out.dropped_turns)
                self.count(("tokens", split, len(out.input_ids)))
                calls, reasoned = target_counts(out, self._fitter.reasoning)
                if calls:
                    self.count(("tool_call_targets", split), calls)
                if reasoned:
                    self.count(("reasoning_targets", split), reasoned)
                examples += 1
                yield GlobalWindows.windowed_value(out) if wrap else out
        self._progress.add(len(groups), examples, rejects)


class TruncateExamples(beam.PTransform):
    """examples -> tagged outputs: fitted examples (main), rejects (too_long, ...), stats."""

    def __init__(self, spec: FitterSpec, batch_dialogues: int = 64):
        super().__init__()
        self._fn = _Fit(spec, batch_dialogues)

    def expand(self, examples):
        return examples | "FitToBudget" >> beam.ParDo(self._fn).with_outputs(REJECTS, STATS, main="examples")
