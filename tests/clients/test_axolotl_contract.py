"""axolotl's pre-tokenized path, against its documented contract (axolotl itself does not install
here: its releases that read this layout need Python >= 3.12).

axolotl (src/axolotl/utils/data/...: `_load_from_local_path`) loads a local folder with
`datasets.load_from_disk(path)` (a file with `load_dataset(ds_type, data_files=path)`), and
`_is_dataset_already_tokenized` takes a `datasets.Dataset` whose features hold `input_ids`,
`attention_mask` and `labels` as is, with no prompt strategy (`type:` left empty). The docs'
axolotl config (README "Loading the result") points at hf/train and at a JSONL shard."""

from __future__ import annotations

from pathlib import Path

import datasets

TOKENIZED = ("input_ids", "attention_mask", "labels")


def is_dataset_already_tokenized(dataset) -> bool:
    """axolotl's check, restated."""
    return isinstance(dataset, datasets.Dataset) and all(c in dataset.features for c in TOKENIZED)


def test_hf_split_folder_is_taken_as_pre_tokenized(sample_output, tmp_path):
    hf, _ = sample_output("llama2-chat-memory")
    for split in ("train", "validation"):
        dataset = hf[split]
        assert is_dataset_already_tokenized(dataset)
        for row in dataset:
            assert row["attention_mask"] == [1] * len(row["input_ids"]) and len(row["labels"]) == len(row["input_ids"])
    folder = tmp_path / "train"
    hf["train"].save_to_disk(str(folder))
    assert is_dataset_already_tokenized(datasets.load_from_disk(str(folder)))  # what axolotl does with a folder


def test_jsonl_shard_is_taken_as_pre_tokenized(sample_output):
    hf, _ = sample_output("llama2-chat-memory")
    out = Path(hf["train"].cache_files[0]["filename"]).parents[2]  # out/hf/train/data-....arrow
    shards = [str(f) for f in sorted((out / "jsonl").glob("train-*.jsonl"))]
    dataset = datasets.load_dataset("json", data_files=shards, split="train")  # ds_type: json
    assert is_dataset_already_tokenized(dataset)
    assert dataset["attention_mask"] == hf["train"]["attention_mask"] and dataset["labels"] == hf["train"]["labels"]
