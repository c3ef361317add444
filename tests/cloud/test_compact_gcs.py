"""Shard compaction on a bucket (gcp-storage-emulator): read and written through gcsfs, streaming."""

from __future__ import annotations

from tests.cloud.conftest import BUCKET, gcs_env
from tests.pipeline.test_compact import check_compaction


def test_many_small_shards_are_merged_on_a_bucket(gcs_server):
    with gcs_env(gcs_server):
        check_compaction(f"gs://{BUCKET}/compact/_temporary/run")
