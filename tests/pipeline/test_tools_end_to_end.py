"""A mixed corpus (plain messages, ShareGPT with function_call/observation, OpenAI records with tools,
in JSONL and Parquet) through the whole pipeline with the tool-capable `qwen2.5` template."""

from __future__ import annotations

import json
import random

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_prep.config import RunConfig
from beam_prep.core.fit import IGNORE_INDEX
from beam_prep.core.records import SPLITS
from beam_prep.job import run_job
from tests.pipeline.corpus import make_dialogues, to_sharegpt
from tests.templates.helpers import TOKENIZERS, encoder
from tests.templates.test_tool_templates import WEATHER, exchange

BEAM_ARGS = ["--runner=FnApiRunner"]


def tool_records(n: int, seed: int = 1) -> list[dict]:
    """OpenAI fine-tuning records: 1-4 exchanges of call, result and answer, some weight-0 answers."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        messages = [m for k in range(rng.randint(1, 4)) for m in exchange(100 * i + k, weight=rng.choice([0, 1, 1]))]
        out.append({"id": f"t{i}", "tools": [WEATHER], "messages": messages})
    return out


def sharegpt_tools(record: dict) -> dict:
    """The same dialogue in LLaMA-Factory's ShareGPT convention (tools as a JSON string)."""
    turns = []
    for m in record["messages"]:
        if m.get("tool_calls"):
            f = m["tool_calls"][0]["function"]
            turns.append(
                {
                    "from": "function_call",
                    "value": json.dumps({"name": f["name"], "arguments": json.loads(f["arguments"])}),
                }
            )
        else:
            turns.append(
                {"from": {"user": "human", "assistant": "gpt", "tool": "observation"}[m["role"]], "value": m["content"]}
            )
    return {"id": "s" + record["id"], "tools": json.dumps(record["tools"]), "conversations": turns}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    inp = root / "in"
    inp.mkdir()
    plain = make_dialogues(12, seed=3, prefix="p")
    tools = tool_records(16)
    orphan = {"id": "orphan", "messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r"}]}
    lines = [json.dumps(r) for r in plain[:6] + tools[:8] + [orphan]]
    lines += [json.dumps(to_sharegpt(d)) for d in plain[6:]] + [json.dumps(sharegpt_tools(r)) for r in tools[8:12]]
    (inp / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    parquet_rows = [{**r, "tools": json.dumps(r["tools"])} for r in tools[12:]]  # a Parquet struct would pad schemas
    pq.write_table(pa.Table.from_pylist(parquet_rows), inp / "part-1.parquet")
    config = RunConfig(
        input=[str(inp / "part-*")],
        output=str(root / "out"),
        template="qwen2.5",
        tokenizer=TOKENIZERS["qwen2.5"],
        max_seq_length=300,
        val_fraction=0.2,
    )
    stats = run_job(config, BEAM_ARGS)
    return root / "out", stats, tools


def test_rows_are_token_exact_and_tool_results_never_trained(run):
    out, stats, _ = run
    hf = datasets.load_from_disk(str(out / "hf"))
    enc = encoder("qwen2.5")
    kinds = set()
    for split in SPLITS:
        for row in hf[split]:
            assert row["input_ids"] == enc.encode_text(row["text"]) and row["num_tokens"] <= 300
            assert row["prompt"] + row["completion"] == row["text"]
            offsets = enc.hf(row["text"], return_offsets_mapping=True)["offset_mapping"]
            trained = [span for span, label in zip(offsets, row["labels"]) if label != IGNORE_INDEX]
            assert trained, row["id"]
            for at in [i for i in range(len(row["text"])) if row["text"].startswith("<tool_response>", i)]:
                end = row["text"].index("</tool_response>", at)
                assert not any(s < end and e > at for s, e in trained)
            kinds.add(row["dialogue_id"][0])
    assert kinds == {"p", "t", "s"}  # plain (messages and ShareGPT), OpenAI tools, ShareGPT tools


def test_counts_rejects_and_card(run):
    out, stats, tools = run
    assert stats["rejects"]["orphan_tool_result"] == 1 and set(stats["rejects"]) <= {"orphan_tool_result", "too_long"}
    calls = sum(s["tool_call_targets"] for s in stats["splits"].values())
    # every tool call is a weight-1 target; each of the 16 tool dialogues is written once (tools[8:12] only
    # as ShareGPT copies), so each call counts once, less the examples dropped as too long
    expected = sum(bool(m.get("tool_calls")) for r in tools for m in r["messages"])
    dropped = sum(stats["examples_rejected"].values())
    assert expected - dropped <= calls <= expected
    assert f"Targets that call tools: {calls:,}" in (out / "README.md").read_text(encoding="utf-8")
    rejects = [json.loads(line) for f in (out / "rejects").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert sorted(r["reason"] for r in rejects if r["reason"] != "too_long") == ["orphan_tool_result"]
