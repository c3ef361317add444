"""Fixtures for the training-client tests: beam_prep's output on the bundled sample corpus, per
template, and a tiny Llama built from a config (random weights, nothing from a hub) to step on CPU.

The clients (torch, trl, accelerate) come with the `train` extra, which .ci/run installs; without
it these tests are skipped, except under CI, where a missing client is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import datasets
import pytest

from beam_prep.config import BUNDLED_SAMPLE, RunConfig
from beam_prep.job import run_job
from tests.templates.helpers import CHAT_TEMPLATES, TOKENIZERS
from tests.templates.test_tokenizer_template import tokenizer_with
from tests.templates.test_tool_templates import TIME, WEATHER, call

IN_PROCESS = ["--runner=FnApiRunner"]
# name -> (template, tokenizer, chat_template for the `tokenizer` template)
RUNS = {
    "llama2-chat-memory": ("llama2-chat-memory", "mistral", None),  # the default run
    "chatml": ("chatml", "chatml", None),
    "llama3": ("llama3", "llama3", None),
    "qwen2": ("tokenizer", "chatml", "qwen2-instruct.jinja"),  # a `\n` after every <|im_end|>
    "qwen3-tools": ("tokenizer", "qwen3", None),  # TOOL_CORPUS: tools, results, weight 0, reasoning
}
TOOL_RUNS = {"qwen3-tools"}  # runs on tool_corpus() instead of the bundled sample


def require(module: str):
    """The module, or a skip (a failure under CI, where the `train` extra is installed)."""
    if os.environ.get("CI") and importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: .ci/run installs the `train` extra")
    return pytest.importorskip(module, reason="the `train` extra (pip install -e '.[train]')")


def tokenizer_dir(name: str, tmp: Path) -> str:
    template, tokenizer, chat_template = RUNS[name]
    if chat_template is None:
        return TOKENIZERS[tokenizer]
    tokenizer_with(tmp, tokenizer, (CHAT_TEMPLATES / chat_template).read_text(encoding="utf-8"))
    return str(tmp)


def tool_corpus(root: Path) -> list[dict]:
    """OpenAI fine-tuning records with tools: calls (one and parallel), results, weight-0 answers,
    reasoning, a system prompt on some; written to root/tools.jsonl. 60 dialogues, ~180 targets."""
    records = []
    for n in range(60):
        calls = [call("get_weather", {"city": f"C{n}"}, f"a{n}")] + (
            [call("get_time", {}, f"t{n}")] if n % 4 == 0 else []
        )
        results = [{"role": "tool", "tool_call_id": c["id"], "content": f"Result {c['id']}: {n} units."} for c in calls]
        thought = {"reasoning_content": f"Dialogue {n} needs a tool."} if n % 3 == 0 else {}
        messages = [{"role": "system", "content": f"You are assistant {n}."}] if n % 2 else []
        messages += [
            {"role": "user", "content": f"Hello, I am user {n}."},
            {"role": "assistant", "content": f"Weight zero greeting {n}.", "weight": 0},
            {"role": "user", "content": f"What is the weather in C{n}?"},
            {"role": "assistant", "content": "", "tool_calls": calls, **thought},
            *results,
            {"role": "assistant", "content": f"It is {n} degrees in C{n}."},
            {"role": "user", "content": f"Thanks, number {n}."},
            {"role": "assistant", "content": f"You are welcome, {n}."},
        ]
        records.append({"id": f"tools{n}", "tools": [WEATHER, TIME], "messages": messages})
    root.mkdir(parents=True, exist_ok=True)
    (root / "tools.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return records


def run_sample(name: str, root: Path, **flags) -> Path:
    """beam_prep on the bundled sample (a tool run: on tool_corpus()) with run `name`'s template and
    tokenizer; the output folder."""
    template, _, _ = RUNS[name]
    if name in TOOL_RUNS:
        tool_corpus(root / "corpus")
    config = RunConfig(
        input=[str(root / "corpus" / "tools.jsonl")] if name in TOOL_RUNS else [f"{BUNDLED_SAMPLE}/*.jsonl"],
        output=str(root / "out"),
        template=template,
        tokenizer=tokenizer_dir(name, root / "tokenizer"),
        val_fraction=0.1,
        **flags,
    )
    run_job(config, IN_PROCESS)
    return root / "out"


@pytest.fixture(scope="session")
def sample_output(tmp_path_factory):
    """(name, **flags) -> (hf DatasetDict of the run, tokenizer folder), runs made on first use."""
    made = {}

    def get(name: str, **flags):
        key = (name, tuple(sorted(flags.items())))
        if key not in made:
            out = run_sample(name, tmp_path_factory.mktemp(name), **flags)
            made[key] = (datasets.load_from_disk(str(out / "hf")), tokenizer_dir(name, out.parent / "tokenizer"))
        return made[key]

    return get


def tiny_llama(vocab_size: int, pad_token_id: int):
    """A one-layer Llama with random weights, built from a config: enough to run a training step."""
    torch = require("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=8192,
        pad_token_id=pad_token_id,
    )
    return LlamaForCausalLM(config)
