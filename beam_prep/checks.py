"""Every check that needs no pipeline, and the manifest: fast, and free of Beam imports, so a
configuration mistake is reported in a second or two (cli.py runs these before importing Beam)."""

from __future__ import annotations

import hashlib
import json
import time
from importlib import metadata
from pathlib import Path

from beam_prep.config import ConfigError, RunConfig
from beam_prep.core.loading import TOKENIZER_FILES, resolve_template
from beam_prep.core.readers import file_kind
from beam_prep.core.templates import CompiledTemplate, TemplateError, load_template
from beam_prep.core.tokenizer import _chat_template
from beam_prep.io.fs import (
    StorageError,
    common_root,
    expand_inputs,
    join,
    localize_dir,
    probe_file,
    probe_writable,
    redact,
)


def check(config: RunConfig):
    """Every check that needs no pipeline: ConfigError with the bad value and the fix."""
    config.validate()
    try:
        template = load_template(config.template)
    except TemplateError as exc:
        raise ConfigError(f"--template: {exc}") from None
    if config.mode not in template.modes:
        raise ConfigError(f"--mode {config.mode!r} is not supported by template {template.name!r} ({template.modes})")
    try:  # a bucket that refuses access is a StorageError: one line with the URL, never a traceback
        has_tokenizer = probe_file(join(config.tokenizer, "tokenizer.json"), "--tokenizer")
    except StorageError as exc:
        raise ConfigError(str(exc)) from None
    if not has_tokenizer:
        raise ConfigError(f"--tokenizer {config.tokenizer!r} has no tokenizer.json (a Hugging Face tokenizer folder)")
    local = probe_template(template, config.tokenizer)
    if config.system_prompt and config.special_tokens_in_content == "reject":
        found = [t for t in added_tokens(local) if t in config.system_prompt]
        if found:
            raise ConfigError(
                f"--system_prompt contains the tokenizer's special token {found[0]!r}: a trainer that "
                "tokenizes the text would read it as a control token; remove it, or pass "
                "--special_tokens_in_content keep to keep it as plain text"
            )
    try:
        files = expand_inputs(config.input)
        for f in files:
            file_kind(f)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"--input: cannot list {config.input}: {exc}") from None
    try:
        probe_writable(config.output, "--output")
    except StorageError as exc:
        raise ConfigError(str(exc)) from None
    return template, files


PROBE_WINDOWS = (("user", "assistant"), ("system", "user", "assistant", "user", "assistant"))


def probe_template(template, tokenizer: str) -> Path:
    """Compile the template and render probe windows as every worker will, before any work: a
    syntax error, an unsafe operation (blocked by the sandbox) or a failure on a plain dialogue
    is a ConfigError (exit code 2) naming the template. Returns the local tokenizer folder."""
    local = Path(localize_dir(tokenizer, TOKENIZER_FILES))
    config_file = local / "tokenizer_config.json"
    tok = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    bos, eos = (
        t.get("content", "") if isinstance(t, dict) else t or "" for t in map(tok.get, ("bos_token", "eos_token"))
    )
    try:
        template = resolve_template(template, _chat_template(local), repr(tokenizer))
        compiled = CompiledTemplate(template, bos, eos)
        for roles in PROBE_WINDOWS:
            compiled.skeleton(roles)
    except TemplateError as exc:
        raise ConfigError(f"--template: {exc}") from None
    except Exception as exc:  # anything a template can raise that CompiledTemplate does not wrap
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigError(f"--template {template.name!r} failed on a probe dialogue: {message}") from None
    return local


def added_tokens(local: Path) -> list[str]:
    """The tokenizer's added (control) tokens, from its files, without loading it."""
    tokens = set()
    tokenizer = json.loads((local / "tokenizer.json").read_text(encoding="utf-8"))
    tokens.update(t.get("content", "") for t in tokenizer.get("added_tokens") or [])
    config_file = local / "tokenizer_config.json"
    if config_file.is_file():
        decoder = json.loads(config_file.read_text(encoding="utf-8")).get("added_tokens_decoder") or {}
        tokens.update(t.get("content", "") for t in decoder.values() if isinstance(t, dict))
    return sorted((t for t in tokens if t), key=len, reverse=True)


def manifest_for(config: RunConfig, template, files: list[str], run_id: str) -> dict:
    local = Path(localize_dir(config.tokenizer, TOKENIZER_FILES))  # a remote one: the copy checks fetched
    hashes = {
        name: hashlib.sha256((local / name).read_bytes()).hexdigest()
        for name in TOKENIZER_FILES
        if (local / name).is_file()
    }
    versions = {}
    for pkg in ("beam-prep", "apache-beam", "transformers", "tokenizers", "datasets", "pyarrow", "jinja2"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "run_id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": redact(config.to_manifest()),
        "template": {
            "name": template.name,
            "sha256": hashlib.sha256(template.source.encode()).hexdigest(),
            "path": template.path,
        },
        "tokenizer_sha256": hashes,
        "inputs": {"files": len(files), "root": common_root(files)},
        "versions": versions,
    }
