"""An S3 outage longer than the retries, in the middle of a multipart upload, leaves an incomplete
upload on the server (the abort cannot reach it either); ``runnable gc`` aborts it at its next
contact with the server. Real uploads to the local S3 server, the outage made by a proxy in front of
it that starts answering every request with 503 once the upload has begun."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from runnable.backends.s3.catalog import S3Storage
from runnable.errors import CatalogError
from tests.conftest import run_cli

from .conftest import FlakyProxy, S3Server, subprocess_env

MiB = 1024 * 1024
PART = 5 * MiB


def _uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return found


def _upload_through_an_outage(server: S3Server, bucket: str, folder: Path, run_files: str) -> None:
    """Store a 3-part file through a proxy that fails every request from the moment the upload was
    created: the store fails after its retries and its abort cannot reach the server."""
    proxy = FlakyProxy(server.endpoint, fail_every=10**9)
    try:
        storage = S3Storage(bucket, "team/catalog", endpoint_url=proxy.endpoint, region="us-east-1",
                            run_files=run_files, part_size=PART, max_retries=1)
        source = folder / "big.bin"
        source.write_bytes(random.Random(3).randbytes(3 * PART))

        def outage_once_the_upload_exists(_n: int) -> None:
            deadline = time.monotonic() + 10
            while proxy.fail_every != 1 and time.monotonic() < deadline:
                if any(method == "POST" and "uploads" in path for method, path, _r, _b in proxy.seen):
                    proxy.fail_every = 1  # from now on the "server" answers 503 to everything
                    return
                time.sleep(0.01)

        with pytest.raises(CatalogError):
            storage.store("run-1", "big.bin", source, "md5", progress=outage_once_the_upload_exists)
        assert proxy.fail_every == 1, "the outage never started: no multipart upload was created"
    finally:
        proxy.close()


@pytest.mark.parametrize("run_files", ["pointer", "copy"])
def test_gc_aborts_a_multipart_upload_an_outage_left(
    s3_server: S3Server, bucket: str, tmp_path: Path, run_files: str
) -> None:
    client = s3_server.client()
    _upload_through_an_outage(s3_server, bucket, tmp_path, run_files)
    left = _uploads(client, bucket)
    assert [u["Key"].startswith("team/catalog/") for u in left] == [True], left  # the outage left one
    (tmp_path / "s3.yaml").write_text(
        "catalog:\n"
        f"  type: s3\n  config: {{bucket: {bucket}, prefix: team/catalog, endpoint_url: '{s3_server.endpoint}', "
        "region: us-east-1}\n"
        "run-log-store:\n"
        f"  type: s3\n  config: {{bucket: {bucket}, prefix: team/runs, endpoint_url: '{s3_server.endpoint}', "
        "region: us-east-1}\n"
    )
    done = run_cli(tmp_path, "gc", "--config", "s3.yaml", env=subprocess_env(s3_server))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _uploads(client, bucket) == []


def test_gc_leaves_uploads_outside_the_catalog_and_younger_ones_alone(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    client = s3_server.client()
    other = client.create_multipart_upload(Bucket=bucket, Key="someone-else/file.bin")["UploadId"]
    mine = client.create_multipart_upload(Bucket=bucket, Key="team/catalog/.objects/blobs/abc")["UploadId"]
    storage = S3Storage(bucket, "team/catalog", endpoint_url=s3_server.endpoint, region="us-east-1")
    # moto dates every upload 2010-11-10, so the grace period cannot be seen here: only an upload
    # "started" after the cutoff is kept.
    assert storage.abort_incomplete_uploads(started_before=0) == 0
    assert {u["UploadId"] for u in _uploads(client, bucket)} == {other, mine}
    storage.clean_temporaries(0)
    assert {u["UploadId"] for u in _uploads(client, bucket)} == {other}


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", None])
@pytest.mark.parametrize("token", [None, "session-token-1"])
def test_the_requests_are_signed_as_botocore_signs_them(endpoint: str | None, token: str | None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # moto accepts any signature, so the signature is checked against the AWS SDK's own signer.
    import datetime

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    from runnable.backends.s3.uploads import Credentials, UploadsClient

    client = UploadsClient("my-bucket", endpoint, "eu-west-1", Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token))
    for method, path, query in (("GET", client.bucket_path or "/", "prefix=team%2Fcatalog%2F&uploads="),
                                ("DELETE", client.bucket_path + "/team/catalog/a%20b.bin", "uploadId=abc%2B1")):
        url = f"{client.base}{path}?{query}"
        ours = client._signed(method, path, query, url, amz_date="20261207T051200Z")
        monkeypatch.setattr(botocore.auth, "get_current_datetime",
                            lambda: datetime.datetime(2026, 12, 7, 5, 12, 0))
        request = AWSRequest(method=method, url=url, headers={"X-Amz-Content-SHA256": ours["x-amz-content-sha256"]})
        botocore.auth.S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token), "s3",
                                  "eu-west-1").add_auth(request)
        assert ours["Authorization"] == request.headers["Authorization"]
