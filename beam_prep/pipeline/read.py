"""ReadDialogues: input files -> normalised dialogues with their split, parts of split
conversations (to be rejoined, pipeline/rejoin.py), plus rejects.

Files are cut into parts (a big JSONL file every --input_chunk_mb, a Parquet file by row groups) and
only the small (file, part) descriptors are shuffled, so one big file is read by many workers and no
single-record dialogue passes through a shuffle: everything after the read is fused with it on the
same worker. Only the parts of split conversations (--conversation_key) must travel to meet, and
only those of conversations with more than one record (`multi`, from pipeline/rejoin.py
SplitConversations): a conversation's only record is rejoined where it is read, as a dialogue.

Records are normalised by the DoFn that reads them: a decoded JSON value (RawRecord) is never an
element of a PCollection, so fields beam_prep does not read are never pickled, copied or sampled by
the runner (a valid dialogue with a 500-deep `meta` field crashed Beam's element sampling). A
dialogue with special-token strings, or tools or reasoning the template cannot render, is rejected
here, before it enters a split."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from beam_prep.core.conversation import ConversationKey
from beam_prep.core.failures import contain
from beam_prep.core.normalize import DEFAULT_POLICY, Policy, normalize
from beam_prep.core.readers import WHOLE, file_kind, iter_records, plan_parts, unreadable
from beam_prep.core.records import Part, RawRecord
from beam_prep.core.rejoin import rejoin
from beam_prep.core.screen import special_token_reject, template_reject
from beam_prep.core.split import assign_split
from beam_prep.core.stats import FILE_PART, Outcome, Stat
from beam_prep.io.fs import url_to_fs
from beam_prep.io.globs import relative_source
from beam_prep.pipeline.stats import STATS, CountingDoFn
from beam_prep.pipeline.worker import WorkerSpec, acquire

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


class _ReadPart(CountingDoFn):
    """(url, Part) -> the dialogues of its records (main) and the rejects; a torn part yields its
    readable head, then an unreadable_file reject. A record normalisation fails on is a reject."""

    def __init__(self, root: str, normalizer: _Normalize, max_record_bytes: int = 0):
        self._root, self._normalize, self._cap = root, normalizer, max_record_bytes

    def setup(self):
        self._normalize.setup()

    def process(self, url_part, multi=None):
        for record in self._records(*url_part):
            yield from self._normalize.process(record, self.count, multi)

    def _records(self, url: str, part):
        source = relative_source(url, self._root)
        try:
            kind, gz = file_kind(url)
            fs, path = url_to_fs(url)
            with fs.open(path, "rb") as f:
                yield from iter_records(source, kind, gz, f, part, self._cap)
        except Exception as exc:  # cannot open: any store's error (iter_records itself never raises)
            yield unreadable(source, 0, exc)


class _Normalize:
    """One RawRecord -> a dialogue with its split, a (conversation, Part) on PARTS, or a reject;
    run by _ReadPart on each record it reads. A record it fails on is a reject (core/failures.py)."""

    def __init__(
        self, input_format: str, seed: int, val_fraction: float, policy: Policy, key, spec, screen: bool, strict=False
    ):
        self._format, self._seed, self._val, self._policy = input_format, seed, val_fraction, policy
        self._key, self._spec, self._screen, self._strict = key, spec, screen, strict

    def setup(self):
        self._fitter = acquire(self._spec) if self._spec is not None else None
        self._encoder = self._fitter.encoder if self._fitter is not None and self._screen else None

    def process(self, record: RawRecord, count, multi=None):
        if record.error != FILE_PART:
            count(Stat(Outcome.RECORD_READ, record.source))
        where = {"source": record.source, "line": record.line, "strict": self._strict}
        normalized, failed = contain(self._normalize, record, **where)
        part, dialogue, repairs, reject = normalized or (None, None, (), failed)
        if reject is not None:
            count(Stat(Outcome.RECORD_REJECTED, reject.source, reason=reject.reason))
            yield beam.pvalue.TaggedOutput(REJECTS, reject)
            return
        for repair in repairs:
            count(Stat(Outcome.REPAIRED, reason=repair))
        if part is not None:
            count(Stat(Outcome.PART, dialogue.source))
            conversation, one = part[0], Part(part[0], part[1], dialogue)
            if multi is not None and conversation not in multi:  # its conversation's only record
                yield from rejoined(conversation, [one], self._policy, self._seed, self._val, count)
                return
            yield beam.pvalue.TaggedOutput(PARTS, (conversation, one))
            return
        yield replace(dialogue, split=assign_split(dialogue.id, self._seed, self._val))

    def _normalize(self, record: RawRecord):
        """(part, dialogue, repairs, reject): part is (conversation, order) for a part record."""
        part = self._key.part_of(record.value) if record.error is None else None
        dialogue, repairs, reject = normalize(record, self._format, self._policy, part=part is not None)
        if reject is None and self._encoder is not None:
            reject = special_token_reject(self._encoder, dialogue)
        if reject is None and self._fitter is not None:
            reject = template_reject(self._fitter, dialogue)
        return part, dialogue, repairs, reject


def rejoined(conversation: str, parts: list[Part], policy: Policy, seed: int, val_fraction: float, count):
    """The parts of one conversation rejoined (core/rejoin.py) and counted: its dialogues, each
    with the conversation's split (so no conversation is on both sides), and its rejects (tagged)."""
    done = rejoin(conversation, parts, policy)
    split = assign_split(conversation, seed, val_fraction)
    for repair in done.repairs:
        count(Stat(Outcome.REPAIRED, reason=repair))
    count(Stat(Outcome.CONVERSATION), done.joined)
    count(Stat(Outcome.GAP), done.gaps)
    for reject in done.rejects:
        count(Stat(Outcome.RECORD_REJECTED, reject.source, reason=reject.reason))
        yield beam.pvalue.TaggedOutput(REJECTS, reject)
    for dialogue in done.dialogues:
        yield replace(dialogue, split=split)


class Outputs(dict):
    """Named outputs, by key (`read[REJECTS]`) or attribute (`read.dialogues`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class FileParts(beam.PTransform):
    """files -> outputs: parts ((url, Part) spread over the workers), stats (FILE_READ)."""

    def __init__(self, files: list[str], root: str, chunk_bytes: int):
        super().__init__()
        self._files, self._root, self._chunk = files, root, chunk_bytes

    def expand(self, pbegin):
        parts = (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "PlanParts" >> beam.ParDo(_PlanParts(self._root, self._chunk)).with_outputs(STATS, main="parts")
        )
        return Outputs(parts=parts.parts | "SpreadParts" >> beam.Reshuffle(), stats=parts[STATS])


class ReadDialogues(beam.PTransform):
    """files (already expanded) -> outputs: dialogues, parts, rejects, stats.

    `spec` (the worker's Fitter) is needed for the template check and the special-token check
    (`screen_special_tokens`: --special_tokens_in_content reject); without it there is neither.
    `multi`: (conversation, True) for each conversation of more than one record; the parts of the
    others are rejoined here and come out as dialogues. Without it, every part comes out as a part.
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
        max_record_bytes: int = 0,
        strict: bool = False,
        conversation_key: ConversationKey = ConversationKey(),
        spec: WorkerSpec | None = None,
        multi=None,
        screen_special_tokens: bool = True,
    ):
        super().__init__()
        self._files, self._root, self._chunk, self._multi = files, root, chunk_bytes, multi
        normalizer = _Normalize(
            input_format, seed, val_fraction, policy, conversation_key, spec, screen_special_tokens, strict
        )
        self._read = _ReadPart(root, normalizer, max_record_bytes)

    def expand(self, pbegin):
        parts = pbegin | "FileParts" >> FileParts(self._files, self._root, self._chunk)
        sides = [] if self._multi is None else [beam.pvalue.AsDict(self._multi)]
        out = parts.parts | "ReadRecords" >> beam.ParDo(self._read, *sides).with_outputs(
            PARTS, REJECTS, STATS, main="dialogues"
        )
        stats = (parts[STATS], out[STATS]) | "ReadCounts" >> beam.Flatten()
        return Outputs(dialogues=out.dialogues, parts=out[PARTS], rejects=out[REJECTS], stats=stats)
