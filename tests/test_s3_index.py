"""An s3:// LANCEDB_URI works: the index lives in an S3 bucket (moto's S3 server on loopback)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

boto3 = pytest.importorskip("boto3")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("moto S3 server did not start")
        for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                            "AWS_ENDPOINT": url, "AWS_ALLOW_HTTP": "true"}.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="ragbot")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
