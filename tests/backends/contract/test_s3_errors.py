"""S3 failures are told apart by the type of obstore's exception and by what the server answers,
never by the words of a message (obstore's messages are Rust debug dumps that change between
releases)."""

from __future__ import annotations

import pytest
from obstore.exceptions import GenericError

from runnable.backends.s3.catalog import S3Storage
from runnable.backends.s3.client import _s3_error, bucket_missing
from runnable.errors import CatalogError

from .conftest import S3Server, _free_port

NO_BUCKET_TEXT = "Object not found: <Error><Code>NoSuchBucket</Code></Error>"
CONNECT_TEXT = 'Generic S3 error: HttpError { kind: Connect, message: "Connection refused" }'


def test_a_missing_key_in_a_bucket_that_exists_is_not_a_missing_bucket_whatever_the_text(
        s3_server: S3Server, bucket: str) -> None:
    storage = S3Storage(bucket, "p", endpoint_url=s3_server.endpoint)
    assert bucket_missing(storage) is False
    error = _s3_error(storage, "read", "s3://x/y", FileNotFoundError(NO_BUCKET_TEXT))
    assert "does not exist" not in str(error)


def test_a_bucket_that_does_not_exist_is_named_whatever_the_text(s3_server: S3Server, aws_env: dict[str, str]) -> None:
    storage = S3Storage("no-such-bucket-here", endpoint_url=s3_server.endpoint, max_retries=0)
    assert bucket_missing(storage) is True
    error = _s3_error(storage, "read", "s3://no-such-bucket-here/k", FileNotFoundError("gone"))
    assert f"the bucket 'no-such-bucket-here' does not exist on {s3_server.endpoint}" in str(error)
    with pytest.raises(CatalogError, match="does not exist"):
        storage.open_run_file("r1", "a.txt")


def test_a_connection_failure_is_told_by_connecting_not_by_the_text(s3_server: S3Server, bucket: str) -> None:
    reachable = S3Storage(bucket, endpoint_url=s3_server.endpoint)
    assert "cannot connect" not in str(_s3_error(reachable, "read", "s3://x/y", GenericError(CONNECT_TEXT)))
    endpoint = f"http://127.0.0.1:{_free_port()}"
    unreachable = S3Storage(bucket, endpoint_url=endpoint, max_retries=0)
    error = _s3_error(unreachable, "read", "s3://x/y", GenericError("something else entirely"))
    assert f"cannot connect to {endpoint} (Connection refused)" in str(error)
