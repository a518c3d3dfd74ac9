"""The S3 catalog, like the local one, never uploads a selected file that was swapped for a symbolic
link (to a file outside the working folder) after it was selected: that file fails, naming itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from runnable.files.patterns import expand
from runnable.files.put import put_files

from .conftest import S3Server

SECRET = b"outside secret bytes\n"


@pytest.mark.parametrize("size, options", [(16, {}), (6 * 1024 * 1024, {}), (6 * 1024 * 1024, {"hash_first": True})],
                         ids=["small", "multipart", "hash-first"])
def test_a_file_swapped_for_a_link_is_not_uploaded(s3_server: S3Server, bucket: str, tmp_path: Path,
                                                   size: int, options: dict[str, bool]) -> None:
    from runnable.backends.s3.catalog import S3Storage

    work = tmp_path / "work"
    (work / "o").mkdir(parents=True)
    (work / "o" / "f.txt").write_bytes(b"x" * size)
    (work / "o" / "g.txt").write_bytes(b"g")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(SECRET * (size // len(SECRET) + 1))
    selection = expand(["o/"], work)
    (work / "o" / "f.txt").unlink()
    (work / "o" / "f.txt").symlink_to(outside)
    storage = S3Storage(bucket, "cat", endpoint_url=s3_server.endpoint, **options)

    result = put_files(selection.files, storage, "run-1", "md5", store_copy=True)

    reasons = dict(result.failures)
    assert "symbolic link" in reasons["o/f.txt"], reasons
    assert [e.path for e in result.entries] == ["o/g.txt"]
    client = s3_server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            assert SECRET not in client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read(), item["Key"]
