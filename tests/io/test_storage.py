"""The storage layer without a store: errors in the domain's words (a URL and what is wrong, no
flag), globs, probes and naming; the cloud clients' loggers untouched until a bucket is used."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from beam_prep.io.errors import NoMatch, StorageError, storage_error
from beam_prep.io.globs import common_root, expand_inputs, relative_source
from beam_prep.io.naming import rejects_path, temp_paths
from beam_prep.io.probes import probe_file
from beam_prep.io.redact import REDACTED


@pytest.mark.parametrize(
    "exc, what",
    [
        (PermissionError("Access Denied"), "access denied"),
        (OSError("403 Forbidden: no"), "access denied"),
        (FileNotFoundError("no such bucket"), "not found"),
        (TimeoutError("slow"), "TimeoutError"),
    ],
)
def test_a_store_error_names_the_url_and_what_went_wrong(exc, what):
    error = storage_error("s3://bucket/data/*.jsonl", exc)
    assert isinstance(error, StorageError) and error.what == what
    assert str(error).startswith(f"'s3://bucket/data/*.jsonl': {what} (")
    assert "AWS_PROFILE" in str(error) and "\n" not in str(error) and "--" not in str(error).split(";")[0]


def test_a_store_error_never_shows_a_secret(monkeypatch):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    error = storage_error("gs://user:pa55word@host/b", PermissionError(f"signature of {secret} refused"))
    assert secret not in str(error) and "pa55word" not in str(error) and REDACTED in str(error)
    assert "application default credentials" in str(error)


def test_globs_expand_sorted_once_and_an_empty_one_is_named(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "sub/c.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    files = expand_inputs([str(tmp_path / "*.jsonl"), str(tmp_path / "a.jsonl"), str(tmp_path / "sub" / "*")])
    assert files == sorted(str(tmp_path / n) for n in ("a.jsonl", "b.jsonl", "sub/c.json"))
    assert relative_source(files[2], common_root(files)) == "sub/c.json"
    with pytest.raises(NoMatch) as info:
        expand_inputs([str(tmp_path / "*.parquet")])
    assert str(info.value) == f"{str(tmp_path / '*.parquet')!r} matches no file"


def test_probing_a_local_file(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}")
    assert probe_file(str(tmp_path / "tokenizer.json")) and not probe_file(str(tmp_path / "missing.json"))


def test_temporary_and_rejects_paths():
    a, b = temp_paths("train"), temp_paths("train")
    assert a != b and a.parquet.startswith("parquet/train-") and a.arrow.startswith("hf/train/")
    assert {p.rsplit(".", 1)[0].rsplit("/", 1)[1] for p in a} == {a.jsonl[len("jsonl/") : -len(".jsonl")]}
    assert rejects_path(2, 12) == "rejects/rejects-00002-of-00012.jsonl"


def test_cloud_loggers_are_left_alone_until_a_bucket_is_used():
    code = (
        "import logging, beam_prep.io.fs as fs, beam_prep.checks, beam_prep.pipeline.build\n"
        "print(logging.getLogger('botocore').level)\n"
        "fs.url_to_fs('s3://some-bucket/x')\n"
        "print(logging.getLogger('botocore').level)\n"
    )
    levels = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert levels == [str(logging.NOTSET), str(logging.WARNING)]
