"""AdmitDialogues: kept dialogues -> the examples to fit, with every record and copy accounted for.

Here a record's fate is final, so it is counted here, once: a single-record dialogue whose id an
earlier record has is rejected (`duplicate_id`); every other record is kept, as a dialogue or as a
part of a rejoined one, and the dialogue enters its split. Each example that is a copy of a kept
one is rejected (`duplicate`, detail: the id kept), unless --duplicates keep; a validation example
whose target is trained verbatim is counted, and dropped under --validation_train_targets drop.
The decisions come as side inputs from PlanDuplicates (pipeline/duplicates.py).
"""

from __future__ import annotations

import apache_beam as beam

from beam_prep.core.dedup import example_ref, place, place_digest
from beam_prep.core.explode import explode
from beam_prep.core.records import VALIDATION, Dialogue, Reject
from beam_prep.core.stats import Outcome, Stat
from beam_prep.pipeline.read import REJECTS, Outputs
from beam_prep.pipeline.stats import STATS, CountingDoFn


class _Admit(CountingDoFn):
    def __init__(self, mode: str, drop_duplicates: bool, drop_train_targets: bool):
        self._mode, self._dedup, self._drop = mode, drop_duplicates, drop_train_targets

    def process(self, dialogue: Dialogue, duplicate_ids, duplicates, train_targets):
        where = place_digest(place(dialogue))
        if not dialogue.parts and (detail := duplicate_ids.get(where)):
            self.count(Stat(Outcome.RECORD_REJECTED, dialogue.source, reason="duplicate_id"))
            yield self._reject("duplicate_id", dialogue, detail)
            return
        for source, _ in dialogue.records():
            self.count(Stat(Outcome.RECORD_KEPT, source))
        split = dialogue.split
        self.count(Stat(Outcome.DIALOGUE, split=split))
        continued = dialogue.parts[1].first_turn if dialogue.parts else len(dialogue.turns)
        for ex in explode(dialogue, self._mode):
            ref = example_ref(where, ex.turn_index)
            if self._dedup and (kept := duplicates.get(ref)) is not None:
                self.count(Stat(Outcome.EXAMPLE_REJECTED, dialogue.source, reason="duplicate"))
                yield self._reject("duplicate", dialogue, kept, ex.id)
                continue
            if split == VALIDATION and ref in train_targets:
                self.count(Stat(Outcome.TRAIN_TARGET, split=split))
                if self._drop:
                    reason = "train_target_in_validation"
                    self.count(Stat(Outcome.EXAMPLE_REJECTED, dialogue.source, reason=reason))
                    yield self._reject(reason, dialogue, "the target is a training target too", ex.id)
                    continue
            if ex.end >= continued:
                self.count(Stat(Outcome.RECOVERED, split=split))
            yield ex

    @staticmethod
    def _reject(reason: str, dialogue: Dialogue, detail: str, example_id: str = ""):
        excerpt = f"example {example_id}" if example_id else ""
        reject = Reject(reason, dialogue.source, dialogue.line, excerpt, detail, dialogue.id)
        return beam.pvalue.TaggedOutput(REJECTS, reject)


class AdmitDialogues(beam.PTransform):
    """dialogues -> outputs: examples (not yet truncated), rejects, stats."""

    def __init__(self, mode: str, plan, drop_duplicates: bool = True, drop_train_targets: bool = False):
        super().__init__()
        self._fn, self._plan = _Admit(mode, drop_duplicates, drop_train_targets), plan

    def expand(self, dialogues):
        plan = self._plan
        sides = [beam.pvalue.AsDict(plan[name]) for name in ("duplicate_ids", "duplicates", "train_targets")]
        out = dialogues | "Admit" >> beam.ParDo(self._fn, *sides).with_outputs(REJECTS, STATS, main="examples")
        return Outputs(examples=out.examples, rejects=out[REJECTS], stats=out[STATS])
