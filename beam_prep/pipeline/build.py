"""The pipeline graph. `build_pipeline` only wires transforms; it is tested on its own.

Three passes over the input: a light one that finds the conversations of several records (only
their parts are shuffled, pipeline/rejoin.py); a planning pass (read, normalise, rejoin) whose
small keys decide the duplicate ids, the duplicate examples and the validation targets trained
verbatim, and which shuffles the parts without the text of their inner turns; and the writing
pass, which reads the input again and gets those decisions as side inputs. Reading again costs
parses of the input, but no dialogue is held anywhere waiting for the decisions: the writing pass
streams from the files to the shards as before (docs/architecture.md). With --conversation_key
none there are no parts and no light pass.
"""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from beam_prep.config import RunConfig
from beam_prep.core.conversation import NONE
from beam_prep.core.dedup import light
from beam_prep.pipeline.admit import AdmitDialogues
from beam_prep.pipeline.duplicates import PlanDuplicates
from beam_prep.pipeline.finalize import Finalize
from beam_prep.pipeline.pack import PackRows
from beam_prep.pipeline.read import REJECTS, ReadDialogues
from beam_prep.pipeline.rejoin import RejoinConversations, SplitConversations
from beam_prep.pipeline.render import RenderExamples
from beam_prep.pipeline.stats import STATS, MergeCounters
from beam_prep.pipeline.truncate import TruncateExamples
from beam_prep.pipeline.worker import WorkerSpec
from beam_prep.pipeline.write import WriteRejects, WriteShards


def build_pipeline(
    p: beam.Pipeline,
    config: RunConfig,
    spec: WorkerSpec,
    files: list[str],
    root: str,
    tmp_root: str,
    manifest: dict,
    max_turn_chars: int = 0,
):
    """`max_turn_chars`: core/limits.py's bound for the tokenizer and budget (0: none)."""
    strict = config.internal_errors == "fail"
    policy = replace(config.policy(), max_turn_chars=max_turn_chars)

    key = config.conversation_key_spec()
    chunk, cap = max(1, int(config.input_chunk_mb * (1 << 20))), int(config.max_record_mb * (1 << 20))
    # Conversations of more than one record: only their parts travel (pipeline/rejoin.py).
    multi = None if key.mode == NONE else p | "SplitConversations" >> SplitConversations(files, root, chunk, cap, key)

    def read(label: str, lighten: bool = False):
        dialogues = p | f"{label}Dialogues" >> ReadDialogues(
            files,
            root,
            config.input_format,
            config.seed,
            config.val_fraction,
            policy,
            chunk,
            cap,
            strict,
            key,
            spec,
            multi,
            screen_special_tokens=config.special_tokens_in_content == "reject",
        )
        parts = dialogues.parts
        if lighten:  # the plan needs only the digests of inner turns (core/dedup.py light)
            parts = parts | f"{label}LightParts" >> beam.Map(lambda cp: (cp[0], light(cp[1])))
        joined = parts | f"{label}Rejoin" >> RejoinConversations(policy, config.seed, config.val_fraction)
        return dialogues, joined

    planned, planned_joined = read("Plan", lighten=True)
    plan = (planned.dialogues, planned_joined.dialogues) | "PlanDuplicates" >> PlanDuplicates(config.mode, files, root)

    singles, joined = read("Read")
    drop = (config.duplicates == "drop", config.validation_train_targets == "drop")
    # The two kinds of dialogue go down the rest of the graph separately: the local runner would
    # hold a Flatten of them in its own memory. Only small things (shard metadata, rejects,
    # counters) are flattened; rows only where --num_shards shuffles them anyway.
    stages, rows = [singles, joined], []
    for label, dialogues in (("", singles.dialogues), ("Joined", joined.dialogues)):
        admitted = dialogues | f"AdmitDialogues{label}" >> AdmitDialogues(config.mode, plan, *drop)
        fitted = admitted.examples | f"TruncateExamples{label}" >> TruncateExamples(
            spec, config.mode, config.batch_dialogues, strict
        )
        rendered = fitted.examples | f"RenderExamples{label}" >> RenderExamples(spec, strict)
        branch_rows = rendered.rows
        if config.packing:  # a packed row never mixes the two branches: fewer, still tight, rows
            branch_rows = branch_rows | f"PackRows{label}" >> PackRows(config.max_seq_length)
        rows.append(branch_rows)
        stages += [admitted, fitted, rendered]
    if config.num_shards:
        writes = [
            tuple(rows)
            | "AllRows" >> beam.Flatten()
            | "WriteShards" >> WriteShards(tmp_root, config.num_shards, config.tokens_per_shard, config.packing)
        ]
    else:
        writes = [
            r | f"WriteShards{label}" >> WriteShards(tmp_root, 0, config.tokens_per_shard, config.packing)
            for label, r in zip(("", "Joined"), rows)
        ]
    stages += writes
    shards = tuple(w.shards for w in writes) | "AllShards" >> beam.Flatten()
    rejects = tuple(s[REJECTS] for s in stages) | "AllRejects" >> beam.Flatten()
    reject_files = rejects | "WriteRejects" >> WriteRejects(tmp_root)
    counts = (
        tuple(s[STATS] for s in stages)
        | "AllCounts" >> beam.Flatten()
        | "MergeCounts" >> beam.CombineGlobally(MergeCounters())
    )
    return (shards, reject_files, counts) | "Finalize" >> Finalize(
        config.output, tmp_root, manifest, config.num_shards, config.tokens_per_shard
    )
