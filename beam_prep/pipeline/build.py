"""The pipeline graph. `build_pipeline` only wires transforms; it is tested on its own."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from beam_prep.config import RunConfig
from beam_prep.pipeline.explode import ExplodeDialogues
from beam_prep.pipeline.finalize import Finalize
from beam_prep.pipeline.read import REJECTS, ReadDialogues
from beam_prep.pipeline.render import RenderExamples
from beam_prep.pipeline.stats import STATS, MergeCounters
from beam_prep.pipeline.truncate import TruncateExamples
from beam_prep.pipeline.worker import FitterSpec
from beam_prep.pipeline.write import WriteRejects, WriteShards


def build_pipeline(
    p: beam.Pipeline,
    config: RunConfig,
    spec: FitterSpec,
    files: list[str],
    root: str,
    tmp_root: str,
    manifest: dict,
    max_turn_chars: int = 0,
):
    """`max_turn_chars`: core/limits.py's bound for the tokenizer and budget (0: none)."""
    strict = config.internal_errors == "fail"
    read = p | "ReadDialogues" >> ReadDialogues(
        files,
        root,
        config.input_format,
        config.seed,
        config.val_fraction,
        replace(config.policy(), max_turn_chars=max_turn_chars),
        max(1, int(config.input_chunk_mb * (1 << 20))),
        int(config.max_record_mb * (1 << 20)),
        strict,
    )
    examples = read.dialogues | "ExplodeDialogues" >> ExplodeDialogues(config.mode)
    fitted = examples | "TruncateExamples" >> TruncateExamples(spec, config.batch_dialogues, strict)
    rendered = fitted.examples | "RenderExamples" >> RenderExamples(spec, strict)
    shards = rendered.rows | "WriteShards" >> WriteShards(tmp_root, config.num_shards, config.tokens_per_shard)
    rejects = (read[REJECTS], fitted[REJECTS], rendered[REJECTS], shards[REJECTS]) | "AllRejects" >> beam.Flatten()
    reject_files = rejects | "WriteRejects" >> WriteRejects(tmp_root)
    written = (shards.shards, reject_files) | "AllWritten" >> beam.Flatten()
    counts = (
        (read[STATS], fitted[STATS], rendered[STATS], shards[STATS])
        | "AllCounts" >> beam.Flatten()
        | "MergeCounts" >> beam.CombineGlobally(MergeCounters())
    )
    return (written, counts) | "Finalize" >> Finalize(config.output, tmp_root, manifest, config.num_shards)
