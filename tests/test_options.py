"""Beam options in both forms, unknown options with a "did you mean", remote runners and their paths,
and the pip extra a runner needs (beam_prep/runners.py): each mistake one line, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from beam_prep import runners
from beam_prep.cli import main, our_flags, parse
from beam_prep.config import ConfigError, RunConfig, load_yaml
from beam_prep.job import beam_options

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ("dataflow.yaml", "flink.yaml", "spark.yaml", "local.yaml")
BOOLEAN_BEAM_FLAGS = ["--save_main_session", "--no_use_public_ips"]
SECRET = "s3cr3t-value-9f8e7d"


def spaced(options: dict) -> list[str]:
    """A YAML's pipeline_options as a Beam guide writes them: `--key value`, `--flag` alone."""
    args = []
    for key, value in options.items():
        args += [f"--{key}"] if value is True else [f"--{key}", str(value)]
    return args


def joined(options: dict) -> list[str]:
    return [f"--{k}" if v is True else f"--{k}={v}" for k, v in options.items()]


@pytest.mark.parametrize("name", CONFIGS)
def test_each_run_config_s_options_reach_beam_in_both_forms(name):
    options = load_yaml(str(REPO / "run_configs" / name))["pipeline_options"]
    ours = ["--input", "gs://b/in/*.jsonl", "--output", "gs://b/out", "--max_seq_length", "512"]
    seen = []
    for form in (spaced, joined):
        config, beam_argv, _ = parse("run", [*ours, *form(options), *BOOLEAN_BEAM_FLAGS])
        runners.check_beam_args(beam_argv, config, our_flags("run"))
        assert config.max_seq_length == 512 and config.input == ["gs://b/in/*.jsonl"]
        got = beam_options(beam_argv, config).get_all_options()
        assert got["save_main_session"] is True and got["use_public_ips"] is False
        seen.append(got)
    assert seen[0] == seen[1]
    for key, value in options.items():
        if key != "runner" or value not in runners.LOCAL_RUNNERS:  # the local runner becomes FnApiRunner
            assert str(seen[0][key]) == str(value), key


def test_direct_num_workers_with_a_space():
    config, beam_argv, _ = parse("run", ["--input", "a.jsonl", "--direct_num_workers", "2", "--output", "o"])
    runners.check_beam_args(beam_argv, config, our_flags("run"))
    assert config.output == "o" and beam_options(beam_argv, config).get_all_options()["direct_num_workers"] == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--max_seq_lenght=512"],
            "unknown option --max_seq_lenght is neither a beam_prep flag nor a Beam option; "
            "did you mean --max_seq_length? (ours)",
        ),
        (["--max_seq_lenght", "512"], "did you mean --max_seq_length? (ours)"),
        (["--input_chunk=1"], "unknown option --input_chunk is neither"),  # a prefix is not ours
        (["--runer=DataflowRunner"], "did you mean --runner? (Beam's)"),
        (["--direct_num_worker", "2"], "did you mean --direct_num_workers? (Beam's)"),
        ([f"--aws_secret_key={SECRET}"], "unknown option --aws_secret_key is neither"),
        (["--aws_secret_key", SECRET], "unknown option --aws_secret_key is neither"),
        (["stray"], "unexpected argument 'stray'; flags start with --"),
        (["--dry_run=maybe"], "argument --dry_run: expected true or false, got 'maybe'"),
    ],
)
def test_unknown_options_are_one_line_and_never_echo_a_value(args, message):
    with pytest.raises(ConfigError) as info:
        config, beam_argv, _ = parse("run", ["--input", "a.jsonl", "--output", "o", *args])
        runners.check_beam_args(beam_argv, config, our_flags("run"))
    text = str(info.value)
    assert message in text and "\n" not in text and SECRET not in text


def test_unknown_pipeline_options_key_in_yaml():
    config = RunConfig(input=["a"], output="o", pipeline_options={"runer": "DataflowRunner", "token": SECRET})
    with pytest.raises(ConfigError, match=r"pipeline_options key 'runer' .*did you mean --runner\?") as info:
        runners.check_beam_args([], config, our_flags("run"))
    assert SECRET not in str(info.value)


def test_our_booleans_take_beam_s_value_form():
    for args, expected in (
        ([], False),
        (["--dry_run"], True),
        (["--dry_run=True"], True),
        (["--dry_run=false"], False),
    ):
        config, beam_argv, _ = parse("run", ["--input", "a", "--output", "o", *args])
        assert config.dry_run is expected and beam_argv == []
    assert parse("run", ["--input", "a", "--output", "o", "--no-verbose"])[0].verbose is False


def test_beam_s_dry_run_in_yaml_is_ours(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input: a\noutput: o\npipeline_options:\n  runner: DataflowRunner\n  dry_run: true\n")
    config, beam_argv, _ = parse("run", ["--config", str(cfg)])
    assert config.dry_run is True and config.pipeline_options == {"runner": "DataflowRunner"} and beam_argv == []


def test_a_secret_in_an_unknown_option_never_reaches_stderr(tmp_path, capsys):
    corpus = tmp_path / "a.jsonl"
    corpus.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n')
    code = main(["--input", str(corpus), "--output", str(tmp_path / "o"), f"--gcp_token={SECRET}"])
    captured = capsys.readouterr()
    assert code == 2 and "unknown option --gcp_token" in captured.err and captured.err.count("\n") == 1
    assert SECRET not in captured.err + captured.out and not (tmp_path / "o").exists()


# -- remote runners --------------------------------------------------------------------------------
DATAFLOW = ["--runner", "DataflowRunner", "--project", "p", "--region", "r", "--temp_location", "gs://b/tmp"]
PORTABLE_LOCAL = [
    "--runner=PortableRunner",
    "--job_endpoint=localhost:8099",
    "--environment_type=EXTERNAL",
    "--environment_config=localhost:50000",
]


@pytest.mark.parametrize(
    "paths,beam,bad",
    [
        ({"input": ["data/a.jsonl"], "output": "gs://b/o"}, DATAFLOW, "--input 'data/a.jsonl' is a local path"),
        ({"input": ["gs://b/a.jsonl"], "output": "/tmp/o"}, DATAFLOW, "--output '/tmp/o' is a local path"),
        (
            {"input": ["s3://b/a"], "output": "s3://b/o", "tokenizer": "/models/tok"},
            DATAFLOW,
            "--tokenizer '/models/tok'",
        ),
        (
            {"input": ["/data/a"], "output": "s3://b/o"},
            ["--runner=FlinkRunner", "--flink_master=jm:8081"],
            "FlinkRunner",
        ),
        ({"input": ["/data/a"], "output": "/o"}, ["--runner", "SparkRunner"], "--runner SparkRunner cannot read"),
        (
            {"input": ["/data/a"], "output": "/o"},
            ["--runner=PortableRunner", "--job_endpoint=jobs.example:8099"],
            "local path",
        ),
        ({"input": ["/a"], "output": "/o"}, [*PORTABLE_LOCAL[:3], "--environment_config=pool.example:5"], "local path"),
    ],
)
def test_remote_runner_with_a_local_path_is_a_config_error(paths, beam, bad):
    config = RunConfig(**paths)
    with pytest.raises(ConfigError) as info:
        runners.check_paths(beam, config)
    assert bad in str(info.value) and "gs:// or s3:// URL" in str(info.value)


@pytest.mark.parametrize(
    "paths,beam",
    [
        ({"input": ["gs://b/a.jsonl"], "output": "gs://b/o"}, DATAFLOW),  # the bundled tokenizer ships
        ({"input": ["data/a.jsonl"], "output": "out"}, []),
        ({"input": ["data/a.jsonl"], "output": "out"}, ["--runner=DirectRunner"]),
        ({"input": ["/data/a"], "output": "/o", "tokenizer": "/tok"}, PORTABLE_LOCAL),  # workers beside us
    ],
)
def test_paths_the_workers_can_read_pass(paths, beam):
    runners.check_paths(beam, RunConfig(**paths))


def test_the_path_check_comes_before_beam_and_the_tokenizer_are_imported(tmp_path):
    probe = (
        "import sys; from beam_prep.cli import main; "
        f"code = main(['--input', 'data/*.jsonl', '--output', 'gs://b/o', *{DATAFLOW!r}]); "
        "print(code, 'apache_beam' in sys.modules, 'transformers' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.split() == ["2", "False", "False"]
    assert "--input 'data/*.jsonl' is a local path" in done.stderr and done.stderr.count("\n") == 1


def test_a_missing_extra_names_the_install_command(monkeypatch):
    runners.check_extra("DataflowRunner")  # installed here: .ci/run installs the gcp extra
    monkeypatch.setitem(runners.EXTRAS, "DataflowRunner", ("gcp", ("google.cloud.storage", "no_such_module_x")))
    with pytest.raises(ConfigError) as info:
        runners.check_extra("DataflowRunner")
    assert str(info.value) == (
        "--runner DataflowRunner needs the 'gcp' extra (no_such_module_x is missing): pip install \"beam-prep[gcp]\""
    )
    runners.check_extra("FlinkRunner")  # a Java job server, no Python extra
