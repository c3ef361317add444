"""Wall time of one corpus from S3 to S3 (moto's server on loopback) next to local disk to local disk.

    python -m tests.cloud.bench_s3 --dialogues 3000 --repeats 2

Same corpus (tests/pipeline/corpus.py make_dialogues, as gzipped JSON-lines shards), same tokenizer
(the bundled one; from the bucket for the S3 runs), same Beam options, runs interleaved local / S3
so that a change of machine load hits both. moto runs in its own process, as a remote store would
not share the launcher's interpreter. Times are run_job's, checks and finalize included. The S3
output is checked to hold the same rows as the local one. Not a test: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq

from beam_prep.config import BUNDLED_TOKENIZER, RunConfig
from beam_prep.io.fs import url_to_fs
from beam_prep.job import run_job
from tests.cloud.buckets import BEAM_ARGS, put_corpus, put_tokenizer
from tests.cloud.conftest import free_port
from tests.pipeline.corpus import make_dialogues

BUCKET = "bench"


def rows(fs, root: str) -> list[dict]:
    out = []
    for path in sorted(fs.glob(f"{root}/parquet/*.parquet")):
        with fs.open(path, "rb") as f:
            out += pq.read_table(f).to_pylist()
    return sorted(out, key=lambda r: r["id"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dialogues", type=int, default=3000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except urllib.error.HTTPError:  # it answers
            break
        except OSError:
            time.sleep(0.1)
    else:
        server.terminate()
        raise SystemExit(f"moto did not start on {endpoint}")
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    try:
        dialogues = make_dialogues(args.dialogues, seed=0)
        for i in range(args.shards):
            lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dialogues[i :: args.shards])
            (work / "in").mkdir(exist_ok=True)
            (work / "in" / f"part-{i}.jsonl.gz").write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))
        s3, _ = url_to_fs(f"s3://{BUCKET}")
        s3.mkdir(BUCKET)
        put_corpus(s3, f"{BUCKET}/in", dialogues, shards=args.shards)
        put_tokenizer(s3, f"{BUCKET}/tokenizer")
        size = sum(p.stat().st_size for p in (work / "in").iterdir())
        print(f"corpus: {args.dialogues} dialogues, {args.shards} gzipped shards, {size / 1e6:.2f} MB")

        runs = {
            "local": RunConfig(
                input=[str(work / "in" / "part-*.jsonl.gz")], output=str(work / "out"), tokenizer=BUNDLED_TOKENIZER
            ),
            "s3": RunConfig(
                input=[f"s3://{BUCKET}/in/part-*.jsonl.gz"],
                output=f"s3://{BUCKET}/out",
                tokenizer=f"s3://{BUCKET}/tokenizer",
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        examples = {}
        for _ in range(args.repeats):
            for name, config in runs.items():
                started = time.perf_counter()
                stats = run_job(config, BEAM_ARGS)
                times[name].append(time.perf_counter() - started)
                examples[name] = sum(s["examples"] for s in stats["splits"].values())
                load = os.getloadavg()[0]
                print(f"{name:>5}: {times[name][-1]:6.1f} s  ({examples[name]} examples, load {load:.1f})", flush=True)
        local_fs, _ = url_to_fs(str(work))
        same = rows(local_fs, str(work / "out")) == rows(s3, f"{BUCKET}/out")
        print(f"S3 output rows identical to the local output's: {same}")
        for name, t in times.items():
            each = ", ".join(f"{x:.1f}" for x in t)
            print(f"{name:>5}: median {statistics.median(t):.1f} s over {len(t)} runs: {each}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
