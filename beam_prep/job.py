"""Run one job: check the configuration, prepare the output, run the pipeline, report."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_prep.checks import check, manifest_for
from beam_prep.config import RunConfig, pipeline_args
from beam_prep.io.fs import common_root, join, url_to_fs
from beam_prep.pipeline.build import build_pipeline
from beam_prep.pipeline.finalize import SUCCESS, TEMP_DIR
from beam_prep.pipeline.worker import FitterSpec

__all__ = ["beam_options", "check", "manifest_for", "run_job"]

log = logging.getLogger("beam_prep")
LOCAL_RUNNERS = ("DirectRunner", "FnApiRunner", None)


def beam_options(beam_argv: list[str], config: RunConfig) -> PipelineOptions:
    """Beam options; locally the in-process FnApiRunner with one worker process per core.

    DirectRunner is run as that FnApiRunner too: recent Beam's DirectRunner would first try to
    download the Prism runner, which offline machines cannot.
    """
    # The YAML's pipeline_options first: Beam's parser keeps the last value, so flags override it.
    argv = pipeline_args(config.pipeline_options) + list(beam_argv)
    options = PipelineOptions(argv)
    std = options.get_all_options()
    if std.get("runner") in LOCAL_RUNNERS:
        extra = ["--runner=FnApiRunner"]
        if not std.get("direct_running_mode") or "--direct_running_mode" not in " ".join(argv):
            extra.append("--direct_running_mode=multi_processing")
        if "--direct_num_workers" not in " ".join(argv):  # Beam's default is 1, not "unset"
            extra.append(f"--direct_num_workers={max(1, min(os.cpu_count() or 1, 8))}")
        options = PipelineOptions(argv + extra)
    return options


def run_job(config: RunConfig, beam_argv: list[str], checked: tuple | None = None) -> dict:
    """Run the whole job and return stats.json's content (`checked`: check(config), if already run)."""
    template, files = checked or check(config)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    fs, out_path = url_to_fs(config.output)
    fs.makedirs(out_path, exist_ok=True)
    success = join(out_path, SUCCESS)
    if fs.exists(success):
        fs.rm(success)  # from now on the output is incomplete until this run commits
    tmp_root = join(config.output, TEMP_DIR, run_id)
    spec = FitterSpec(
        template,
        config.tokenizer,
        config.max_seq_length,
        config.system_prompt,
        config.special_tokens_in_content,
        config.reasoning,
    )
    manifest = manifest_for(config, template, files, run_id)
    options = beam_options(beam_argv, config)
    log.info("%d input files -> %s (run %s)", len(files), config.output, run_id)
    started = time.time()
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, config, spec, files, common_root(files), tmp_root, manifest)
    with fs.open(join(out_path, "stats.json"), "r", encoding="utf-8") as f:
        stats = json.load(f)
    stats["wall_seconds"] = round(time.time() - started, 2)
    return stats
