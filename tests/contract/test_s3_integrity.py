"""Dedup in the S3 catalog reuses stored content only if it checks out: a content key whose object
(or blob) was replaced or deleted behind the catalog's back is repaired by the next store of that
content, never reused, and checking costs no re-read of a large blob. Real jobs against moto."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import run_cli, run_python

from .conftest import S3Server, subprocess_env

MiB = 1024 * 1024
SMALL = 1000
LARGE = 10 * MiB  # two 5 MiB parts: a blob plus an alias in pointer mode

JOB = '''
import os, random
from pathlib import Path
from runnable import Catalog, PythonJob

def make_out():
    Path("out.bin").write_bytes(random.Random(7).randbytes(int(os.environ["SIZE"])))

if __name__ == "__main__":
    PythonJob(function=make_out, catalog=Catalog(put=["out.bin"])).execute(configuration_file="s3.yaml")
'''


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 in front of the S3 server that records every request as
    (method, path, Range header, bytes of the answer's body)."""

    def __init__(self, upstream: str) -> None:
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
                # A HEAD's Content-Length is the object's size, not that of its (absent) body.
                length_header = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length_header or str(len(data)))
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
def proxy(s3_server: S3Server) -> Iterator[RecordingProxy]:
    recording = RecordingProxy(s3_server.endpoint)
    try:
        yield recording
    finally:
        recording.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "job.py").write_text(JOB)
    return folder


def configure(folder: Path, endpoint: str, bucket: str, run_files: str, hash_first: bool = False) -> None:
    (folder / "s3.yaml").write_text(
        "catalog:\n"
        "  type: s3\n"
        f"  config: {{bucket: {bucket}, prefix: team/catalog, endpoint_url: '{endpoint}', region: us-east-1, "
        f"run_files: {run_files}, hash_first: {str(hash_first).lower()}, part_size: {5 * MiB}}}\n"
        "run-log-store:\n"
        "  type: s3\n"
        f"  config: {{bucket: {bucket}, prefix: team/runs, endpoint_url: '{endpoint}', region: us-east-1}}\n"
    )


def run_job(folder: Path, server: S3Server, size: int) -> str:
    result = run_python(folder / "job.py", folder, env={**subprocess_env(server), "SIZE": str(size)})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["status"] == "SUCCESS", summary
    return str(summary["run_id"])


def states(folder: Path, server: S3Server) -> dict[str, str]:
    """``catalog verify --all``: run id -> the state of its out.bin."""
    verify = run_cli(folder, "catalog", "verify", "--all", "--json", "--config", "s3.yaml",
                     env=subprocess_env(server))
    checks = json.loads(verify.stdout)
    return {c["run_id"]: f["state"] for c in checks for f in c["files"] if f["path"] == "out.bin"}


def good_bytes(size: int) -> bytes:
    return random.Random(7).randbytes(size)


def content_key(size: int) -> str:
    digest = hashlib.md5(good_bytes(size)).hexdigest()
    return f"team/catalog/.objects/md5/{digest[:2]}/{digest[2:]}"


def read(server: S3Server, bucket: str, key: str) -> bytes:
    return bytes(server.client().get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.mark.parametrize("run_files", ["pointer", "copy"])
def test_small_content_replaced_with_same_size_bytes_is_repaired(
    project: Path, s3_server: S3Server, bucket: str, run_files: str
) -> None:
    configure(project, s3_server.endpoint, bucket, run_files)
    first = run_job(project, s3_server, SMALL)
    client, key = s3_server.client(), content_key(SMALL)
    client.put_object(Bucket=bucket, Key=key, Body=b"\0" * SMALL)
    if run_files == "copy":  # the first run's own copy really goes bad too: it must stay reported
        client.put_object(Bucket=bucket, Key=f"team/catalog/{first}/out.bin", Body=b"\0" * SMALL)
    assert states(project, s3_server) == {first: "CORRUPT"}

    second = run_job(project, s3_server, SMALL)

    assert read(s3_server, bucket, key) == good_bytes(SMALL)
    # pointer mode: the first run names the repaired object; copy mode: its own copy is still bad
    assert states(project, s3_server) == {first: "OK" if run_files == "pointer" else "CORRUPT", second: "OK"}


@pytest.mark.parametrize(
    ("run_files", "hash_first", "damage"),
    [
        ("pointer", False, "replace"),
        ("pointer", True, "replace"),
        ("pointer", False, "delete"),
        ("pointer", True, "delete"),
        ("copy", True, "replace"),
        ("copy", True, "delete"),
        ("copy", False, "delete"),
    ],
)
def test_large_content_with_a_damaged_blob_is_stored_again(
    project: Path, s3_server: S3Server, bucket: str, proxy: RecordingProxy,
    run_files: str, hash_first: bool, damage: str,
) -> None:
    configure(project, proxy.endpoint, bucket, "pointer")
    first = run_job(project, s3_server, LARGE)
    client, key = s3_server.client(), content_key(LARGE)
    old_blob = json.loads(read(s3_server, bucket, key))["blob"]
    if damage == "replace":
        client.put_object(Bucket=bucket, Key=f"team/catalog/{old_blob}", Body=b"\0" * LARGE)
    else:
        client.delete_object(Bucket=bucket, Key=f"team/catalog/{old_blob}")
    assert states(project, s3_server) == {first: "CORRUPT" if damage == "replace" else "MISSING"}

    configure(project, proxy.endpoint, bucket, run_files, hash_first)
    proxy.seen.clear()
    second = run_job(project, s3_server, LARGE)

    # Checking the stored content never reads a blob back: only small GETs went out.
    gets = [(path, rng, size) for method, path, rng, size in proxy.seen if method == "GET"]
    assert {rng for path, rng, _size in gets if "/.objects/blobs/" in path} <= {"bytes=0-0"}  # size and ETag
    assert sum(size for _path, _rng, size in gets) < 64 * 1024
    assert states(project, s3_server) == {first: "OK", second: "OK"}  # both name the repaired content key
    body = read(s3_server, bucket, key)
    if run_files == "pointer":
        new_blob = json.loads(body)["blob"]
        assert new_blob != old_blob
        assert read(s3_server, bucket, f"team/catalog/{new_blob}") == good_bytes(LARGE)
    else:
        assert body == good_bytes(LARGE)  # the content key now holds the bytes (a copy of the upload)
        assert read(s3_server, bucket, f"team/catalog/{second}/out.bin") == good_bytes(LARGE)


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_intact_content_costs_one_extra_small_request_at_most(
    project: Path, s3_server: S3Server, bucket: str, proxy: RecordingProxy, size: int
) -> None:
    from runnable.storage.s3 import S3Storage

    storage = S3Storage(bucket, "team/catalog", endpoint_url=proxy.endpoint, region="us-east-1",
                        hash_first=True, part_size=5 * MiB)
    source = project / "out.bin"
    source.write_bytes(good_bytes(size))
    assert storage.store("first-run-0001", "out.bin", source, "md5").new
    proxy.seen.clear()
    before = storage.bytes_uploaded

    stored = storage.store("second-run-0002", "out.bin", source, "md5")

    assert not stored.new and storage.bytes_uploaded == before
    requests = [(method, path.split("/.objects/")[-1][:6], rng) for method, path, rng, _size in proxy.seen]
    if size == SMALL:  # the HEAD of dedup (its ETag is the MD5), then the run's pointer
        assert [r[0] for r in requests] == ["HEAD", "PUT"]
    else:  # at most 1 KiB of the alias, 1 byte of its blob (its size and ETag), then the run's pointer
        assert requests[0][0] == "GET" and requests[0][2] == "bytes=0-1024"
        assert requests[1] == ("GET", "blobs/", "bytes=0-0")
        assert [r[0] for r in requests[2:]] == ["PUT"]
