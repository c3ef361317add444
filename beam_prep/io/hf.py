"""The small metadata files of a `DatasetDict.save_to_disk` layout, written after the Arrow shards.

The Arrow shards themselves are written by the workers in parallel (shards.write_arrow), straight to
their final store; only these few JSON files are written by the one finalising step.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from beam_prep.io.fs import join, url_to_fs
from beam_prep.io.shards import hf_features


def arrow_name(shard: int, num_shards: int) -> str:
    return f"data-{shard:05d}-of-{num_shards:05d}.arrow"


def write_split_metadata(split_url: str, split: str, num_shards: int, fingerprint: str, packed: bool = False) -> None:
    from datasets import DatasetInfo

    state = {
        "_data_files": [{"filename": arrow_name(i, num_shards)} for i in range(num_shards)],
        "_fingerprint": fingerprint,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": split,
    }
    info = asdict(DatasetInfo(features=hf_features(packed)))
    _write_json(join(split_url, "state.json"), state, sort_keys=True)
    _write_json(join(split_url, "dataset_info.json"), {k: info[k] for k in sorted(info)})


def write_dict_metadata(hf_url: str, splits: list[str]) -> None:
    _write_json(join(hf_url, "dataset_dict.json"), {"splits": list(splits)})


def _write_json(url: str, value: dict, sort_keys: bool = False) -> None:
    fs, path = url_to_fs(url)
    with fs.open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=sort_keys)
