"""What travels to remote workers: a small pipeline graph (no tokenizer, no compiled template in
it), and our package as Beam's stager builds it from `--setup_file ./setup.py`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from apache_beam.internal import pickler
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.stager import Stager

import beam_prep.job
from beam_prep.config import BUNDLED_TOKENIZER
from beam_prep.core.loading import FitterSpec
from beam_prep.core.templates import load_template
from beam_prep.pipeline.worker import WorkerSpec, acquire, worker_tokenizer_path
from tests.distributed.conftest import config_for

REPO = Path(__file__).resolve().parents[2]
MAX_DOFN_BYTES = 16_000
MAX_GRAPH_BYTES = 512_000


class _Built(Exception):
    """Raised inside `with beam.Pipeline(...)`: the graph is built and the job never runs."""


@pytest.fixture(scope="module")
def graph(corpus):
    """The pipeline proto of a real run_job call, captured before anything runs."""
    captured = {}
    build = beam_prep.job.build_pipeline

    def build_and_stop(p, *args, **kwargs):
        build(p, *args, **kwargs)
        captured["proto"] = p.to_runner_api()
        raise _Built

    root, _ = corpus
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(beam_prep.job, "build_pipeline", build_and_stop)
        with pytest.raises(_Built):
            beam_prep.job.run_job(config_for(root, root / "unused"), ["--runner=FnApiRunner"])
    return captured["proto"]


def test_pickled_dofns_are_small(graph):
    sizes = {}
    for t in graph.components.transforms.values():
        if t.spec.urn == common_urns.primitives.PAR_DO.urn:
            sizes[t.unique_name] = len(beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).do_fn.payload)
    assert "TruncateExamples/FitToBudget/ParDo(_Fit)" in sizes and "RenderExamples/RenderText/ParDo(_Render)" in sizes
    heavy = {name: n for name, n in sizes.items() if n > MAX_DOFN_BYTES}
    assert not heavy, f"DoFns pickled over {MAX_DOFN_BYTES} bytes: {heavy}"


def test_the_whole_graph_is_small_next_to_the_tokenizer(graph):
    size = len(graph.SerializeToString())
    tokenizer_bytes = (Path(BUNDLED_TOKENIZER) / "tokenizer.json").stat().st_size
    print(f"pipeline proto: {size} bytes; tokenizer.json: {tokenizer_bytes} bytes")
    assert size < MAX_GRAPH_BYTES and size < tokenizer_bytes / 3


def test_fitter_spec_pickles_small_and_builds_once_per_process():
    spec = WorkerSpec(FitterSpec(load_template("llama2-chat-memory"), 512), BUNDLED_TOKENIZER)
    data = pickler.dumps(spec)
    assert len(data) < MAX_DOFN_BYTES
    same = pickler.loads(data)
    assert acquire(same) is acquire(spec)  # one Fitter per process for equal specs


def test_a_worker_collects_less_often_once_its_fitter_is_loaded():
    """In a fresh interpreter, as a worker process: the default thresholds before, ours after."""
    code = (
        "import gc\n"
        "from beam_prep.config import BUNDLED_TOKENIZER\n"
        "from beam_prep.core.loading import FitterSpec\n"
        "from beam_prep.core.templates import load_template\n"
        "from beam_prep.pipeline.worker import GC_THRESHOLDS, WorkerSpec, acquire\n"
        "before = gc.get_threshold()\n"
        "acquire(WorkerSpec(FitterSpec(load_template('llama2-chat-memory'), 512), BUNDLED_TOKENIZER))\n"
        "print(before != GC_THRESHOLDS, gc.get_threshold() == GC_THRESHOLDS, gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["True", "True", "True"]


def test_a_submitters_bundled_tokenizer_path_means_the_workers_own_copy():
    submitted = "/home/someone/.venv/lib/python3.11/site-packages/beam_prep/resources/tokenizer/mistral-7b-v0.1"
    assert worker_tokenizer_path(submitted) == BUNDLED_TOKENIZER
    assert worker_tokenizer_path(BUNDLED_TOKENIZER) == BUNDLED_TOKENIZER
    for other in ("/data/tokenizers/mistral-7b-v0.1", "gs://bucket/beam_prep/resources/tokenizer/mistral-7b-v0.1"):
        assert worker_tokenizer_path(other) == other
    spec = WorkerSpec(FitterSpec(load_template("llama2-chat-memory"), 512), submitted)
    assert spec.build().encoder.encode_text("hello") == WorkerSpec(
        FitterSpec(load_template("llama2-chat-memory"), 512), BUNDLED_TOKENIZER
    ).build().encoder.encode_text("hello")


def test_setup_file_ships_code_tokenizer_and_templates(tmp_path):
    """Beam's stager builds the sdist that workers install; its installed layout has our code, the
    bundled tokenizer and the templates (built in a copy of the tree: nothing is written to it)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("beam_prep", "templates"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    sdist = Stager._build_setup_package(str(src / "setup.py"), str(tmp_path / "dist"))
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "-d", str(site)], cwd=unpacked, check=True, timeout=120
    )
    installed = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    tokenizer = "beam_prep/resources/tokenizer/mistral-7b-v0.1"
    assert {f"{tokenizer}/tokenizer.json", f"{tokenizer}/tokenizer_config.json"} <= installed
    assert {"beam_prep/pipeline/worker.py", "beam_prep/core/fit.py", "beam_prep/io/fs.py"} <= installed
    templates = {p.name for p in (REPO / "templates").glob("*.jinja")}
    assert templates and {f"beam_prep/_templates/{t}" for t in templates} <= installed
