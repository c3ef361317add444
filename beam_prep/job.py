"""Run one job: check the configuration, prepare the output, run the pipeline, report."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_prep.checks import Checked, check
from beam_prep.config import ConfigError, RunConfig, pipeline_args
from beam_prep.core.limits import turn_char_limit
from beam_prep.core.loading import TOKENIZER_FILES
from beam_prep.io.cache import localize_dir
from beam_prep.io.commit import TEMP_DIR
from beam_prep.io.fs import join, url_to_fs
from beam_prep.io.globs import common_root
from beam_prep.io.lock import LockHeld, OutputLock
from beam_prep.manifest import manifest_for
from beam_prep.pipeline.build import build_pipeline
from beam_prep.pipeline.worker import WorkerSpec
from beam_prep.runners import runner_name

__all__ = ["beam_options", "check", "dry_run", "manifest_for", "run_job"]

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


def worker_spec(config: RunConfig, checked: Checked) -> WorkerSpec:
    """What the workers build their Fitter from; with the identity of the tokenizer check() loaded,
    so that each worker can load the same one without AutoTokenizer."""
    return WorkerSpec(config.fitter_spec(checked.template), config.tokenizer, checked.encoder)


def run_job(config: RunConfig, beam_argv: list[str], checked: Checked | None = None) -> dict:
    """Run the whole job and return stats.json's content (`checked`: check(config), if already run).

    The run owns the output folder while it runs (io/lock.py; a second run is a ConfigError naming
    this one). The previous output, _SUCCESS included, stays as it was until Finalize commits the
    new one; a run that fails or is interrupted removes its own temporary folder on the way out.
    """
    checked = checked or check(config)
    template, files = checked.template, checked.files
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    spec = worker_spec(config, checked)
    manifest = manifest_for(config, template, files, run_id)
    options = beam_options(beam_argv, config)
    fs, out_path = url_to_fs(config.output)
    try:
        lock = OutputLock(config.output, run_id)
        with lock:
            _remove(fs, join(out_path, TEMP_DIR))  # left by runs that were killed: none is alive now
            tmp_root = join(config.output, TEMP_DIR, run_id)
            log.info("%d input files -> %s (run %s)", len(files), config.output, run_id)
            started = time.time()
            max_turn_chars = turn_char_limit(localize_dir(config.tokenizer, TOKENIZER_FILES), config.max_seq_length)
            try:
                with beam.Pipeline(options=options) as p:
                    build_pipeline(p, config, spec, files, common_root(files), tmp_root, manifest, max_turn_chars)
            except BaseException:  # a failure, Ctrl-C or SIGTERM: nothing of this run is kept
                _remove(fs, join(out_path, TEMP_DIR, run_id))
                raise
    except LockHeld as exc:
        raise ConfigError(f"--output {config.output!r} is in use: {exc}") from None
    with fs.open(join(out_path, "stats.json"), "r", encoding="utf-8") as f:
        stats = json.load(f)
    stats["wall_seconds"] = round(time.time() - started, 2)
    return stats


def dry_run(config: RunConfig, beam_argv: list[str], checked: Checked | None = None) -> dict:
    """Build the job and translate it for the runner without running it: Beam's own dry run for
    Dataflow (the job is translated into a Dataflow job, not submitted), the portable pipeline proto
    with the runner's worker environment otherwise. Nothing is written under the output."""
    checked = checked or check(config, write_probe=False)
    template, files = checked.template, checked.files
    runner = runner_name(beam_argv, config)
    argv = list(beam_argv) + (["--dry_run=True"] if runner == "DataflowRunner" else [])
    options = beam_options(argv, config)
    spec = worker_spec(config, checked)
    manifest = manifest_for(config, template, files, "dry-run")
    p = beam.Pipeline(options=options)
    tmp_root = join(config.output, TEMP_DIR, "dry-run")
    build_pipeline(p, config, spec, files, common_root(files), tmp_root, manifest)
    plan = {"runner": options.get_all_options()["runner"], "inputs": len(files), "output": config.output}
    if runner == "DataflowRunner":
        result = p.run()  # with --dry_run=True: translated and validated, returns before submitting
        proto = p.runner.proto_pipeline
        kind = result.job.proto.type
        plan["job"] = {"name": result.job.proto.name, "type": getattr(kind, "name", str(kind))}
    else:
        proto = p.to_runner_api(default_environment=_environment(options))
    components = proto.components
    top = [components.transforms[t] for t in proto.root_transform_ids]
    while len(top) == 1 and top[0].subtransforms:  # Beam may wrap everything in one root transform
        top = [components.transforms[t] for t in top[0].subtransforms]
    plan["stages"] = [t.unique_name for t in top]
    plan["transforms"] = sum(1 for t in components.transforms.values() if not t.subtransforms)
    plan["environments"] = sorted({e.urn for e in components.environments.values()})
    return plan


def _environment(options: PipelineOptions):
    """The worker environment the runner would give the pipeline (portable: from the options)."""
    if options.get_all_options().get("runner") in LOCAL_RUNNERS:
        return None
    from apache_beam.runners.portability.portable_runner import PortableRunner

    return PortableRunner._create_environment(options)


def _remove(fs, path: str) -> None:
    """Best effort: a folder that cannot be removed now is removed by the next run or commit."""
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
