"""Real servers on loopback for the tests that need them: `redis-server` and moto's S3 server.

Fixtures (imported by tests/conftest.py): `redis_server` starts Debian's redis-server on a free
port with its files in a temporary folder, with authentication on as the deployments run it
(the default user off, the bot's ACL user `ragbot` with a password and the ACL of
docker-compose.yml and deploy/kubernetes/redis.yaml, so a command that ACL refuses fails here
too); `redis_url` is its URL with the credentials; `redis_tls_server` is the same over TLS only
(a CA and a server certificate made with openssl), reached with `rediss://`. Skipped, saying
why, only when the binary is absent (.ci/run installs it). `s3_endpoint` starts moto's S3
server with a bucket `ragbot` and sets the `AWS_*` variables LanceDB (and any `python -m bot`
started from the test) reads.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REDIS_USER = "ragbot"
# The bot's ACL user, as docker-compose.yml and deploy/kubernetes/redis.yaml create it: its own keys only, no
# channels, no dangerous or admin commands (FLUSHALL, CONFIG, KEYS, DEBUG, ACL, …).
REDIS_ACL = ["~{ragbot}*", "resetchannels", "+@all", "-@dangerous", "-@admin"]


@dataclass
class RedisServer:
    url: str  # with the bot's user and password (and the CA for TLS)
    password: str
    port: int
    proc: subprocess.Popen

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its port (connections are accepted by the kernel) and answers nothing."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


def _start_redis(folder: Path, *, tls: bool) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    import redis

    port = free_port()
    folder.mkdir()
    password = secrets.token_hex(16)
    args = [binary, "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no",
            "--user", "default", "off", "--user", REDIS_USER, "on", f">{password}", *REDIS_ACL]
    url = f"redis://{REDIS_USER}:{password}@127.0.0.1:{port}/0"
    if tls:
        ca = _certificates(folder)
        args += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(folder / "server.crt"),
                 "--tls-key-file", str(folder / "server.key"), "--tls-ca-cert-file", str(ca),
                 "--tls-auth-clients", "no"]
        url = f"rediss://{REDIS_USER}:{password}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    else:
        args += ["--port", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis.from_url(url)
    server = RedisServer(url, password, port, proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield server
    finally:
        client.close()
        if proc.poll() is None:
            server.thaw()  # a test may have left it stopped
            proc.terminate()
            proc.wait(10)


def _certificates(folder: Path) -> Path:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it (openssl); the CA's path."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl; .ci/run does it)")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ragbot test CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    return folder / "ca.crt"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from _start_redis(tmp_path / "redis", tls=False)


@pytest.fixture
def redis_tls_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from _start_redis(tmp_path / "redis-tls", tls=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    boto3 = pytest.importorskip("boto3")
    port = free_port()
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
