"""RejoinConversations: the parts of split conversations -> dialogues in part order, plus rejects.

The one shuffle of whole records in the job, and only of records that are parts (single-record
dialogues never travel): parts meet by conversation key, core/rejoin.py joins them, and each
dialogue gets the split of its conversation, so no conversation is on both sides.
"""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from beam_prep.core.normalize import Policy
from beam_prep.core.rejoin import rejoin
from beam_prep.core.split import assign_split
from beam_prep.core.stats import Outcome, Stat
from beam_prep.pipeline.read import REJECTS, Outputs
from beam_prep.pipeline.stats import STATS, CountingDoFn


class _Rejoin(CountingDoFn):
    def __init__(self, policy: Policy, seed: int, val_fraction: float):
        self._policy, self._seed, self._val = policy, seed, val_fraction

    def process(self, conversation_parts):
        conversation, parts = conversation_parts
        done = rejoin(conversation, list(parts), self._policy)
        split = assign_split(conversation, self._seed, self._val)
        for repair in done.repairs:
            self.count(Stat(Outcome.REPAIRED, reason=repair))
        self.count(Stat(Outcome.CONVERSATION), done.joined)
        self.count(Stat(Outcome.GAP), done.gaps)
        for reject in done.rejects:
            self.count(Stat(Outcome.RECORD_REJECTED, reject.source, reason=reject.reason))
            yield beam.pvalue.TaggedOutput(REJECTS, reject)
        for dialogue in done.dialogues:
            yield replace(dialogue, split=split)


class RejoinConversations(beam.PTransform):
    """(conversation, Part) -> outputs: dialogues (with their split), rejects, stats."""

    def __init__(self, policy: Policy, seed: int, val_fraction: float):
        super().__init__()
        self._fn = _Rejoin(policy, seed, val_fraction)

    def expand(self, parts):
        out = (
            parts
            | "GroupParts" >> beam.GroupByKey()
            | "Rejoin" >> beam.ParDo(self._fn).with_outputs(REJECTS, STATS, main="dialogues")
        )
        return Outputs(dialogues=out.dialogues, rejects=out[REJECTS], stats=out[STATS])
