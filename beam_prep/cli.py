"""Command line: `python -m beam_prep [run|preview|templates] [FLAGS] [BEAM OPTIONS]`.

Flags fill RunConfig (config.py); `--config FILE.yaml` fills it first and flags override; every
argument that is not ours goes to Beam's PipelineOptions. Each flag's help and choices live with its
RunConfig field: the parser and the README's flag table (`flag_table`) are made from them.
Configuration mistakes print one line and exit with code 2, before any pipeline work; a failed run
prints one line (its traceback with --verbose) and exits with 1. Nothing printed or logged holds a
secret of the run (io/redact.py).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import traceback

from beam_prep.config import FIELDS, ConfigError, RunConfig, load_yaml
from beam_prep.io.redact import redacted_run, remember_secrets

COMMANDS = ("run", "preview", "templates")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit code 2, as every config mistake
        raise ConfigError(message)


def _boolean(value: str) -> bool:
    """`--flag`, `--flag=true` or `--flag=false` (Beam's style: `--dry_run=True`)."""
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def parser(command: str) -> argparse.ArgumentParser:
    ap = _Parser(
        prog=f"beam_prep {command}",
        allow_abbrev=False,  # a prefix of ours is a typo, not ours (nor Beam's)
        description="Turn raw conversation files into fine-tuning data for chat LLMs with memory.",
        epilog="Any other --option is passed to Beam (e.g. --runner=DataflowRunner --project=...).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--config", help="YAML file of flags (keys without dashes); flags given here override it")
    defaults = RunConfig()
    for name, f in FIELDS.items():
        if name == "pipeline_options":
            continue
        default = getattr(defaults, name)
        kwargs = {"help": f.metadata.get("help", ""), "default": argparse.SUPPRESS}
        if name == "input":
            kwargs["nargs"] = "+"
        elif isinstance(default, bool):
            kwargs.update(nargs="?", const=True, type=_boolean, metavar="true|false")
            ap.add_argument(f"--no-{name}", dest=name, action="store_false", default=argparse.SUPPRESS)
        elif f.type in ("int",) or isinstance(default, int):
            kwargs["type"] = int
        elif isinstance(default, float):
            kwargs["type"] = float
        if name == "tokenizer":
            kwargs["help"] += " (default: the bundled Mistral-7B tokenizer)"
        elif default not in (None, [], "") and not isinstance(default, bool):
            kwargs["help"] += f" (default: {default})"
        ap.add_argument(f"--{name}", **kwargs)
    if command == "preview":
        ap.add_argument("--examples", type=int, default=3, help="how many examples to show")
    return ap


def flag_table() -> str:
    """The README's flag table (markdown), from the RunConfig fields: name, meaning, choices, default."""
    lines = ["| flag | meaning | choices | default |", "| --- | --- | --- | --- |"]
    defaults = RunConfig()
    for name, f in FIELDS.items():
        meta = f.metadata
        if "help" not in meta:
            continue
        flag = f"`--{name} {meta['arg']}`" if meta.get("arg") else f"`--{name}`"
        choices = ", ".join(f"`{c}`" for c in meta.get("choices") or ())
        default = meta.get("shown_default") or _shown(getattr(defaults, name))
        lines.append(f"| {flag} | {meta.get('doc', meta['help'])} | {choices} | {default} |")
    return "\n".join(lines) + "\n"


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return f"{value:,}" if value >= 10_000 else str(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse(command: str, argv: list[str]) -> tuple[RunConfig, list[str], argparse.Namespace]:
    """(config, beam_argv, namespace) from a command line; ConfigError for our own mistakes."""
    ap = parser(command)
    ns, rest = ap.parse_known_args(argv)
    values = load_yaml(ns.config) if getattr(ns, "config", None) else {}
    values.update({k: v for k, v in vars(ns).items() if k in FIELDS})
    config = RunConfig(**values)
    # Beam's dry_run in a YAML's pipeline_options means ours (which passes Beam's on to Dataflow):
    # alone it would make a run that then reads the stats.json a dry run never writes.
    if "dry_run" in config.pipeline_options:
        beam_dry_run = str(config.pipeline_options.pop("dry_run")).lower()
        config.dry_run = config.dry_run or beam_dry_run in ("true", "1", "yes")
    return config, rest, ns


def our_flags(command: str) -> list[str]:
    return sorted(s for a in parser(command)._actions for s in a.option_strings if s.startswith("--"))


def main(argv: list[str] | None = None) -> int:
    """Run a command; no line it prints or logs holds a secret of the run (io/redact.py)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "run"
    with redacted_run(argv):
        return _main(command, argv)


def _main(command: str, argv: list[str]) -> int:
    verbose = False
    try:
        if command == "templates":
            from beam_prep.report import print_templates

            return print_templates()
        config, beam_argv, ns = parse(command, argv)
        remember_secrets(values=config.to_manifest())  # a YAML's pipeline_options, URLs with a password
        verbose = config.verbose
        _setup_logging(config.verbose)
        if command == "preview":
            from beam_prep.preview import preview

            return preview(config, ns.examples)
        checked = _check(command, config, beam_argv)
        if config.dry_run:
            from beam_prep.job import dry_run
            from beam_prep.report import print_plan

            print_plan(dry_run(config, beam_argv, checked))
            return 0
        from beam_prep.job import run_job
        from beam_prep.report import print_summary

        _sigterm_as_interrupt()
        stats = run_job(config, beam_argv, checked)
        print_summary(stats, config)
        return 0
    except ConfigError as exc:
        print(f"beam_prep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("beam_prep: interrupted; the output was not committed", file=sys.stderr)
        return 130
    except Exception as exc:  # the run failed: said in one line (the traceback with --verbose), redacted
        if verbose:
            traceback.print_exc(file=sys.stderr)
        message = " ".join(str(exc).split())
        message = message if len(message) <= 500 else message[:500] + "..."
        hint = "" if verbose else " (--verbose shows the traceback)"
        print(f"beam_prep: error: the run failed: {type(exc).__name__}: {message}{hint}", file=sys.stderr)
        return 1


def _sigterm_as_interrupt() -> None:
    """SIGTERM (`kill`, a scheduler's stop) ends the run as Ctrl-C does: through run_job's clean-up
    (its temporary folder and the output lock removed) and Beam's own (its worker processes)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def _check(command: str, config, beam_argv: list[str]):
    """Every check, the fast ones first; ConfigError on the first mistake, before anything is written."""
    from beam_prep import runners

    config.validate()
    runners.check_paths(beam_argv, config)  # no Beam import, no network: reported in under a second
    runners.check_secret_options(beam_argv, config)
    runners.check_extra(runners.runner_name(beam_argv, config))
    from beam_prep.checks import check, probe_output

    checked = check(config, write_probe=False)  # Beam-free: most mistakes show in a second or two
    runners.check_beam_args(beam_argv, config, our_flags(command))
    if not config.dry_run:  # a dry run writes nothing, not even a probe
        probe_output(config)
    return checked


class _BeamNoise(logging.Filter):
    """Known-harmless warnings the local runner prints on every run."""

    NOISE = ("semi_persistent_directory", "Discarding unparseable args", "Prism")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in self.NOISE)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    beam_logger = logging.getLogger("apache_beam")
    beam_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_BeamNoise())


__all__ = ["flag_table", "main", "parse"]
