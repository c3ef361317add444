"""Scale-out: a single input file is read in parts (--input_chunk_mb), and its parts are read and
tokenized by both worker processes.

The job's own graph (build_pipeline) gets one extra branch on the fitted examples of
TruncateExamples: a DoFn that writes, per bundle, its process id and the number of examples it saw
to a side folder. A consumer is fused into the same stage as its producer, so that process is the
one that fitted them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest

import beam_prep.job
from beam_prep.config import RunConfig
from tests.distributed.conftest import FNAPI_2, run
from tests.pipeline.corpus import make_dialogues

FIT_STEP = "TruncateExamples/FitToBudget"
DIALOGUES = 400


class _CountPerProcess(beam.DoFn):
    def __init__(self, folder: str):
        self._folder = folder

    def start_bundle(self):
        self._n = 0

    def process(self, example):
        self._n += 1

    def finish_bundle(self):
        if self._n:
            Path(self._folder, f"{os.getpid()}-{uuid.uuid4().hex}").write_text(str(self._n))


class _FittedExamples(beam.pipeline.PipelineVisitor):
    def __init__(self):
        self.found = []

    def visit_value(self, value, producer_node):
        if producer_node.full_label.startswith(FIT_STEP + "/") and value.tag is None:  # the main output
            self.found.append(value)


@pytest.fixture
def count_fits_per_process(monkeypatch, tmp_path):
    """Adds the counting branch to the job's graph; returns the side folder."""
    folder = tmp_path / "per_process"
    folder.mkdir()
    build = beam_prep.job.build_pipeline

    def build_and_count(p, *args, **kwargs):
        result = build(p, *args, **kwargs)
        visitor = _FittedExamples()
        p.visit(visitor)
        assert len(visitor.found) == 1, f"no single main output of {FIT_STEP}: {visitor.found}"
        visitor.found[0] | "CountPerProcess" >> beam.ParDo(_CountPerProcess(str(folder)))
        return result

    monkeypatch.setattr(beam_prep.job, "build_pipeline", build_and_count)
    return folder


def test_one_file_is_tokenized_by_two_worker_processes(count_fits_per_process, tmp_path):
    one = tmp_path / "in" / "one.jsonl"
    one.parent.mkdir()
    one.write_text("".join(json.dumps(d) + "\n" for d in make_dialogues(DIALOGUES, seed=5)))
    size_mb = one.stat().st_size / (1 << 20)
    config = RunConfig(input=[str(one)], output=str(tmp_path / "out"), max_seq_length=256, input_chunk_mb=size_mb / 16)
    result = run(config, FNAPI_2)
    per_pid = Counter()
    for f in count_fits_per_process.iterdir():
        per_pid[f.name.split("-")[0]] += int(f.read_text())
    examples = sum(s["examples"] for s in result.stats["splits"].values())
    print(f"examples fitted per worker process: {dict(per_pid)} of {examples} ({result.seconds:.1f} s)")
    assert sum(per_pid.values()) == examples
    assert len(per_pid) == 2, f"one file's examples were fitted by {len(per_pid)} process(es): {dict(per_pid)}"
    assert min(per_pid.values()) >= 0.25 * examples, f"unbalanced: {dict(per_pid)}"
