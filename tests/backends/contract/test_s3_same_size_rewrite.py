"""A file rewritten in place at the same size while the S3 catalog uploads it is refused, as in a
local catalog: the S3 backend reads through the shared reader (``runnable.files.hashing``), which checks
the modification time as well as the size. Before, S3 checked the size only and recorded a hash
that matched neither version. Real uploads to the local S3 server."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from runnable.backends.s3.catalog import S3Storage
from runnable.files.hashing import SourceChangedError

from .conftest import S3Server

MiB = 1024 * 1024
PART = 5 * MiB


def _old_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))  # a rewrite changes it surely


@pytest.mark.parametrize("run_files", ["pointer", "copy"])
def test_a_large_file_rewritten_at_the_same_size_during_upload_is_refused(
    s3_server: S3Server, bucket: str, tmp_path: Path, run_files: str
) -> None:
    storage = S3Storage(bucket, "cat", endpoint_url=s3_server.endpoint, region="us-east-1",
                        run_files=run_files, part_size=PART)
    source = tmp_path / "big.bin"
    first = random.Random(1).randbytes(3 * PART)
    second = random.Random(2).randbytes(3 * PART)
    _old_file(source, first)
    rewritten: list[bool] = []

    def rewrite_once(_n: int) -> None:  # called after the first part was read: rewrite it all in place
        if not rewritten:
            with open(source, "r+b") as handle:
                handle.write(second)
            rewritten.append(True)

    with pytest.raises(SourceChangedError, match="modified while it was being read"):
        storage.store("run-1", "big.bin", source, "md5", progress=rewrite_once)
    assert rewritten and source.read_bytes() == second and source.stat().st_size == 3 * PART
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if "/.objects/md5/" in k or k.startswith("cat/run-1/")], keys
    # Stored again once it is complete: the hash is that of the bytes now in the file.
    stored = storage.store("run-1", "big.bin", source, "md5")
    assert stored.digest == hashlib.md5(second).hexdigest()


def test_a_small_file_rewritten_at_the_same_size_is_hashed_as_one_version(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    storage = S3Storage(bucket, "cat", endpoint_url=s3_server.endpoint, region="us-east-1", part_size=PART)
    source = tmp_path / "small.bin"
    _old_file(source, b"a" * 1000)
    stored = storage.store("run-1", "small.bin", source, "md5")
    assert stored.digest == hashlib.md5(b"a" * 1000).hexdigest()
