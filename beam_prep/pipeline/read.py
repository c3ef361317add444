"""ReadDialogues: input files -> normalised dialogues with their split, plus rejects."""

from __future__ import annotations

import apache_beam as beam

from beam_prep.core.normalize import normalize
from beam_prep.core.readers import file_kind, iter_records
from beam_prep.core.records import RawRecord, Reject
from beam_prep.core.split import assign_split
from beam_prep.io.fs import relative_source, url_to_fs
from beam_prep.pipeline.stats import STATS, CountingDoFn

REJECTS = "rejects"


class _ReadFile(beam.DoFn):
    """One file -> its RawRecords (a torn file yields its readable part, then an error record)."""

    def __init__(self, root: str):
        self._root = root

    def process(self, url: str):
        source = relative_source(url, self._root)
        kind, gz = file_kind(url)
        try:
            fs, path = url_to_fs(url)
            with fs.open(path, "rb") as f:
                yield from iter_records(source, kind, gz, f)
        except OSError as exc:
            yield RawRecord(source, 0, error="unreadable_file", excerpt=f"{type(exc).__name__}: {exc}"[:300])


class _Normalize(CountingDoFn):
    def __init__(self, input_format: str, seed: int, val_fraction: float):
        self._format, self._seed, self._val = input_format, seed, val_fraction

    def process(self, record: RawRecord):
        if record.error != "unreadable_file":
            self.count(("records_read", record.source))
        dialogue, repairs, reject = normalize(record, self._format)
        for repair in repairs:
            self.count(("repaired", repair))
        if reject is not None:
            yield from self._reject(reject)
            return
        split = assign_split(dialogue.id, self._seed, self._val)
        self.count(("dialogues_kept", dialogue.source))
        self.count(("dialogues", split))
        yield dialogue.__class__(dialogue.id, dialogue.turns, dialogue.source, dialogue.line, split)

    def _reject(self, reject: Reject):
        self.count(("rejected", reject.reason, reject.source))
        yield beam.pvalue.TaggedOutput(REJECTS, reject)


class ReadDialogues(beam.PTransform):
    """files (already expanded) -> tagged outputs: dialogues (main), rejects, stats."""

    def __init__(self, files: list[str], root: str, input_format: str, seed: int, val_fraction: float):
        super().__init__()
        self._files, self._root = files, root
        self._normalize = _Normalize(input_format, seed, val_fraction)

    def expand(self, pbegin):
        return (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRecords" >> beam.ParDo(_ReadFile(self._root))
            | "Normalize" >> beam.ParDo(self._normalize).with_outputs(REJECTS, STATS, main="dialogues")
        )
