"""--dry_run on the portable runner (the Flink/Spark path) and the local one: the job is built and
translated with the runner's worker environment, nothing is submitted, nothing is written."""

from __future__ import annotations

from beam_prep.cli import main


def dry_run(corpus, out, beam_args, capsys) -> list[str]:
    root, _ = corpus
    code = main(["--input", str(root / "in" / "part-*"), "--output", str(out), "--dry_run", *beam_args])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    return captured.out.splitlines()


def test_portable_dry_run_submits_nothing(corpus, portable, tmp_path, capsys):
    jobs_before = sorted(portable.logs.rglob("*"))
    lines = dry_run(corpus, tmp_path / "out", portable.beam_args, capsys)
    assert lines[0].startswith("dry run: PortableRunner, 4 input files, ")
    assert [line.split(". ", 1)[1] for line in lines if line.startswith("  ")][:10] == [
        "SplitConversations", "PlanDialogues", "PlanLightParts", "PlanRejoin", "PlanDuplicates", "ReadDialogues",
        "ReadRejoin", "AdmitDialogues", "TruncateExamples", "RenderExamples",
    ]  # fmt: skip
    assert "worker environments: beam:env:external:v1" in lines  # the worker pool the job would use
    assert not (tmp_path / "out").exists()
    assert sorted(portable.logs.rglob("*")) == jobs_before  # nothing staged on the job service


def test_local_dry_run_writes_nothing(corpus, tmp_path, capsys):
    lines = dry_run(corpus, tmp_path / "out", [], capsys)
    assert lines[0].startswith("dry run: FnApiRunner, 4 input files, ") and lines[-1].endswith("(nothing was written)")
    assert not (tmp_path / "out").exists()
