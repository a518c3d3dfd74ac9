"""Dedup in the S3 catalog reuses stored content only if it checks out: a content key whose object
(or blob) was replaced or deleted behind the catalog's back is repaired by the next store of that
content, never reused, and checking costs no re-read of a large blob. Real jobs against moto."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_python

from .conftest import FlakyProxy, S3Server, subprocess_env

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
    project: Path, s3_server: S3Server, bucket: str, counting_proxy: FlakyProxy,
    run_files: str, hash_first: bool, damage: str,
) -> None:
    configure(project, counting_proxy.endpoint, bucket, "pointer")
    first = run_job(project, s3_server, LARGE)
    client, key = s3_server.client(), content_key(LARGE)
    old_blob = json.loads(read(s3_server, bucket, key))["blob"]
    if damage == "replace":
        client.put_object(Bucket=bucket, Key=f"team/catalog/{old_blob}", Body=b"\0" * LARGE)
    else:
        client.delete_object(Bucket=bucket, Key=f"team/catalog/{old_blob}")
    assert states(project, s3_server) == {first: "CORRUPT" if damage == "replace" else "MISSING"}

    configure(project, counting_proxy.endpoint, bucket, run_files, hash_first)
    counting_proxy.seen.clear()
    second = run_job(project, s3_server, LARGE)

    # Checking the stored content never reads a blob back: only small GETs went out.
    gets = [(path, rng, size) for method, path, rng, size in counting_proxy.seen if method == "GET"]
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
    project: Path, s3_server: S3Server, bucket: str, counting_proxy: FlakyProxy, size: int
) -> None:
    from runnable.backends.s3.catalog import S3Storage

    storage = S3Storage(bucket, "team/catalog", endpoint_url=counting_proxy.endpoint, region="us-east-1",
                        hash_first=True, part_size=5 * MiB)
    source = project / "out.bin"
    source.write_bytes(good_bytes(size))
    assert storage.store("first-run-0001", "out.bin", source, "md5").new
    counting_proxy.seen.clear()
    before = storage.bytes_uploaded

    stored = storage.store("second-run-0002", "out.bin", source, "md5")

    assert not stored.new and storage.bytes_uploaded == before
    requests = [(method, path.split("/.objects/")[-1][:6], rng) for method, path, rng, _size in counting_proxy.seen]
    if size == SMALL:  # the HEAD of dedup (its ETag is the MD5), then the run's pointer
        assert [r[0] for r in requests] == ["HEAD", "PUT"]
    else:  # at most 1 KiB of the alias, 1 byte of its blob (its size and ETag), then the run's pointer
        assert requests[0][0] == "GET" and requests[0][2] == "bytes=0-1024"
        assert requests[1] == ("GET", "blobs/", "bytes=0-0")
        assert [r[0] for r in requests[2:]] == ["PUT"]
