"""Finalize: once every shard is written, merge the small ones (pipeline/compact.py), move them into
place, write the HF metadata, stats.json and manifest.json, remove the temporary folder, and write
_SUCCESS last."""

from __future__ import annotations

import json

import apache_beam as beam

from beam_prep.core.records import SPLITS
from beam_prep.core.stats import packing_stats, summarize
from beam_prep.io.card import PLOT_NAME, card_text, histogram_png
from beam_prep.io.fs import join, move_files, url_to_fs
from beam_prep.io.hf import write_dict_metadata, write_split_metadata
from beam_prep.pipeline.compact import CompactShards
from beam_prep.pipeline.write import final_names, missing_shards, write_shard

OUTPUT_ENTRIES = ("parquet", "jsonl", "hf", "rejects", "stats.json", "manifest.json", "README.md", PLOT_NAME)
TEMP_DIR = "_temporary"
SUCCESS = "_SUCCESS"


def finalize_output(
    output: str, tmp_root: str, written: list[dict], counts: dict, manifest: dict, fixed_shards: int = 0
) -> dict:
    shards = [w for w in written if w["kind"] == "examples"]
    packed = bool(manifest["config"].get("packing"))
    for split, shard in missing_shards(shards, SPLITS, fixed_shards):  # every split still loads
        shards.append(write_shard(tmp_root, split, [], order=(), shard=shard, packed=packed))
    moves, num_shards = final_names(shards, fixed_shards)
    moves += [(rel, rel) for w in written if w["kind"] == "rejects" for rel in w["files"]]
    fs, out_path = url_to_fs(output)
    fs.invalidate_cache()  # listings this worker process cached earlier may predate the shards
    success = join(out_path, SUCCESS)
    if fs.exists(success):
        fs.rm(success)  # the commit starts: from now on the output is incomplete until it ends
    for entry in OUTPUT_ENTRIES:
        target = join(out_path, entry)
        if fs.exists(target):
            fs.rm(target, recursive=True)
    _, tmp_path = url_to_fs(tmp_root)
    move_files(fs, [(join(tmp_path, src), join(out_path, dst)) for src, dst in moves])
    hf = join(output, "hf")
    for split in SPLITS:
        write_split_metadata(join(hf, split), split, num_shards[split], f"{manifest['run_id']}-{split}", packed)
    write_dict_metadata(hf, list(SPLITS))
    stats = summarize(counts)
    stats["output"] = {"shards": num_shards, "rejects_files": sum(1 for w in written if w["kind"] == "rejects")}
    if packed:
        stats["packing"] = packing_stats(shards, manifest["config"]["max_seq_length"])
    _write_json(fs, join(out_path, "stats.json"), stats)
    _write_json(fs, join(out_path, "manifest.json"), manifest)
    with fs.open(join(out_path, "README.md"), "w", encoding="utf-8") as f:
        f.write(card_text(stats, manifest))
    with fs.open(join(out_path, PLOT_NAME), "wb") as f:
        f.write(histogram_png(stats, manifest["config"]["max_seq_length"]))
    temp = join(out_path, TEMP_DIR)
    if fs.exists(temp):
        fs.rm(temp, recursive=True)
    with fs.open(join(out_path, SUCCESS), "wb") as f:
        f.write(b"")
    return stats


def _write_json(fs, path: str, value: dict) -> None:
    with fs.open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


class Finalize(beam.PTransform):
    """Runs once, after `written` (all shards) and `counts` (all stats) are complete."""

    def __init__(
        self, output: str, tmp_root: str, manifest: dict, fixed_shards: int = 0, tokens_per_shard: int = 5_000_000
    ):
        super().__init__()
        self._output, self._tmp, self._manifest, self._fixed = output, tmp_root, manifest, fixed_shards
        self._per_shard = tokens_per_shard

    def expand(self, inputs):
        written, counts = inputs
        if not self._fixed:  # automatic sharding: merge the small shards that bundle ends left
            written = written | "CompactShards" >> CompactShards(
                self._tmp, self._per_shard, bool(self._manifest["config"].get("packing"))
            )
        return (
            written.pipeline
            | "Once" >> beam.Create([None])
            | "MoveAndCommit"
            >> beam.Map(
                lambda _, w, c, out, tmp, man, fixed: finalize_output(out, tmp, list(w), c, man, fixed),
                beam.pvalue.AsList(written),
                beam.pvalue.AsSingleton(counts),
                self._output,
                self._tmp,
                self._manifest,
                self._fixed,
            )
        )
