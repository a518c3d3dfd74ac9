"""Incomplete multipart uploads below an S3 catalog's prefix: list them and abort them (``runnable gc``).

A large file is stored as a multipart upload, and a store that fails aborts its upload as it fails.
But when the failure is an outage that lasts longer than the retries, the abort cannot reach the
server either, and the upload stays there: invisible to listings, its parts billed (5 of 10 such
outages left one). The client (obstore) has no request to list or abort uploads it no longer holds,
so this module makes those two requests itself: plain HTTP(S) signed with AWS Signature Version 4,
with the credentials the catalog is configured with (its ``secrets_file``, else the ``AWS_*``
environment variables). With neither (credentials from a role or instance metadata) it does nothing,
and a bucket lifecycle rule is the way to clean them (docs/s3.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from runnable.errors import CatalogError

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = ""  # never shown: the dataclass repr is not used in messages
    session_token: str | None = None

    def __repr__(self) -> str:
        return f"Credentials({self.access_key_id[:4]}...)"


@dataclass(frozen=True)
class Upload:
    """An incomplete multipart upload: its key in the bucket, its id and when it was started."""

    key: str
    upload_id: str
    initiated: float  # seconds since the epoch


def credentials(from_file: dict[str, str]) -> Credentials | None:
    """The catalog's credentials: those of its ``secrets_file`` (``from_file``), else the environment's."""
    source = from_file if from_file.get("AWS_ACCESS_KEY_ID") else os.environ
    key, secret = source.get("AWS_ACCESS_KEY_ID"), source.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return Credentials(key, secret, source.get("AWS_SESSION_TOKEN") or None)


class UploadsClient:
    """ListMultipartUploads and AbortMultipartUpload on one bucket."""

    def __init__(self, bucket: str, endpoint_url: str | None, region: str, creds: Credentials) -> None:
        self.bucket = bucket
        self.region = region
        self.creds = creds
        if endpoint_url:  # a custom server (MinIO, Ceph, moto): path-style, as the client uses it
            self.base = endpoint_url.rstrip("/")
            self.bucket_path = f"/{quote(bucket, safe='')}"
        else:
            self.base = f"https://{bucket}.s3.{region}.amazonaws.com"
            self.bucket_path = ""

    def list(self, prefix: str) -> Iterator[Upload]:
        """Every incomplete upload of a key starting with ``prefix``, page by page."""
        markers: dict[str, str] = {}
        while True:
            body = self._request("GET", "", {"uploads": "", "prefix": prefix, **markers})
            root = ET.fromstring(body)
            for node in root:
                if _tag(node) == "Upload":
                    fields = {_tag(child): (child.text or "") for child in node}
                    initiated = datetime.fromisoformat(fields.get("Initiated", "").replace("Z", "+00:00"))
                    yield Upload(fields.get("Key", ""), fields.get("UploadId", ""), initiated.timestamp())
            values = {_tag(child): (child.text or "") for child in root}
            if values.get("IsTruncated", "false").lower() != "true":
                return
            markers = {"key-marker": values.get("NextKeyMarker", ""),
                       "upload-id-marker": values.get("NextUploadIdMarker", "")}

    def abort(self, upload: Upload) -> None:
        try:
            self._request("DELETE", upload.key, {"uploadId": upload.upload_id})
        except _NotFound:
            pass  # aborted or completed meanwhile: nothing is left either way

    def _request(self, method: str, key: str, query: dict[str, str]) -> bytes:
        path = self.bucket_path + ("/" + quote(key, safe="/-_.~") if key else "/" if not self.bucket_path else "")
        canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
        url = f"{self.base}{path}?{canonical_query}"
        request = urllib.request.Request(url, method=method, headers=self._signed(method, path, canonical_query, url))
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "DELETE":
                raise _NotFound from None
            said = exc.read()[:2000].decode("utf-8", "replace")
            code = said.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in said else f"HTTP {exc.code}"
            raise CatalogError(f"could not {_ACTION[method]} in s3://{self.bucket}: {code}; "
                               "check the bucket, endpoint and AWS credentials") from None
        except OSError as exc:
            raise CatalogError(f"could not {_ACTION[method]} in s3://{self.bucket}: cannot connect to "
                               f"{self.base} ({getattr(exc, 'reason', exc)}); start the server or check the endpoint") from None

    def _signed(self, method: str, path: str, canonical_query: str, url: str,
                amz_date: str | None = None) -> dict[str, str]:
        """The headers of an AWS Signature Version 4 request with an empty body, signed now (or at
        ``amz_date``, ``20260101T000000Z``)."""
        amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = {"host": urlsplit(url).netloc, "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": amz_date}
        if self.creds.session_token:
            headers["x-amz-security-token"] = self.creds.session_token
        signed_names = ";".join(sorted(headers))
        canonical = "\n".join([method, path or "/", canonical_query,
                               "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)),
                               signed_names, _EMPTY_SHA256])
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.creds.secret_access_key).encode()
        for part in (amz_date[:8], self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.creds.access_key_id}/{scope}, "
                                    f"SignedHeaders={signed_names}, Signature={signature}")
        del headers["host"]  # urllib sets it from the URL, as signed
        return headers


_ACTION = {"GET": "list incomplete multipart uploads", "DELETE": "abort an incomplete multipart upload"}


class _NotFound(Exception):
    pass


def _tag(node: ET.Element) -> str:
    return node.tag.rsplit("}", 1)[-1]  # without the S3 namespace


def abort_stale(client: UploadsClient, prefix: str, older_than: float) -> int:
    """Abort the incomplete uploads of keys below ``prefix`` started before ``older_than`` (epoch
    seconds); return how many. Listed first, aborted after: each abort is one request."""
    stale = [upload for upload in client.list(prefix) if upload.initiated < older_than]
    for upload in stale:
        client.abort(upload)
    return len(stale)
