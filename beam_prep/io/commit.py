"""The commit of a run's output, once every shard is written (no Beam: pipeline/finalize.py runs it
once). In order: the empty shards every split still needs are written, the previous output loses
its _SUCCESS (from then on the output is incomplete until the commit ends) and then its entries,
the new shards and rejects files move into place, the HF metadata, stats.json, manifest.json and
the dataset card are written, the temporary folder is removed, and _SUCCESS is written last."""

from __future__ import annotations

import json
from dataclasses import dataclass

from beam_prep.core.records import SPLITS
from beam_prep.core.stats import packing_stats, summarize
from beam_prep.io.card import PLOT_NAME, card_text, histogram_png
from beam_prep.io.fs import join, url_to_fs
from beam_prep.io.hf import write_dict_metadata, write_split_metadata
from beam_prep.io.moves import move_files
from beam_prep.io.naming import final_names, missing_shards
from beam_prep.io.results import RejectsWritten, ShardWritten
from beam_prep.io.shard_writer import write_shard

OUTPUT_ENTRIES = ("parquet", "jsonl", "hf", "rejects", "stats.json", "manifest.json", "README.md", PLOT_NAME)
TEMP_DIR = "_temporary"
SUCCESS = "_SUCCESS"


@dataclass(frozen=True)
class Target:
    """Where a run commits: the output, its temporary folder (holding the shards), the manifest,
    and the fixed shard count (0: automatic)."""

    output: str
    tmp_root: str
    manifest: dict
    fixed_shards: int = 0

    @property
    def packed(self) -> bool:
        return bool(self.manifest["config"].get("packing"))


def commit_output(target: Target, shards: list[ShardWritten], rejects: list[RejectsWritten], counts: dict) -> dict:
    """Commit the written files as the run's output (see the module docstring); the run's stats."""
    shards = with_empty_shards(target, shards)
    moves, num_shards = final_names(shards, target.fixed_shards)
    moves += [(r.path, r.path) for r in rejects]
    fs, out_path = url_to_fs(target.output)
    fs.invalidate_cache()  # listings this worker process cached earlier may predate the shards
    clear_previous(fs, out_path)
    _, tmp_path = url_to_fs(target.tmp_root)
    move_files(fs, [(join(tmp_path, src), join(out_path, dst)) for src, dst in moves])
    write_hf_metadata(join(target.output, "hf"), num_shards, target.manifest["run_id"], target.packed)
    max_seq_length = target.manifest["config"]["max_seq_length"]
    stats = run_stats(counts, shards, num_shards, len(rejects), max_seq_length if target.packed else 0)
    write_reports(fs, out_path, stats, target.manifest)
    mark_complete(fs, out_path)
    return stats


def with_empty_shards(target: Target, shards: list[ShardWritten]) -> list[ShardWritten]:
    """The shards, and an empty one written for each that is missing, so every split loads."""
    empty = [
        write_shard(target.tmp_root, split, [], number=number, packed=target.packed)[0]
        for split, number in missing_shards(shards, SPLITS, target.fixed_shards)
    ]
    return list(shards) + empty


def clear_previous(fs, out_path: str) -> None:
    """Remove the previous output: its _SUCCESS first, then every entry a run writes."""
    success = join(out_path, SUCCESS)
    if fs.exists(success):
        fs.rm(success)
    for entry in OUTPUT_ENTRIES:
        target = join(out_path, entry)
        if fs.exists(target):
            fs.rm(target, recursive=True)


def write_hf_metadata(hf_url: str, num_shards: dict[str, int], run_id: str, packed: bool) -> None:
    """The `DatasetDict.save_to_disk` metadata of the moved Arrow shards (io/hf.py)."""
    for split in SPLITS:
        write_split_metadata(join(hf_url, split), split, num_shards[split], f"{run_id}-{split}", packed)
    write_dict_metadata(hf_url, list(SPLITS))


def run_stats(
    counts: dict, shards: list[ShardWritten], num_shards: dict[str, int], rejects_files: int, packed_length: int = 0
) -> dict:
    """stats.json: the merged counters summarized, the output's files, and (`packed_length`: the
    --packing row length) how full the packed rows are."""
    stats = summarize(counts)
    stats["output"] = {"shards": num_shards, "rejects_files": rejects_files}
    if packed_length:
        stats["packing"] = packing_stats(shards, packed_length)
    return stats


def write_reports(fs, out_path: str, stats: dict, manifest: dict) -> None:
    """stats.json, manifest.json, the dataset card README.md and its token-count plot."""
    _write_json(fs, join(out_path, "stats.json"), stats)
    _write_json(fs, join(out_path, "manifest.json"), manifest)
    with fs.open(join(out_path, "README.md"), "w", encoding="utf-8") as f:
        f.write(card_text(stats, manifest))
    with fs.open(join(out_path, PLOT_NAME), "wb") as f:
        f.write(histogram_png(stats, manifest["config"]["max_seq_length"]))


def mark_complete(fs, out_path: str) -> None:
    """Remove the temporary folder, then write _SUCCESS: the output is complete."""
    temp = join(out_path, TEMP_DIR)
    if fs.exists(temp):
        fs.rm(temp, recursive=True)
    with fs.open(join(out_path, SUCCESS), "wb") as f:
        f.write(b"")


def _write_json(fs, path: str, value: dict) -> None:
    with fs.open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")
