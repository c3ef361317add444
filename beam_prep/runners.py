"""Beam's options and runners, as far as a run needs them before it starts.

Every argument that is not ours must be one of Beam's own options: the set is taken from Beam's
PipelineOptions subclasses, exactly the parser Beam builds for itself, so both forms
(`--runner X`, `--runner=X`) reach Beam and a typo (`--max_seq_lenght=512`, which Beam would only
log as "unparseable" and drop) is a one-line error with a "did you mean". Option values are never
repeated in a message: an unknown option may carry a secret.

Runners whose workers run elsewhere (Dataflow, Flink, Spark, a remote job server) cannot read a
local input, output or tokenizer; `check_paths` says so at once instead of after minutes of retries.
`check_extra` names the pip extra a runner needs when it is missing. `check_secret_options`
keeps credentials out of Beam's options where workers run elsewhere: Beam's worker harness logs
its options at start-up, before any code of ours is loaded to redact them.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
from urllib.parse import urlsplit

from beam_prep.config import BUNDLED_TOKENIZER, ConfigError, RunConfig, pipeline_args
from beam_prep.io.fs import is_remote
from beam_prep.io.redact import is_secret_name, option_values, secrets_of

# Runners that run our code on this machine (None: Beam's default, the DirectRunner).
LOCAL_RUNNERS = (None, "DirectRunner", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner", "PrismRunner")
PORTABLE_RUNNERS = ("PortableRunner", "FlinkRunner", "SparkRunner")
# The modules a runner needs beyond our own requirements, and the extra that installs them.
EXTRAS = {
    "DataflowRunner": ("gcp", ("google_auth_httplib2", "google.cloud.storage", "apitools", "google.auth")),
}
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def runner_name(beam_argv: list[str], config: RunConfig) -> str | None:
    """The runner named by the command line (either form; the last one wins) or the YAML's
    pipeline_options, without importing Beam. `apache_beam.runners.X` paths give their class name."""
    name = config.pipeline_options.get("runner")
    for i, arg in enumerate(beam_argv):
        if arg == "--runner" and i + 1 < len(beam_argv):
            name = beam_argv[i + 1]
        elif arg.startswith("--runner="):
            name = arg.split("=", 1)[1]
    return str(name).rsplit(".", 1)[-1] if name else None


def beam_value(beam_argv: list[str], config: RunConfig, key: str) -> str | None:
    """The value of one Beam option, as Beam will parse it (YAML first, the command line overrides)."""
    namespace, _ = _beam_parser().parse_known_args(pipeline_args(config.pipeline_options) + list(beam_argv))
    return getattr(namespace, key, None)


def workers_are_local(beam_argv: list[str], config: RunConfig) -> bool:
    """Whether the runner's workers can read this machine's paths: the local runners, and the
    portable runner with a job server on loopback and workers beside it (LOOPBACK, PROCESS, or
    an EXTERNAL worker pool on loopback), as tests/distributed runs it."""
    runner = runner_name(beam_argv, config)
    if runner in LOCAL_RUNNERS:
        return True
    if runner != "PortableRunner":
        return False
    endpoint = beam_value(beam_argv, config, "job_endpoint") or ""
    environment = (beam_value(beam_argv, config, "environment_type") or "DOCKER").upper()
    where = beam_value(beam_argv, config, "environment_config") or ""
    if _host(endpoint) not in _LOOPBACK:
        return False
    return environment in ("LOOPBACK", "PROCESS") or (environment == "EXTERNAL" and _host(where) in _LOOPBACK)


def _host(address: str) -> str:
    return (urlsplit(address if "://" in address else f"//{address}").hostname or "").lower()


def check_paths(beam_argv: list[str], config: RunConfig) -> None:
    """ConfigError when workers elsewhere would be given a path of this machine."""
    runner = runner_name(beam_argv, config)
    if runner in LOCAL_RUNNERS:
        return
    paths = [("--input", p) for p in config.input] + [("--output", config.output)]
    if config.tokenizer != BUNDLED_TOKENIZER:  # the bundled one ships with the package
        paths.append(("--tokenizer", config.tokenizer))
    local = [(flag, p) for flag, p in paths if not is_remote(p)]
    if local and not workers_are_local(beam_argv, config):
        flag, path = local[0]
        raise ConfigError(
            f"{flag} {path!r} is a local path, which the workers of --runner {runner} cannot read: "
            "use a gs:// or s3:// URL (docs/engines.md)"
        )


def check_secret_options(beam_argv: list[str], config: RunConfig) -> None:
    """ConfigError naming (never quoting) a Beam option that carries a credential, when the runner
    starts its workers with Beam's harness (portable runners, Dataflow): it logs every option at
    start-up, and Dataflow shows them with the job. Our storage reads the environment, an instance
    role or workload identity (docs/cloud.md), never Beam's options, so nothing is lost."""
    runner = runner_name(beam_argv, config)
    if runner in LOCAL_RUNNERS:
        return
    for where, args in (("pipeline_options key", pipeline_args(config.pipeline_options)), ("", list(beam_argv))):
        for name, value in option_values(args):
            if (is_secret_name(name) and value) or secrets_of([f"{name}={value}"]):
                shown = f"{where} {name[2:]!r}" if where else name
                raise ConfigError(
                    f"{shown} holds a credential, which --runner {runner}'s workers would log with their options "
                    "at start-up: give it through the workers' environment, an instance role or workload "
                    "identity instead (docs/cloud.md, Secrets)"
                )


def check_extra(runner: str | None) -> None:
    """ConfigError naming the install command when the runner's pip extra is missing."""
    extra, modules = EXTRAS.get(runner or "", ("", ()))
    missing = [m for m in modules if not _importable(m)]
    if missing:
        raise ConfigError(
            f'--runner {runner} needs the {extra!r} extra ({missing[0]} is missing): pip install "beam-prep[{extra}]"'
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or a broken one
        return False


def check_beam_args(beam_argv: list[str], config: RunConfig, ours: list[str]) -> None:
    """ConfigError for an argument that is neither ours nor one of Beam's options, with the
    nearest known name; the YAML's pipeline_options keys are held to the same set."""
    parser = _beam_parser()
    for source, args in (("pipeline_options", pipeline_args(config.pipeline_options)), ("", list(beam_argv))):
        _, unknown = parser.parse_known_args(args)
        for arg in unknown:
            if not arg.startswith("-"):
                raise ConfigError(f"unexpected argument {arg!r}; flags start with --")
            name = arg.split("=", 1)[0]
            where = f"{source} key {name[2:]!r}" if source else f"unknown option {name}"
            raise ConfigError(f"{where} is neither a beam_prep flag nor a Beam option{_nearest(name, ours)}")


def _nearest(name: str, ours: list[str]) -> str:
    known = ours + sorted(beam_option_names())
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    if not close:
        return ""
    return f"; did you mean {close[0]}?" + (" (ours)" if close[0] in ours else " (Beam's)")


def beam_option_names() -> set[str]:
    """Every --option of Beam's PipelineOptions subclasses."""
    return {s for action in _beam_parser()._actions for s in action.option_strings if s.startswith("--")}


@functools.cache
def _beam_parser():
    """The parser Beam's PipelineOptions.get_all_options builds: one of each direct subclass."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    subset = {}
    for cls in PipelineOptions.__subclasses__():
        subset.setdefault(str(cls), cls)
    for cls in subset.values():
        cls._add_argparse_args(parser)
    parser.error = _beam_error  # argparse would print the usage and exit
    return parser


def _beam_error(message: str):
    raise ConfigError(f"Beam option: {message}")
