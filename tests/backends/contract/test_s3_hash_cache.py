"""The S3 catalog answers an unchanged large output from the hash cache (``runnable.files.hashcache``),
as the local catalog does: a second run reads and uploads nothing; a changed file is hashed again."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from runnable.backends.s3.catalog import S3Storage

from .conftest import S3Server

PART = 5 * 1024 * 1024  # S3's smallest part: files above it take the large-file path


@pytest.mark.parametrize("run_files", ["pointer", "copy"])
def test_an_unchanged_large_file_is_answered_from_the_hash_cache_and_a_changed_one_is_rehashed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Server, bucket: str, run_files: str) -> None:
    monkeypatch.setenv("RUNNABLE_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "model.bin"
    first_bytes = os.urandom(PART + 1000)
    data.write_bytes(first_bytes)
    time.sleep(2.1)  # settled: remembered (see runnable.files.hashcache)

    def storage() -> S3Storage:  # a new process's view: the cache is read from its file again
        return S3Storage(bucket, "cat", endpoint_url=s3_server.endpoint, run_files=run_files, part_size=PART)

    first = storage()
    stored = first.store("run-1", "model.bin", data, "md5")
    assert stored.digest == hashlib.md5(first_bytes).hexdigest() and stored.new
    assert first._hash_cache().hits == 0

    second = storage()
    again = second.store("run-2", "model.bin", data, "md5")
    assert again.digest == stored.digest and not again.new
    assert second._hash_cache().hits == 1 and second.bytes_uploaded == 0
    with second.open_run_file("run-2", "model.bin") as handle:
        assert hashlib.md5(handle.read()).hexdigest() == stored.digest

    changed = bytearray(first_bytes)
    changed[-1] ^= 0xFF  # the same size: only the file's times and inode tell
    data.write_bytes(bytes(changed))
    third = storage()
    rehashed = third.store("run-3", "model.bin", data, "md5")
    assert rehashed.digest == hashlib.md5(changed).hexdigest() != stored.digest
    assert third._hash_cache().hits == 0
