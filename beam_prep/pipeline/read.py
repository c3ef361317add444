"""ReadDialogues: input files -> normalised dialogues with their split, plus rejects."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from beam_prep.core.normalize import DEFAULT_POLICY, Policy, normalize
from beam_prep.core.readers import file_kind, iter_records, unreadable
from beam_prep.core.records import RawRecord, Reject
from beam_prep.core.split import assign_split
from beam_prep.io.fs import relative_source, url_to_fs
from beam_prep.pipeline.stats import STATS, CountingDoFn

REJECTS = "rejects"


class _ReadFile(CountingDoFn):
    """One file -> its RawRecords (a torn file yields its readable part, then an error record).

    Counts ("file_read", source) once per file, so an empty or unreadable file is in stats.json too.
    """

    def __init__(self, root: str):
        self._root = root

    def process(self, url: str):
        source = relative_source(url, self._root)
        self.count(("file_read", source))
        try:
            kind, gz = file_kind(url)
            fs, path = url_to_fs(url)
            with fs.open(path, "rb") as f:
                yield from iter_records(source, kind, gz, f)
        except Exception as exc:  # cannot open: any store's error (iter_records itself never raises)
            yield unreadable(source, 0, exc)


class _Normalize(CountingDoFn):
    def __init__(self, input_format: str, seed: int, val_fraction: float, policy: Policy = DEFAULT_POLICY):
        self._format, self._seed, self._val, self._policy = input_format, seed, val_fraction, policy

    def process(self, record: RawRecord):
        if record.error != "unreadable_file":
            self.count(("records_read", record.source))
        dialogue, repairs, reject = normalize(record, self._format, self._policy)
        for repair in repairs:
            self.count(("repaired", repair))
        if reject is not None:
            yield from self._reject(reject)
            return
        split = assign_split(dialogue.id, self._seed, self._val)
        self.count(("dialogues_kept", dialogue.source))
        self.count(("dialogues", split))
        yield replace(dialogue, split=split)

    def _reject(self, reject: Reject):
        self.count(("rejected", reject.reason, reject.source))
        yield beam.pvalue.TaggedOutput(REJECTS, reject)


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
    ):
        super().__init__()
        self._files, self._root = files, root
        self._normalize = _Normalize(input_format, seed, val_fraction, policy)

    def expand(self, pbegin):
        records = (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRecords" >> beam.ParDo(_ReadFile(self._root)).with_outputs(STATS, main="records")
        )
        out = records.records | "Normalize" >> beam.ParDo(self._normalize).with_outputs(
            REJECTS, STATS, main="dialogues"
        )
        stats = (records[STATS], out[STATS]) | "ReadCounts" >> beam.Flatten()
        return _Outputs(dialogues=out.dialogues, rejects=out[REJECTS], stats=stats)
