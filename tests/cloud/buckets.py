"""Helpers of the bucket tests: put a corpus and a tokenizer into a bucket, read back what a run left."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq

from beam_prep.config import BUNDLED_TOKENIZER, RunConfig

BEAM_ARGS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
# Everything a finished output may hold at its top level (the product contract, plus the card).
OUTPUT_TOP = {"parquet", "jsonl", "hf", "rejects", "stats.json", "manifest.json", "README.md", "num_tokens.png"}


def job_config(bucket_url: str, **overrides) -> RunConfig:
    """The bucket tests' job: the corpus and tokenizer that put_corpus/put_tokenizer uploaded under
    raw/ and tokenizers/mistral/, written to runs/out."""
    values = dict(
        input=[f"{bucket_url}/raw/part-*.jsonl.gz"],
        tokenizer=f"{bucket_url}/tokenizers/mistral",
        output=f"{bucket_url}/runs/out",
        val_fraction=0.2,
        tokens_per_shard=20_000,
    )
    return RunConfig(**{**values, **overrides})


def put_corpus(fs, root: str, dialogues: list[dict], shards: int = 3) -> list[str]:
    """Gzipped JSON-lines shards part-{i}.jsonl.gz under `root` (a bucket path without protocol)."""
    paths = []
    for i in range(shards):
        lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dialogues[i::shards])
        path = f"{root}/part-{i}.jsonl.gz"
        fs.pipe_file(path, gzip.compress(lines.encode("utf-8"), mtime=0))
        paths.append(path)
    return paths


def put_tokenizer(fs, root: str) -> None:
    for f in Path(BUNDLED_TOKENIZER).iterdir():
        if f.is_file():
            fs.pipe_file(f"{root}/{f.name}", f.read_bytes())


def expected_ids(dialogues: list[dict]) -> set[str]:
    """per_response ids straight from the input: one per assistant message (system counts as 0).

    The corpus of tests/pipeline/corpus.py needs no normalisation (alternating, non-empty, stripped).
    """
    return {f"{d['id']}/{i}" for d in dialogues for i, m in enumerate(d["messages"]) if m["role"] == "assistant"}


def keys_under(fs, root: str) -> list[str]:
    """Every object under root, relative to it."""
    fs.invalidate_cache()
    return sorted(p[len(root) + 1 :] for p in fs.find(root))


def contents_as_text(fs, path: str) -> bytes:
    """The bytes of an output file, and for Parquet (compressed) also its rows as JSON."""
    data = fs.cat_file(path)
    if path.endswith(".parquet"):
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
        data += json.dumps(rows, ensure_ascii=False).encode("utf-8")
    return data
