"""Normalisation policies and their flags, reader edge cases, manifest redaction, and the reason
list kept equal in code, README.md and docs/input.md."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from beam_prep.cli import main
from beam_prep.config import RunConfig
from beam_prep.core.normalize import POLICY_CHOICES, Policy, normalize, parse_role_map
from beam_prep.core.readers import iter_records
from beam_prep.core.records import REJECT_REASONS, RawRecord
from beam_prep.core.templates import load_template

REPO = Path(__file__).resolve().parents[2]


def norm(turns, **policy):
    value = {"id": "x", "messages": [{"role": r, "content": c} for r, c in turns]}
    return normalize(RawRecord("s.jsonl", 3, value), "auto", Policy(**policy))


def test_role_map_maps_and_skips():
    policy = {"role_map": parse_role_map("tool=assistant, Function = skip")}
    assert policy["role_map"] == (("function", "skip"), ("tool", "assistant"))
    d, repairs, _ = norm([("user", "q"), ("function", "call()"), ("tool", "42"), ("assistant", "It is 42.")], **policy)
    assert [(t.role, t.content) for t in d.turns] == [("user", "q"), ("assistant", "42\n\nIt is 42.")]
    assert repairs == ("skipped_role_turn", "merged_same_role_turns")


def test_role_map_from_yaml_mapping_and_overriding_an_alias():
    assert RunConfig(role_map={"bing": "skip", "tool": "assistant"}).policy().role("Bing") == "skip"


def test_unknown_roles_skip():
    d, repairs, reject = norm([("user", "q"), ("wizard", "?"), ("assistant", "a")], unknown_roles="skip")
    assert reject is None and len(d.turns) == 2 and repairs == ("skipped_role_turn",)
    _, _, reject = norm([("user", "q"), ("wizard", "?"), ("assistant", "a")])
    assert reject.reason == "unknown_role" and "'wizard'" in reject.detail


@pytest.mark.parametrize(
    "policy,turns,detail",
    [
        ({"same_role_turns": "reject"}, [("user", "a"), ("user", "b"), ("assistant", "c")], "second user turn"),
        ({"empty_turns": "reject"}, [("user", "a"), ("assistant", " "), ("user", "b"), ("assistant", "c")], "empty"),
        ({"leading_assistant": "reject"}, [("assistant", "hi"), ("user", "q"), ("assistant", "a")], "starts with"),
    ],
)
def test_reject_policies(policy, turns, detail):
    assert norm(turns)[0] is not None  # repaired by default
    d, repairs, reject = norm(turns, **policy)
    assert d is None and repairs == () and reject.reason == "bad_turn" and detail in reject.detail


@pytest.mark.parametrize(
    "value,message",
    [
        ("tool", "--role_map entry 'tool' is not ROLE=TARGET"),
        ("tool=robot", "the target must be one of system, user, assistant, tool, skip"),
        ("=assistant", "--role_map entry '=assistant'"),
    ],
)
def test_bad_role_map_is_a_config_error(tmp_path, capsys, value, message):
    corpus = tmp_path / "a.jsonl"
    corpus.write_text("{}\n")
    code = main(["--input", str(corpus), "--output", str(tmp_path / "o"), "--role_map", value])
    assert code == 2 and message in capsys.readouterr().err


def test_bad_policy_choice_is_a_config_error(tmp_path, capsys):
    code = main(["--input", "x.jsonl", "--output", str(tmp_path / "o"), "--same_role_turns", "keep"])
    assert code == 2 and "--same_role_turns 'keep' is not one of: merge, reject" in capsys.readouterr().err


def test_run_config_defaults_are_the_policy_defaults():
    config = RunConfig()
    for name in POLICY_CHOICES:
        assert getattr(config, name) == getattr(Policy(), name) == POLICY_CHOICES[name][0]
    assert config.policy() == Policy()


def test_manifest_holds_no_secret_from_options():
    """pipeline_options from YAML go to manifest.json for reproducibility, secrets redacted; the
    Beam flags of the command line are not in it at all (see also test_malformed_corpus)."""
    from beam_prep.job import manifest_for

    config = RunConfig(
        input=["s3://AKIAXXXX:s3cr3t@bucket/in/*.jsonl"],
        output="out",
        pipeline_options={"runner": "DataflowRunner", "aws_secret_access_key": "s3cr3t", "hf_token": "s3cr3t"},
    )
    manifest = manifest_for(config, load_template("llama2-chat-memory"), ["a.jsonl"], "run")
    assert "s3cr3t" not in json.dumps(manifest)
    assert manifest["config"]["pipeline_options"]["runner"] == "DataflowRunner"
    assert manifest["config"]["pipeline_options"]["hf_token"] == "<redacted>"
    assert config.pipeline_options["hf_token"] == "s3cr3t"  # the run itself still has it


def read(kind: str, data: bytes) -> list:
    return [(r.line, r.error or r.value) for r in iter_records("f", kind, False, io.BytesIO(data))]


def test_bom_and_json_that_is_not_an_array():
    obj = {"id": 1}
    assert read("jsonl", b"\xef\xbb\xbf" + json.dumps(obj).encode() + b"\n") == [(1, obj)]
    assert read("json", ("\ufeff" + json.dumps(obj, indent=2)).encode()) == [(1, obj)]
    assert read("json", b'{"id": 1}\n{"id": 2\n\n{"id": 3}\n') == [(1, obj), (2, "invalid_json"), (4, {"id": 3})]


def test_invalid_utf8_inside_a_json_array_loses_only_its_element():
    data = b'[{"id": 1}, {"id": "caf\xe9"}, {"id": 3}]'
    assert read("json", data) == [(0, {"id": 1}), (1, "invalid_utf8"), (2, {"id": 3})]


def test_deep_nesting_is_invalid_json_not_a_crash():
    assert read("jsonl", b"[" * 100_000 + b"\n") == [(1, "invalid_json")]
    assert read("json", b"[" + b"[" * 100_000) == [(0, "unreadable_file")]


def test_reasons_are_the_same_in_code_readme_and_docs():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Rejects") :]
    section = section[: section.index("\n## ")]
    assert set(re.findall(r"`([a-z_0-9]+)`", section)) == set(REJECT_REASONS)
    docs = (REPO / "docs" / "input.md").read_text()
    assert set(re.findall(r"^\| `([a-z_0-9]+)` \|", docs, re.MULTILINE)) == set(REJECT_REASONS)
    for name in [*POLICY_CHOICES, "role_map"]:
        assert f"--{name}" in docs
