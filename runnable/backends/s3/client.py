"""The connection to an S3-compatible store, shared by the S3 catalog and run-log store.

``connect`` builds the obstore client (credentials from the ``AWS_*`` variables or a ``secrets_file``,
retries with backoff); ``_errors`` turns obstore's failures into one-line CatalogErrors naming what
failed and where; ``_open_stream`` reads one GET as a file with bounded memory. obstore is imported
here, and this module only when ``type: s3`` is configured.
"""

from __future__ import annotations

import io
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import obstore

from runnable.errors import CatalogError, ConfigurationError

if TYPE_CHECKING:
    from obstore.store import RetryConfig, S3Store


class Place(Protocol):
    """What a failure is reported against: the S3 catalog or run-log store (and the connection)."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    store_client: S3Store


# How long to wait for a TCP connection when telling an unreachable server from other failures.
_CONNECT_SECONDS = 5.0

# Retries of each request (every part of a multipart upload is retried on its own): exponential
# backoff from 100 ms to 15 s, at most 10 tries and 3 minutes -- enough to ride out a throttling
# burst (503 SlowDown) without hiding an outage for long.
_MAX_RETRIES = 10


def _retry(max_retries: int) -> RetryConfig:
    return {
        "max_retries": int(max_retries),
        "retry_timeout": timedelta(minutes=3),
        "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=15), "base": 2},
    }


def _obstore() -> Any:
    # This module is imported only when a configuration names `type: s3` (runnable.backends.registry), so
    # `import runnable` never loads the Rust client; a missing obstore becomes MissingExtraError there.
    return obstore


def _clean_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise ConfigurationError(f"S3 prefix {prefix!r} must be a clean path like 'team/catalog'")
    return prefix


def connect(
    bucket: str,
    prefix: str = "",
    endpoint_url: str | None = None,
    region: str | None = None,
    secrets_file: str | None = None,
    max_retries: int = _MAX_RETRIES,
) -> S3Store:
    """An obstore ``S3Store`` for ``bucket``/``prefix``; credentials from the environment or a dotenv file.

    >>> # connect("my-bucket", "team/catalog", "http://127.0.0.1:9000", "us-east-1")
    """
    from obstore.store import S3Store

    if not bucket or not isinstance(bucket, str):
        raise ConfigurationError("S3 backends need 'bucket' in their config, e.g. {bucket: my-bucket}")
    options: dict[str, Any] = {}
    if endpoint_url:
        options["endpoint"] = endpoint_url
    if region:
        options["region"] = region
    elif not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        options["region"] = "us-east-1"
    from_file = _file_credentials(secrets_file)
    for env_name, key in (
        ("AWS_ACCESS_KEY_ID", "access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
        ("AWS_SESSION_TOKEN", "session_token"),
    ):
        if from_file.get(env_name):
            options[key] = from_file[env_name]
    client = {"allow_http": bool(endpoint_url and endpoint_url.startswith("http://"))}
    return S3Store(
        bucket,
        prefix=prefix or None,
        client_options=client,  # type: ignore[arg-type]
        retry_config=_retry(max_retries),
        **options,
    )


def _file_credentials(secrets_file: str | None) -> dict[str, str]:
    """The ``AWS_*`` credentials a ``secrets_file`` holds (none without one)."""
    if not secrets_file:
        return {}
    from runnable.backends.secrets import DotEnvSecrets

    secrets = DotEnvSecrets(secrets_file)
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    return {name: value for name in names if (value := secrets.get(name))}


def _region(region: str | None) -> str:
    """The region requests are signed for, as ``connect`` chooses it."""
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _url(bucket: str, *parts: str) -> str:
    return "s3://" + "/".join([bucket, *[p.strip("/") for p in parts if p]])


def _s3_error(place: Place, action: str, where: str, exc: Exception) -> CatalogError:
    """One line for what failed: a missing bucket, a server that does not answer, or what S3 said.

    Chosen by the exception's type. obstore folds two pairs into one type each: a missing bucket and
    a missing key are both FileNotFoundError, and a refused connection is a GenericError like any
    other failure; for those, one more request tells them apart (``bucket_missing``,
    ``_unreachable``). Only the detail shown ("what S3 said") is taken from the message.
    """
    from obstore.exceptions import GenericError, PermissionDeniedError, UnauthenticatedError

    server = place.endpoint_url or "AWS S3"
    if isinstance(exc, GenericError) and (reason := _unreachable(place.endpoint_url)) is not None:
        return CatalogError(
            f"could not {action} {where}: cannot connect to {server} ({reason}); start the server or check the "
            "bucket, endpoint and AWS credentials"
        )
    # A LIST of a missing bucket fails with a GenericError, a GET or HEAD with FileNotFoundError.
    if isinstance(exc, (FileNotFoundError, GenericError)) and bucket_missing(place):
        return CatalogError(
            f"could not {action} {where}: the bucket {place.bucket!r} does not exist on {server}; create it "
            f"(aws s3 mb s3://{place.bucket}) or fix 'bucket' in the configuration"
        )
    text = str(exc)
    code = re.search(r"<Code>([^<]+)</Code>(?:<Message>([^<]*)</Message>)?", text)
    if code:
        said = f"{code[1]}: {code[2]}" if code[2] else code[1]
    elif isinstance(exc, (PermissionDeniedError, UnauthenticatedError)):
        said = "access denied"
    else:
        said = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return CatalogError(f"could not {action} {where}: {said}; check the bucket, endpoint and AWS credentials")


# Buckets a listing has reached, by (endpoint, bucket): a 404 from them is a missing key, and is
# not checked again (one LIST per bucket and process, on the first miss only).
_BUCKETS_SEEN: set[tuple[str | None, str]] = set()
# A key nobody writes: its HEAD answers 404 in a bucket that exists, and in one that does not.
_PROBE_KEY = ".runnable-bucket-probe"


def bucket_missing(place: Place) -> bool:
    """After a FileNotFoundError: True if the bucket itself is missing, not just the key.

    S3 answers 404 to both, and obstore raises FileNotFoundError for both (HEAD has no body to tell
    them apart). Two requests decide, by the type of their answers: a listing of the bucket fails
    only if the bucket is missing or may not be listed, and in the second case a HEAD is refused
    (403) rather than answered "not found" (a caller that may not list gets 403 for a missing key).
    """
    from obstore.exceptions import BaseError

    seen = (place.endpoint_url, place.bucket)
    if seen in _BUCKETS_SEEN:
        return False
    try:
        next(iter(obstore.list(place.store_client, chunk_size=1)), None)
    except (BaseError, FileNotFoundError):
        try:
            obstore.head(place.store_client, _PROBE_KEY)
        except FileNotFoundError:
            return True
        except BaseError:
            return False
        return False
    _BUCKETS_SEEN.add(seen)
    return False


def _unreachable(endpoint_url: str | None) -> str | None:
    """Why no connection to the server opens (the system's words: 'Connection refused'), or None
    when one does. Asked after a GenericError, whose only clue to a network failure is its text."""
    url = urlsplit(endpoint_url or "https://s3.amazonaws.com")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=_CONNECT_SECONDS).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


@contextmanager
def _errors(place: Place, action: str, key: str = "") -> Iterator[None]:
    """Raise obstore's failures as CatalogError naming what failed and where (``action`` a verb).

    A missing key stays FileNotFoundError, for callers to say what absence means, but a missing
    bucket does not (``bucket_missing``).
    """
    from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError

    try:
        yield
    except FileNotFoundError as exc:
        if not bucket_missing(place):
            raise
        # Not chained, unlike other errors: obstore's is S3's whole response and a debug dump, and
        # what it says is in the message already.
        raise _s3_error(place, action, _url(place.bucket, place.prefix, key), exc) from None
    except (AlreadyExistsError, PreconditionError):
        raise  # a conditional create that lost: the caller's answer, not a failure
    except BaseError as exc:
        raise _s3_error(place, action, _url(place.bucket, place.prefix, key), exc) from None


class _StreamReader(io.RawIOBase):
    """A read-only file over the chunks of one GET: constant memory, one request."""

    def __init__(self, chunks: Iterator[Any], place: Place, key: str) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._place = place
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            with _errors(self._place, "read", self._key):
                chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(bytes(chunk)) if not isinstance(chunk, bytes) else memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _open_stream(result: Any, place: Place, key: str) -> BinaryIO:
    raw = _StreamReader(iter(result.stream(min_chunk_size=1024 * 1024)), place, key)
    return io.BufferedReader(raw, buffer_size=1024 * 1024)


