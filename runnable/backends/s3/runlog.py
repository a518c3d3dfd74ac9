"""Run records in an S3 bucket: ``{prefix}/{run_id}.json``, created with a conditional PUT so a run id
is never taken twice, and the listing and content indexes beside them (see ``backends/protocols.py``).
The connection is ``client.py``'s; the encoding is the file-system store's (``backends/runlog.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from runnable.backends.runlog import CONTENT_FOLDER, CONTENT_SNAPSHOT, INDEX_NAME, decode, encode
from runnable.backends.s3 import AWS_VARIABLES
from runnable.backends.s3.client import (
    _MAX_RETRIES,
    _clean_prefix,
    _errors,
    _obstore,
    _url,
    connect,
)
from runnable.errors import RecordError, RunNotFoundError
from runnable.record import RunRecord, check_run_id


class S3RunLogStore:
    """Run records as ``{prefix}/{run_id}.json`` in a bucket (``run-log-store: {type: s3, config: ...}``).

    ``create`` reserves a run id with a conditional PUT (``If-None-Match: *``), so two machines can
    never both take the same id. For a store that ignores that header, set ``conditional_create:
    false`` to fall back to check-then-write (documented as racy).

    >>> # S3RunLogStore("my-bucket", "team/runs").location
    >>> # 's3://my-bucket/team/runs'
    """

    #: Credentials come from these variables when no secrets file gives them (``EnvironmentCredentials``).
    credential_variables = AWS_VARIABLES

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        conditional_create: bool = True,
        secrets_file: str | None = None,
        max_retries: int = _MAX_RETRIES,
    ) -> None:
        self.bucket = bucket
        self.prefix = _clean_prefix(prefix)
        self.endpoint_url = endpoint_url
        self.conditional_create = bool(conditional_create)
        self.store_client = connect(bucket, self.prefix, endpoint_url, region, secrets_file, max_retries)
        self.location = _url(bucket, self.prefix)

    def __repr__(self) -> str:
        return f"S3RunLogStore({self.location!r}, endpoint_url={self.endpoint_url!r})"

    def key(self, run_id: str) -> str:
        return f"{check_run_id(run_id)}.json"

    def create(self, record: RunRecord) -> bool:
        obs = _obstore()
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        key = self.key(record.run_id)
        try:
            with _errors(self, "reserve run id in", key):
                if not self.conditional_create:
                    if self.exists(record.run_id):
                        return False
                    obs.put(self.store_client, key, encode(record), use_multipart=False)
                    return True
                obs.put(self.store_client, key, encode(record), mode="create", use_multipart=False)
        except (AlreadyExistsError, PreconditionError):
            return False
        return True

    def put(self, record: RunRecord) -> None:
        key = self.key(record.run_id)
        with _errors(self, "write the run record", key):
            _obstore().put(self.store_client, key, encode(record), use_multipart=False)  # a PUT is atomic

    def get(self, run_id: str) -> RunRecord:
        key = self.key(run_id)
        where = _url(self.bucket, self.prefix, key)
        try:
            with _errors(self, "read the run record", key):
                data = bytes(_obstore().get(self.store_client, key).bytes())
        except FileNotFoundError:
            raise RunNotFoundError(f"no run {run_id!r} in the run-log store {self.location}") from None
        record = decode(data, where)
        if record.run_id != run_id:
            raise RecordError(f"run record {where} names run {record.run_id!r}, not {run_id!r}")
        return record

    def exists(self, run_id: str) -> bool:
        key = self.key(run_id)
        try:
            with _errors(self, "read", key):
                _obstore().head(self.store_client, key)
        except FileNotFoundError:
            return False
        return True

    def _records(self) -> Iterator[dict[str, Any]]:
        # One level only: a catalog sharing this prefix keeps its run folders below it.
        with _errors(self, "list the runs in"):
            listing = _obstore().list_with_delimiter(self.store_client, None)
        for meta in listing["objects"]:
            name = str(meta["path"]).rsplit("/", 1)[-1]
            if name.endswith(".json") and not name.startswith("."):
                yield meta

    def iter_ids(self) -> Iterator[str]:
        for meta in self._records():
            yield str(meta["path"]).rsplit("/", 1)[-1][: -len(".json")]

    def delete(self, run_id: str) -> None:
        key = self.key(run_id)
        with _errors(self, "delete", key):
            _obstore().delete(self.store_client, key)  # deleting a missing key succeeds on S3

    # -- the listing index (see protocols.IndexedRunLogStore) ------------------------------------
    def iter_stamps(self) -> Iterator[tuple[str, str]]:
        for meta in self._records():
            run_id = str(meta["path"]).rsplit("/", 1)[-1][: -len(".json")]
            # The ETag changes with the content; last-modified and size guard stores whose ETags
            # are not content hashes.
            yield run_id, f"{meta.get('e_tag')}-{meta['last_modified'].isoformat()}-{meta['size']}"

    def read_index(self) -> bytes | None:
        try:
            with _errors(self, "read the index of runs", INDEX_NAME):
                return bytes(_obstore().get(self.store_client, INDEX_NAME).bytes())
        except FileNotFoundError:
            return None

    def write_index(self, data: bytes) -> None:
        with _errors(self, "write the index of runs", INDEX_NAME):
            _obstore().put(self.store_client, INDEX_NAME, data, use_multipart=False)

    # -- the content index (see protocols.ContentIndexedRunLogStore) -----------------------------
    @staticmethod
    def _content_key(run_id: str) -> str:
        return f"{CONTENT_FOLDER}/{check_run_id(run_id)}.json"

    def write_content(self, run_id: str, data: bytes) -> None:
        key = self._content_key(run_id)
        with _errors(self, "write the content index entry", key):
            _obstore().put(self.store_client, key, data, use_multipart=False)  # a PUT is atomic

    def read_content(self, run_id: str) -> bytes | None:
        key = self._content_key(run_id)
        try:
            with _errors(self, "read the content index entry", key):
                return bytes(_obstore().get(self.store_client, key).bytes())
        except FileNotFoundError:
            return None

    def delete_content(self, run_id: str) -> None:
        key = self._content_key(run_id)
        with _errors(self, "delete", key):
            _obstore().delete(self.store_client, key)

    def iter_content_ids(self) -> Iterator[str]:
        with _errors(self, "list the content index in"):
            listing = _obstore().list_with_delimiter(self.store_client, CONTENT_FOLDER)
        for meta in listing["objects"]:
            name = str(meta["path"]).rsplit("/", 1)[-1]
            if name.endswith(".json") and not name.startswith("."):
                yield name[: -len(".json")]

    def read_content_snapshot(self) -> bytes | None:
        key = f"{CONTENT_FOLDER}/{CONTENT_SNAPSHOT}"
        try:
            with _errors(self, "read the content index in", key):
                return bytes(_obstore().get(self.store_client, key).bytes())
        except FileNotFoundError:
            return None

    def write_content_snapshot(self, data: bytes) -> None:
        key = f"{CONTENT_FOLDER}/{CONTENT_SNAPSHOT}"
        with _errors(self, "write the content index in", key):
            _obstore().put(self.store_client, key, data, use_multipart=False)
