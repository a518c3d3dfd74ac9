"""A real S3-compatible server (moto's ``moto_server``) on 127.0.0.1 for the whole session.

The server runs as a subprocess on a free port; every test gets its own bucket, so tests never see
each other's keys. Credentials are dummies: moto accepts any, and they let us check that no
credential ever reaches a record, a log or a stored object.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "AKIARUNNABLETEST0001"
SECRET_KEY = "runnable-test-secret-9f3c1d2e7a"  # distinctive: tests grep for it in what we write


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        """Environment variables a subprocess needs to reach the server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        """A boto3 client: an independent view of what is really in the bucket."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_command() -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    found = shutil.which("moto_server")
    if found:
        return [found]
    return [sys.executable, "-m", "moto.server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Start ``moto_server`` on a free 127.0.0.1 port, wait until it answers, stop it at the end."""
    pytest.importorskip("moto.server", reason="the test extra installs moto[server]")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            process = subprocess.Popen([*_moto_command(), "-H", "127.0.0.1", "-p", str(port)],
                                       stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):
                    ready = True
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        if ready:
            break
        process.kill()
        process.wait()
    else:
        pytest.fail(f"moto_server did not start; its log:\n{log.read_text()}")
    try:
        yield S3Server(endpoint, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The server's credentials in this process's environment (and returned for subprocesses)."""
    env = s3_server.env()
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def bucket(s3_server: S3Server, aws_env: dict[str, str]) -> str:
    return s3_server.new_bucket()


def subprocess_env(server: S3Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNABLE_", "AWS_"))}
    env.update(server.env())
    return env


class FlakyProxy:
    """An HTTP proxy on 127.0.0.1 in front of the S3 server that answers some requests with
    ``503 SlowDown`` (what S3 says when throttling) instead of forwarding them: a real transient error."""

    def __init__(self, upstream: str, fail_every: int) -> None:
        import http.client
        import http.server
        import threading
        from urllib.parse import urlsplit

        self.fail_every = fail_every
        self.requests = 0
        self.failures = 0
        #: Server-side copies (CopyObject / UploadPartCopy) that went through the proxy.
        self.copies = 0
        #: Every forwarded request: (method, path, Range header, bytes of the answer's body).
        self.seen: list[tuple[str, str, str, int]] = []
        lock = threading.Lock()
        target = urlsplit(upstream)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    proxy.requests += 1
                    proxy.copies += "x-amz-copy-source" in {k.lower() for k in self.headers}
                    fail = proxy.requests % proxy.fail_every == 0
                    proxy.failures += fail
                if fail:
                    payload = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                with lock:
                    proxy.seen.append((self.command, self.path, self.headers.get("Range", ""), len(data)))
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                # A HEAD has no body; its Content-Length is the object's size, as upstream said.
                upstream_length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", upstream_length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def counting_proxy(s3_server: S3Server) -> Iterator[FlakyProxy]:
    """A proxy in front of moto that fails nothing: it counts server-side copies and records every
    request (``copies``, ``seen``)."""
    proxy = FlakyProxy(s3_server.endpoint, fail_every=10**9)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def flaky_proxy(s3_server: S3Server) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(s3_server.endpoint, fail_every=3)
    try:
        yield proxy
    finally:
        proxy.close()
