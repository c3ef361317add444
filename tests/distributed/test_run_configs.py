"""run_configs/*.yaml load as our config and as Beam options Beam knows, ship the package with
--setup_file, and flags on the command line override them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from beam_prep.cli import parse
from beam_prep.config import RunConfig, load_yaml, pipeline_args
from beam_prep.job import beam_options

REPO = Path(__file__).resolve().parents[2]
ENGINES = {"dataflow.yaml": "DataflowRunner", "flink.yaml": "FlinkRunner", "spark.yaml": "SparkRunner"}


def unknown_beam_args(args: list[str]) -> list[str]:
    """The arguments no Beam PipelineOptions class declares (Beam itself only logs and drops them)."""
    parser = _BeamArgumentParser(allow_abbrev=False)
    seen, todo = set(), list(PipelineOptions.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            cls._add_argparse_args(parser)
            todo += cls.__subclasses__()
    return parser.parse_known_args(args)[1]


@pytest.mark.parametrize("name", sorted(ENGINES) + ["local.yaml"])
def test_config_loads_and_every_beam_option_exists(name):
    data = load_yaml(str(REPO / "run_configs" / name))
    config = RunConfig(**data).validate()
    args = pipeline_args(config.pipeline_options)
    assert args and not unknown_beam_args(args), f"{name}: options Beam does not know: {unknown_beam_args(args)}"


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_engine_config_ships_the_package_and_names_its_runner(name):
    config = RunConfig(**load_yaml(str(REPO / "run_configs" / name)))
    options = beam_options([], config).get_all_options()
    assert options["runner"] == ENGINES[name]
    assert options["setup_file"] == "./setup.py" and (REPO / "setup.py").is_file()
    assert all("://" in p for p in config.input) and "://" in config.output  # workers reach them


def test_command_line_beam_flags_override_the_yaml():
    config, beam_argv, _ = parse(
        "run", ["--config", str(REPO / "run_configs" / "dataflow.yaml"), "--max_num_workers=7"]
    )
    assert beam_options(beam_argv, config).get_all_options()["max_num_workers"] == 7
    config, beam_argv, _ = parse(
        "run", ["--config", str(REPO / "run_configs" / "local.yaml"), "--direct_num_workers=1"]
    )
    options = beam_options(beam_argv, config).get_all_options()
    assert options["runner"] == "FnApiRunner" and options["direct_num_workers"] == 1


def test_local_default_is_one_worker_process_per_core():
    options = beam_options([], RunConfig(input=["x.jsonl"], output="out")).get_all_options()
    assert options["runner"] == "FnApiRunner" and options["direct_running_mode"] == "multi_processing"
    assert options["direct_num_workers"] == max(1, min(os.cpu_count() or 1, 8))
    config = RunConfig(input=["x.jsonl"], output="out", pipeline_options={"direct_num_workers": 3})
    assert beam_options([], config).get_all_options()["direct_num_workers"] == 3


def test_portable_runner_passes_through_untouched():
    argv = ["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=EXTERNAL"]
    options = beam_options(argv, RunConfig(input=["x.jsonl"], output="out")).get_all_options()
    assert options["runner"] == "PortableRunner" and options["job_endpoint"] == "localhost:8099"
    assert options["direct_num_workers"] == 1 and options["environment_type"] == "EXTERNAL"
