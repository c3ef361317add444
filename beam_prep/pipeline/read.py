"""ReadDialogues: input files -> normalised dialogues with their split, plus rejects.

Files are cut into parts (a big JSONL file every --input_chunk_mb, a Parquet file by row groups) and
only the small (file, part) descriptors are shuffled, so one big file is read by many workers and no
dialogue passes through a shuffle: everything after the read is fused with it on the same worker.

Records are normalised by the DoFn that reads them: a decoded JSON value (RawRecord) is never an
element of a PCollection, so fields beam_prep does not read are never pickled, copied or sampled by
the runner (a valid dialogue with a 500-deep `meta` field crashed Beam's element sampling)."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from beam_prep.core.failures import contain
from beam_prep.core.normalize import DEFAULT_POLICY, Policy, normalize
from beam_prep.core.readers import WHOLE, file_kind, iter_records, plan_parts, unreadable
from beam_prep.core.records import RawRecord
from beam_prep.core.split import assign_split
from beam_prep.io.fs import relative_source, url_to_fs
from beam_prep.pipeline.stats import STATS, CountingDoFn

REJECTS = "rejects"


class _PlanParts(CountingDoFn):
    """One file -> (url, Part) for each part of it that one worker reads (core.readers.plan_parts).

    Counts ("file_read", source) once per file, so an empty or unreadable file is in stats.json too.
    A file that cannot be planned (cannot be opened, torn) is one part: its reader reports it.
    """

    def __init__(self, root: str, chunk_bytes: int):
        self._root, self._chunk = root, chunk_bytes

    def process(self, url: str):
        self.count(("file_read", relative_source(url, self._root)))
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

    def process(self, url_part):
        for record in self._records(*url_part):
            yield from self._normalize.process(record, self.count)

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
    """One RawRecord -> its dialogue with its split, or a Reject on the rejects output."""

    def __init__(
        self, input_format: str, seed: int, val_fraction: float, policy: Policy = DEFAULT_POLICY, strict: bool = False
    ):
        self._format, self._seed, self._val, self._policy = input_format, seed, val_fraction, policy
        self._strict = strict

    def process(self, record: RawRecord, count):
        if record.error != "unreadable_file":
            count(("records_read", record.source))
        normalized, failed = contain(
            normalize, record, self._format, self._policy, source=record.source, line=record.line, strict=self._strict
        )
        dialogue, repairs, reject = normalized or (None, (), failed)
        for repair in repairs:
            count(("repaired", repair))
        if reject is not None:
            count(("rejected", reject.reason, reject.source))
            yield beam.pvalue.TaggedOutput(REJECTS, reject)
            return
        split = assign_split(dialogue.id, self._seed, self._val)
        count(("dialogues_kept", dialogue.source))
        count(("dialogues", split))
        yield replace(dialogue, split=split)


class _Outputs(dict):
    """Named outputs, by key (`read[REJECTS]`) or attribute (`read.dialogues`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ReadDialogues(beam.PTransform):
    """files (already expanded) -> outputs: dialogues, rejects, stats."""

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
    ):
        super().__init__()
        self._files, self._root, self._chunk = files, root, chunk_bytes
        self._read = _ReadPart(root, _Normalize(input_format, seed, val_fraction, policy, strict), max_record_bytes)

    def expand(self, pbegin):
        parts = (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "PlanParts" >> beam.ParDo(_PlanParts(self._root, self._chunk)).with_outputs(STATS, main="parts")
        )
        out = (
            parts.parts
            | "SpreadParts" >> beam.Reshuffle()
            | "ReadRecords" >> beam.ParDo(self._read).with_outputs(REJECTS, STATS, main="dialogues")
        )
        stats = (parts[STATS], out[STATS]) | "ReadCounts" >> beam.Flatten()
        return _Outputs(dialogues=out.dialogues, rejects=out[REJECTS], stats=stats)
