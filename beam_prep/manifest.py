"""manifest.json: what made the dataset (configuration with secrets redacted, template, tokenizer
file hashes, inputs, package versions), written by Finalize next to stats.json."""

from __future__ import annotations

import hashlib
import time
from importlib import metadata
from pathlib import Path

from beam_prep.config import RunConfig
from beam_prep.core.loading import TOKENIZER_FILES
from beam_prep.io.cache import localize_dir
from beam_prep.io.globs import common_root
from beam_prep.io.redact import redact

PACKAGES = ("beam-prep", "apache-beam", "transformers", "tokenizers", "datasets", "pyarrow", "jinja2")


def manifest_for(config: RunConfig, template, files: list[str], run_id: str) -> dict:
    local = Path(localize_dir(config.tokenizer, TOKENIZER_FILES))  # a remote one: the copy checks fetched
    hashes = {
        name: hashlib.sha256((local / name).read_bytes()).hexdigest()
        for name in TOKENIZER_FILES
        if (local / name).is_file()
    }
    return {
        "run_id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": redact(config.to_manifest()),
        "template": {
            "name": template.name,
            "sha256": hashlib.sha256(template.source.encode()).hexdigest(),
            "path": template.path,
            "stop_sequence": template.stop_sequence,
        },
        "tokenizer_sha256": hashes,
        "inputs": {"files": len(files), "root": common_root(files)},
        "versions": {pkg: _version(pkg) for pkg in PACKAGES},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
