"""SplitConversations and RejoinConversations: the parts of split conversations -> dialogues.

SplitConversations finds the conversations with more than one record from a light pass over the
input (each record's conversation key, no normalising), so that a conversation's only record is
rejoined where it is read (pipeline/read.py) and never travels. RejoinConversations is the one
shuffle of whole records in the job, and only of the parts of those conversations: parts meet by
conversation key (packed and compressed while they cross, pipeline/shuffle.py), core/rejoin.py
joins them, and each dialogue gets the split of its conversation, so no conversation is on both
sides.
"""

from __future__ import annotations

import apache_beam as beam

from beam_prep.core.conversation import ConversationKey
from beam_prep.core.normalize import Policy
from beam_prep.pipeline.read import REJECTS, FileParts, Outputs, _ReadPart, rejoined
from beam_prep.pipeline.shuffle import GroupPacked
from beam_prep.pipeline.stats import STATS, CountingDoFn


class _Rejoin(CountingDoFn):
    def __init__(self, policy: Policy, seed: int, val_fraction: float):
        self._policy, self._seed, self._val = policy, seed, val_fraction

    def process(self, conversation_parts):
        conversation, parts = conversation_parts
        yield from rejoined(conversation, parts, self._policy, self._seed, self._val, self.count)


class RejoinConversations(beam.PTransform):
    """(conversation, Part) -> outputs: dialogues (with their split), rejects, stats."""

    def __init__(self, policy: Policy, seed: int, val_fraction: float):
        super().__init__()
        self._fn = _Rejoin(policy, seed, val_fraction)

    def expand(self, parts):
        out = (
            parts
            | "GroupParts" >> GroupPacked(compress=True)
            | "Rejoin" >> beam.ParDo(self._fn).with_outputs(REJECTS, STATS, main="dialogues")
        )
        return Outputs(dialogues=out.dialogues, rejects=out[REJECTS], stats=out[STATS])


class _ConversationOf(_ReadPart):
    """(url, Part) -> the conversation key of each readable record that is a part of one."""

    def __init__(self, root: str, key: ConversationKey, max_record_bytes: int = 0):
        self._root, self._key, self._cap = root, key, max_record_bytes

    def setup(self):  # no normaliser, no tokenizer
        pass

    def process(self, url_part):
        for record in self._records(*url_part):
            if record.error is None and (part := self._key.part_of(record.value)) is not None:
                yield part[0]


def _several(conversation_count):
    conversation, count = conversation_count
    if count > 1:
        yield conversation, True


class SplitConversations(beam.PTransform):
    """files -> (conversation, True) for each conversation key more than one record has.

    A record counts here even if it is rejected when read: its conversation then travels although
    it need not, which changes where it is rejoined, never what is made of it."""

    def __init__(self, files: list[str], root: str, chunk_bytes: int, max_record_bytes: int, key: ConversationKey):
        super().__init__()
        self._files, self._root, self._chunk = files, root, chunk_bytes
        self._fn = _ConversationOf(root, key, max_record_bytes)

    def expand(self, pbegin):
        parts = pbegin | "FileParts" >> FileParts(self._files, self._root, self._chunk)
        return (
            parts.parts
            | "ConversationOf" >> beam.ParDo(self._fn)
            | "CountRecords" >> beam.combiners.Count.PerElement()
            | "Several" >> beam.FlatMap(_several)
        )
