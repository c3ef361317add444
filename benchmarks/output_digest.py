"""Order-independent digests of a beam_prep output folder, to tell two runs' outputs apart: the rows
of the Parquet shards and of `hf/`, the JSONL lines, the reject lines, and stats.json without its
timings. Shard boundaries and row order may differ between runs (bundles); the rows may not.

    python benchmarks/output_digest.py OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq

_TIMINGS = ("second", "time", "started", "finished", "elapsed", "duration")


def _digest(items) -> tuple[int, str]:
    hashes = sorted(hashlib.blake2b(item, digest_size=16).digest() for item in items)
    return len(hashes), hashlib.sha256(b"".join(hashes)).hexdigest()[:16]


def _rows(tables):
    for table in tables:
        for row in table.to_pylist():
            yield json.dumps(row, sort_keys=True).encode()


def _lines(paths):
    for path in paths:
        with open(path, "rb") as f:
            yield from f


def _arrow_tables(paths):
    for path in paths:
        with pa.memory_map(path) as source:
            yield pa.ipc.open_stream(source).read_all()


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not any(w in k for w in _TIMINGS)}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def digests(folder: str) -> dict[str, tuple[int, str]]:
    parquet = sorted(glob.glob(f"{folder}/parquet/*.parquet"))
    with open(f"{folder}/stats.json", encoding="utf-8") as f:
        stats = json.dumps(_scrub(json.load(f)), sort_keys=True).encode()
    return {
        "parquet rows": _digest(_rows(pq.read_table(p) for p in parquet)),
        "hf rows": _digest(_rows(_arrow_tables(sorted(glob.glob(f"{folder}/hf/*/*.arrow"))))),
        "jsonl lines": _digest(_lines(sorted(glob.glob(f"{folder}/jsonl/*.jsonl")))),
        "reject lines": _digest(_lines(sorted(glob.glob(f"{folder}/rejects/*.jsonl")))),
        "stats.json": _digest([stats]),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    for name, (n, digest) in digests(ap.parse_args(argv).folder).items():
        print(f"{name:14} {n:8,} {digest}")


if __name__ == "__main__":
    main()
