"""What a worker loads once: the tokenizer and compiled template, shared by the DoFns of a process,
and the run's redaction.

Only the small WorkerSpec travels in the pipeline graph; `acquire` builds the Fitter on first use
in a worker process (DoFn.setup) and hands the same object to every DoFn there. Every DoFn of ours
is a RedactedDoFn: it carries the run's redaction (io/redact.py, secrets as digests only) and
installs it in whatever process unpickles it, so worker log lines, prints and tracebacks are
redacted on every runner, before a setup() of ours has run.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.utils import shared

from beam_prep.config import BUNDLED_TOKENIZER
from beam_prep.core.fit import Fitter
from beam_prep.core.loading import TOKENIZER_FILES, FitterSpec
from beam_prep.core.tokenizer import TextEncoder
from beam_prep.io.cache import localize_dir
from beam_prep.io.fs import is_remote
from beam_prep.io.redact import for_workers, install_worker


@dataclass(frozen=True)
class WorkerSpec:
    fitter: FitterSpec
    tokenizer: str  # local folder or s3:// / gs:// URL
    # The submitting process's TextEncoder.identity of the tokenizer (class, digest), if it made one:
    # a worker that loads the same tokenizer with that class skips AutoTokenizer's imports.
    encoder: tuple[str, str] = ("", "")

    def build(self) -> Fitter:
        local = localize_dir(worker_tokenizer_path(self.tokenizer), TOKENIZER_FILES)
        return self.fitter.build(TextEncoder(local, self.encoder))


def worker_tokenizer_path(tokenizer: str) -> str:
    """The tokenizer folder as this worker sees it.

    The default --tokenizer is the bundled folder's absolute path on the submitting machine; a
    Dataflow/Flink/Spark worker installs the package (--setup_file) under another site-packages,
    so a missing .../beam_prep/resources/tokenizer/NAME means this worker's own bundled copy.
    """
    path = Path(tokenizer)
    if is_remote(tokenizer) or path.is_dir() or path.parent.parts[-3:] != ("beam_prep", "resources", "tokenizer"):
        return tokenizer
    own = Path(BUNDLED_TOKENIZER).parent / path.name
    return str(own) if own.is_dir() else tokenizer


class _Holder:
    """Shared needs a weak-referenceable object."""

    def __init__(self, fitter: Fitter):
        self.fitter = fitter


_HANDLE = shared.Shared()
# Fitting makes millions of short-lived tuples and lists (token ids, offsets) that reference
# counting frees; CPython's default collector still walks its young generation every 700 of them,
# 15-25% of the fit stage's Python (benchmarks/README.md, run 7). A worker collects less often.
GC_THRESHOLDS = (50_000, 20, 100)


def acquire(spec: WorkerSpec) -> Fitter:
    fitter = _HANDLE.acquire(lambda: _Holder(spec.build()), tag=repr(spec)).fitter
    tune_collector()
    return fitter


def tune_collector() -> None:
    """Once per worker process, after the tokenizer and template are in memory: what is loaded
    (Beam, transformers, the tokenizer) is frozen out of collections, and the young generation's
    threshold raised (cyclic garbage is still collected, less often)."""
    if gc.get_threshold() != GC_THRESHOLDS:
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)


class RedactedDoFn(beam.DoFn):
    """A DoFn that takes the launcher's redaction (io/redact.py for_workers) along when it is
    pickled into the graph, and installs it (install_worker) where it is unpickled: a worker."""

    def __getstate__(self):
        return {**self.__dict__, "_redaction": for_workers()}

    def __setstate__(self, state):
        self.__dict__.update(state)
        install_worker(state.get("_redaction"))
