"""The dataset card (README.md in the Hugging Face Hub format) and the token-length histogram."""

from __future__ import annotations

import io

import yaml

from beam_prep.core.records import SPLITS

PLOT_NAME = "num_tokens.png"


def card_text(stats: dict, manifest: dict) -> str:
    """README.md for the output folder: YAML header the Hub reads, then what a person needs."""
    config = manifest["config"]
    header = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"parquet/{s}-*.parquet"} for s in SPLITS],
            }
        ],
        "task_categories": ["text-generation"],
        "tags": ["beam_prep", "sft", "chat", "conversational-memory"],
    }
    rows = []
    for split in SPLITS:
        s = stats["splits"].get(split, {})
        d = stats["num_tokens"].get(split, {})
        rows.append(
            f"| {split} | {s.get('dialogues', 0):,} | {s.get('examples', 0):,} | {s.get('truncated', 0):,} "
            f"| {d.get('p50', '-')} | {d.get('p90', '-')} | {d.get('max', '-')} |"
        )
    rejects = ", ".join(f"{k}: {v:,}" for k, v in stats["rejects"].items()) or "none"
    packing = stats.get("packing")
    packed = (
        "\n**Packed** (`--packing`): "
        + "; ".join(
            f"{s}: {p['rows']:,} rows, fill ratio {p['fill_ratio']:.1%}" for s, p in packing.items() if p["rows"]
        )
        + ". Each row holds several examples end to end; `seq_lengths` are their lengths. Train with"
        " TRL's `padding_free=True` (see Load), which restarts positions at every example.\n"
        if packing
        else ""
    )
    tokenizer = config["tokenizer"].rstrip("/").rsplit("/", 1)[-1]
    return f"""---
{yaml.safe_dump(header, sort_keys=False).strip()}
---
# Chat fine-tuning data ({manifest["template"]["name"]}, {config["mode"]})

Made by [beam_prep](https://pypi.org/project/beam-prep/) from {manifest["inputs"]["files"]} input files:
each {"assistant response" if config["mode"] == "per_response" else "dialogue"} is one example whose prompt holds
the earlier turns in the `{manifest["template"]["name"]}` format, cut to **{config["max_seq_length"]} tokens** of
the `{tokenizer}` tokenizer (BOS/EOS included). Splits are by dialogue (seed {config["seed"]},
validation fraction {config["val_fraction"]}).

| split | dialogues | examples | truncated | p50 tokens | p90 tokens | max tokens |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Targets that call tools: {_total(stats, "tool_call_targets"):,}; targets with trained reasoning:
{_total(stats, "reasoning_targets"):,}.

Records read: {stats["records"]["read"]:,}; dialogues kept: {stats["records"]["dialogues_kept"]:,};
rejected: {rejects} (see `rejects/`).
{packed}
![num_tokens per split]({PLOT_NAME})

## Columns
{_COLUMNS_PACKED if packing else _COLUMNS}

## Load
```python
from datasets import load_dataset, load_from_disk
ds = load_from_disk("hf")                       # the DatasetDict, from this folder
ds = load_dataset("parquet", data_files={{"train": "parquet/train-*.parquet",
                                         "validation": "parquet/validation-*.parquet"}})
```
{_LOAD_PACKED if packing else _LOAD}
{_inference(manifest)}
Run `{manifest["run_id"]}`; the full configuration, tokenizer hashes and package versions are in
`manifest.json`, and the counts in `stats.json`.
"""


def _inference(manifest: dict) -> str:
    """At inference, the prompt as written is the generation prompt; the template's stop sequence ends it."""
    stop = (manifest.get("template") or {}).get("stop_sequence")
    where = f"; stop generating at `{stop!r}`" if stop else ""
    return f"Inference: send `prompt` exactly as written (the generation prompt the model was trained on){where}.\n"


_COLUMNS = """`id`, `dialogue_id`, `turn_index`, `prompt`, `completion`, `text` (= prompt + completion), `num_tokens`,
`context_turns`, `dropped_turns`, `input_ids` (= tokenizer(text), exactly), `labels` (-100 where not trained),
`attention_mask` (all ones); token columns typed as `datasets.map(tokenizer)` types them (int32, int8, int64 labels)."""
_COLUMNS_PACKED = """`id`, `dialogue_id`, `turn_index` (lists: one entry per packed example), `num_tokens` (of the row),
`seq_lengths` (the examples' lengths), `input_ids` and `labels` (the examples' own, end to end), `attention_mask`
(all ones)."""
_LOAD = """Train exactly these labels (tokenizer(prompt) is a prefix of input_ids; completion is the trained span):
- TRL `SFTTrainer`: pass the split as is, with `SFTConfig(max_length=None)` (its default 1024 cuts and drops
  rows); or only `prompt`/`completion` (TRL masks the prompt: the same labels). `dataset_text_field="text"`
  trains the prompt too.
- transformers `Trainer`: `DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)` with
  `tokenizer.padding_side = "right"` and a pad token.
- axolotl: `datasets: [{path: hf/train, type: }]` (pre-tokenized: input_ids, attention_mask, labels),
  `sequence_len` >= the budget above.
"""
_LOAD_PACKED = """Packed rows: TRL `SFTTrainer` with `SFTConfig(padding_free=True, max_length=None)`; its collator reads
`seq_lengths` and restarts positions at every example. Not a padding collator (DataCollatorForSeq2Seq): it would
let the examples of a row attend to each other.
"""


def _total(stats: dict, key: str) -> int:
    return sum(s.get(key, 0) for s in stats["splits"].values())


def histogram_png(stats: dict, max_seq_length: int) -> bytes:
    """A PNG of the num_tokens distribution per split, with the budget marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for split in SPLITS:
        hist = stats["num_tokens"].get(split, {}).get("histogram", {})
        if hist:
            values = [int(k) for k in hist]
            weights = list(hist.values())
            ax.hist(
                values,
                bins=min(60, max(10, len(hist))),
                weights=weights,
                alpha=0.6,
                label=f"{split} ({sum(weights):,})",
            )
    ax.axvline(max_seq_length, color="crimson", linestyle="--", label=f"max_seq_length = {max_seq_length}")
    ax.set_xlabel("num_tokens per example (BOS/EOS included)")
    ax.set_ylabel("examples")
    ax.set_title("Example lengths")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
