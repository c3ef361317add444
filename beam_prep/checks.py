"""Every check that needs no pipeline: fast, and free of Beam imports, so a configuration mistake
is reported in a second or two (cli.py runs these before importing Beam). The storage layer
(io/) raises in its own words, a URL and what is wrong; here each error is given the flag that
named the URL, as one line."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from beam_prep.config import ConfigError, RunConfig
from beam_prep.core.explode import explode
from beam_prep.core.loading import TOKENIZER_FILES
from beam_prep.core.readers import file_kind
from beam_prep.core.records import ASSISTANT, USER, Dialogue, Example, Turn
from beam_prep.core.templates import TemplateError, TemplateSpec, load_template
from beam_prep.core.tokenizer import TextEncoder, TokenizerError
from beam_prep.io.cache import localize_dir
from beam_prep.io.errors import NoMatch, StorageError
from beam_prep.io.fs import is_remote, join
from beam_prep.io.globs import expand_inputs
from beam_prep.io.probes import is_file, probe_file, probe_writable

PROBE_SECONDS = 10.0  # a template's probe renders take milliseconds; a runaway loop is stopped here


class Checked(NamedTuple):
    """What `check` found: the template, the input files, and the identity (class, digest) of the
    tokenizer it loaded, which the workers' spec carries (pipeline/worker.py WorkerSpec.encoder)."""

    template: TemplateSpec
    files: list[str]
    encoder: tuple[str, str]


def check(config: RunConfig, write_probe: bool = True) -> Checked:
    """Every check that needs no pipeline: ConfigError with the bad value and the fix. Nothing is
    written, except one probe object under a remote output (not with `write_probe=False`)."""
    config.validate()
    template = run_template(config)
    files = input_files(config)
    try:
        check_output(config.output, files)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    has_tokenizer = _storage(probe_file, join(config.tokenizer, "tokenizer.json"), "--tokenizer")
    if not has_tokenizer:
        raise ConfigError(f"--tokenizer {config.tokenizer!r} has no tokenizer.json (a Hugging Face tokenizer folder)")
    local = Path(localize_dir(config.tokenizer, TOKENIZER_FILES))
    try:  # as every worker will load it: a corrupt file fails here, not in each worker
        encoder = TextEncoder(local)
    except TokenizerError as exc:
        message = " ".join(str(exc).split())[:300]
        raise ConfigError(f"--tokenizer {config.tokenizer!r} does not load: {message}") from None
    probe_template(template, encoder, config)
    if config.system_prompt and config.special_tokens_in_content == "reject":
        found = encoder.find_special(config.system_prompt)  # the tokenizer's own added tokens
        if found:
            raise ConfigError(
                f"--system_prompt contains the tokenizer's special token {found!r}: a trainer that "
                "tokenizes the text would read it as a control token; remove it, or pass "
                "--special_tokens_in_content keep to keep it as plain text"
            )
    if write_probe:
        probe_output(config)
    else:  # reading the location still checks the bucket and the credentials
        _storage(probe_file, join(config.output, "_SUCCESS"), "--output")
    return Checked(template, files, encoder.identity)


def run_template(config: RunConfig) -> TemplateSpec:
    """The template --template names, checked to have --mode; ConfigError naming the flag otherwise."""
    try:
        template = load_template(config.template)
    except TemplateError as exc:
        raise ConfigError(f"--template: {exc}") from None
    if config.mode not in template.modes:
        raise ConfigError(f"--mode {config.mode!r} is not supported by template {template.name!r} ({template.modes})")
    return template


def input_files(config: RunConfig) -> list[str]:
    """The files --input matches, each of a kind beam_prep reads; ConfigError naming the glob."""
    try:
        files = expand_inputs(config.input)
        for f in files:
            file_kind(f)
        return files
    except (NoMatch, StorageError) as exc:  # one line with the URL, never a traceback
        raise ConfigError(f"--input {exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"--input: cannot list {config.input}: {exc}") from None


def probe_output(config: RunConfig) -> None:
    """Write and delete one small object under a remote output (credentials, bucket, permission)."""
    _storage(probe_writable, config.output, "--output")


def _storage(probe, url: str, flag: str):
    try:
        return probe(url)
    except StorageError as exc:
        raise ConfigError(f"{flag} {exc}") from None


def check_output(output: str, files: list[str]) -> None:
    """ValueError for an output that is a file, cannot be written, or holds input files (a rerun
    would read the previous output back in). Writes nothing: a local folder's writability is
    asked of the OS, a remote one's is probed by probe_writable."""
    inside = [f for f in files if _under(f, output)]
    if inside:
        raise ValueError(
            f"--input matches {inside[0]!r}, which is inside --output {output!r}: each run would read "
            "the previous output back in; narrow the --input globs or write elsewhere"
        )
    if is_remote(output):
        if _storage(is_file, output, "--output"):
            raise ValueError(f"--output {output!r} is a file, not a folder")
        return
    target = Path(output)
    if target.exists() and not target.is_dir():
        raise ValueError(f"--output {output!r} is a file, not a folder")
    existing = next(p for p in (target, *target.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"--output {output!r}: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK) or not _can_create(existing):
        raise ValueError(f"--output {output!r}: {str(existing)!r} is not writable")


def _under(path: str, folder: str) -> bool:
    if is_remote(path) != is_remote(folder):
        return False
    if is_remote(path):
        return path.startswith(folder.rstrip("/") + "/")
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _can_create(folder: Path) -> bool:
    """A file can be made (and is removed at once): catches read-only mounts, root included."""
    try:
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


PROBE_WINDOWS = (("user", "assistant"), ("system", "user", "assistant", "user", "assistant"))


def probe_template(template, encoder: TextEncoder, config: RunConfig) -> None:
    """Build the Fitter and render probe windows as every worker will, before any work, within
    PROBE_SECONDS: a syntax error, an unsafe operation (blocked by the sandbox), a failure or a
    runaway loop on a plain dialogue is a ConfigError (exit code 2) naming the template; so is a
    --max_seq_length that the template's overhead and system prompt alone exceed."""
    name = template.name
    try:
        with _time_limit(PROBE_SECONDS):
            fitter = replace(config.fitter_spec(template), max_seq_length=_ROOMY).build(encoder)
            for roles in PROBE_WINDOWS:
                fitter.template.skeleton(roles)
            need = _probe_tokens(fitter, config.mode)
    except _TimeUp:
        raise ConfigError(
            f"--template {name!r} took over {PROBE_SECONDS:g} s to render a two-turn probe dialogue"
        ) from None
    except TemplateError as exc:
        raise ConfigError(f"--template: {exc}") from None
    except Exception as exc:  # anything a template can raise that CompiledTemplate does not wrap
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError(f"--template {name!r} failed on a probe dialogue: {message}") from None
    if need > config.max_seq_length:
        what = (
            " with --system_prompt"
            if config.system_prompt
            else " with its default system prompt"
            if template.default_system_prompt
            else ""
        )
        raise ConfigError(
            f"--max_seq_length {config.max_seq_length} is too small: template {name!r}{what} "
            f"needs {need} tokens for a one-word question and answer, so every example would be too_long"
        )


_ROOMY = 1 << 30  # a budget nothing reaches: the probe measures, it does not truncate


def _probe_tokens(fitter, mode: str) -> int:
    """Tokens of the smallest example: a one-word question and answer, with the system prompt."""
    probe = Dialogue("probe", (Turn(USER, "x"), Turn(ASSISTANT, "x")))
    fitted = [e for e in fitter.fit([(probe, explode(probe, mode))], mode) if isinstance(e, Example)]
    return min(len(e.input_ids) for e in fitted)


class _TimeUp(BaseException):  # BaseException: no `except Exception` in a template's path swallows it
    pass


@contextmanager
def _time_limit(seconds: float):
    """Stop the code run inside after `seconds` (a trace function, so it works in any thread)."""
    deadline = time.monotonic() + seconds
    previous = sys.gettrace()

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise _TimeUp
        return tracer

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
