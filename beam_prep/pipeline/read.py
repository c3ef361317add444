"""ReadDialogues: input files -> normalised dialogues with their split, parts of split
conversations (to be rejoined, pipeline/rejoin.py), plus rejects.

Files are cut into parts (a big JSONL file every --input_chunk_mb, a Parquet file by row groups) and
only the small (file, part) descriptors are shuffled, so one big file is read by many workers and no
single-record dialogue passes through a shuffle: everything after the read is fused with it on the
same worker. Only the parts of split conversations (--conversation_key) must travel to meet.

A dialogue with special-token strings is rejected here, before it enters a split."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from beam_prep.core.conversation import ConversationKey
from beam_prep.core.normalize import DEFAULT_POLICY, Policy, normalize
from beam_prep.core.readers import WHOLE, file_kind, iter_records, plan_parts, unreadable
from beam_prep.core.records import Part, RawRecord
from beam_prep.core.screen import special_token_reject
from beam_prep.core.split import assign_split
from beam_prep.core.stats import FILE_PART, Outcome, Stat
from beam_prep.io.fs import relative_source, url_to_fs
from beam_prep.pipeline.stats import STATS, CountingDoFn
from beam_prep.pipeline.worker import FitterSpec, acquire

REJECTS = "rejects"
PARTS = "parts"


class _PlanParts(CountingDoFn):
    """One file -> (url, Part) for each part of it that one worker reads (core.readers.plan_parts).

    Counts FILE_READ once per file, so an empty or unreadable file is in stats.json too.
    A file that cannot be planned (cannot be opened, torn) is one part: its reader reports it.
    """

    def __init__(self, root: str, chunk_bytes: int):
        self._root, self._chunk = root, chunk_bytes

    def process(self, url: str):
        self.count(Stat(Outcome.FILE_READ, relative_source(url, self._root)))
        try:
            kind, gz = file_kind(url)
            fs, path = url_to_fs(url)
            with fs.open(path, "rb") as f:
                parts = plan_parts(kind, gz, f, fs.size(path), self._chunk)
        except Exception:  # reported by _ReadPart, with the error, as an unreadable file
            parts = [WHOLE]
        for part in parts:
            yield url, part


class _ReadPart(beam.DoFn):
    """(url, Part) -> its RawRecords (a torn part yields its readable head, then an error record)."""

    def __init__(self, root: str):
        self._root = root

    def process(self, url_part):
        url, part = url_part
        source = relative_source(url, self._root)
        try:
            kind, gz = file_kind(url)
            fs, path = url_to_fs(url)
            with fs.open(path, "rb") as f:
                yield from iter_records(source, kind, gz, f, part)
        except Exception as exc:  # cannot open: any store's error (iter_records itself never raises)
            yield unreadable(source, 0, exc)


class _Normalize(CountingDoFn):
    """RawRecord -> a dialogue with its split, a (conversation, Part) on PARTS, or a reject."""

    def __init__(self, input_format: str, seed: int, val_fraction: float, policy: Policy, key, spec):
        self._format, self._seed, self._val, self._policy = input_format, seed, val_fraction, policy
        self._key, self._spec = key, spec

    def setup(self):
        screen = self._spec is not None and self._spec.special_tokens_in_content == "reject"
        self._encoder = acquire(self._spec).encoder if screen else None

    def process(self, record: RawRecord):
        if record.error != FILE_PART:
            self.count(Stat(Outcome.RECORD_READ, record.source))
        part = self._key.part_of(record.value) if record.error is None else None
        dialogue, repairs, reject = normalize(record, self._format, self._policy, part=part is not None)
        if reject is None and self._encoder is not None:
            reject = special_token_reject(self._encoder, dialogue)
        if reject is not None:
            self.count(Stat(Outcome.RECORD_REJECTED, reject.source, reason=reject.reason))
            yield beam.pvalue.TaggedOutput(REJECTS, reject)
            return
        for repair in repairs:
            self.count(Stat(Outcome.REPAIRED, reason=repair))
        if part is not None:
            self.count(Stat(Outcome.PART, dialogue.source))
            yield beam.pvalue.TaggedOutput(PARTS, (part[0], Part(part[0], part[1], dialogue)))
            return
        yield replace(dialogue, split=assign_split(dialogue.id, self._seed, self._val))


class Outputs(dict):
    """Named outputs, by key (`read[REJECTS]`) or attribute (`read.dialogues`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ReadDialogues(beam.PTransform):
    """files (already expanded) -> outputs: dialogues, parts, rejects, stats.

    `spec` (the worker's Fitter) is needed for the special-token check; without it there is none.
    """

    def __init__(
        self,
        files: list[str],
        root: str,
        input_format: str,
        seed: int,
        val_fraction: float,
        policy: Policy = DEFAULT_POLICY,
        chunk_bytes: int = 64 << 20,
        conversation_key: ConversationKey = ConversationKey(),
        spec: FitterSpec | None = None,
    ):
        super().__init__()
        self._files, self._root, self._chunk = files, root, chunk_bytes
        self._normalize = _Normalize(input_format, seed, val_fraction, policy, conversation_key, spec)

    def expand(self, pbegin):
        parts = (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "PlanParts" >> beam.ParDo(_PlanParts(self._root, self._chunk)).with_outputs(STATS, main="parts")
        )
        records = parts.parts | "SpreadParts" >> beam.Reshuffle() | "ReadRecords" >> beam.ParDo(_ReadPart(self._root))
        normalize = beam.ParDo(self._normalize).with_outputs(PARTS, REJECTS, STATS, main="dialogues")
        out = records | "Normalize" >> normalize
        stats = (parts[STATS], out[STATS]) | "ReadCounts" >> beam.Flatten()
        return Outputs(dialogues=out.dialogues, parts=out[PARTS], rejects=out[REJECTS], stats=stats)
