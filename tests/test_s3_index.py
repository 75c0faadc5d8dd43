"""An s3:// LANCEDB_URI works: the index lives in an S3 bucket (moto's S3 server on loopback, tests/servers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")


@pytest.mark.timeout(120)
def test_index_on_s3_is_built_queried_and_updated(s3_endpoint: str, tmp_path: Path, make_settings):
    from rag.service import RagService

    settings = make_settings(lancedb_uri="s3://ragbot/handbook", state_dir=tmp_path / "state")
    service = RagService(settings)
    report = service.sync(full=True)
    assert report.status == "ok" and len(report.added) == 8
    objects = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="ragbot", Prefix="handbook/")
    assert objects["KeyCount"] > 0  # the index really is in the bucket
    result = service.search("台北出差住宿費每晚上限是多少？")
    assert result.hits[0].doc_path == "policies/差旅費報銷辦法.md"
    assert service.sync().unchanged == 8
