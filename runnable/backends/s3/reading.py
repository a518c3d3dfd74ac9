"""Reading, listing and deleting what the S3 catalog holds: run files (pointers or copies), content
keys (bytes, or aliases naming a blob) and the blobs, temporaries and incomplete uploads gc removes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from runnable.backends.s3.client import (
    _errors,
    _file_credentials,
    _obstore,
    _open_stream,
    _region,
    _url,
)
from runnable.backends.s3.layout import _ALIAS_MAX, _ALIAS_TYPE, _POINTER_TYPE, BLOBS, OBJECTS, TMP, S3Layout
from runnable.errors import CatalogError
from runnable.record import check_run_id


class StoredObjects(S3Layout):
    """The S3 catalog's reading, listing and deleting."""

    # -- reading ----------------------------------------------------------------------------
    def open_run_file(self, run_id: str, rel: str) -> BinaryIO:
        key = self.run_key(run_id, rel)
        result = self._get(key, f"run file {rel!r} of run {run_id}")
        if result.attributes.get("Content-Type") != _POINTER_TYPE:
            return _open_stream(result, self, key)
        with _errors(self, "read", key):
            body = bytes(result.bytes())
        try:
            pointer = json.loads(body)
            object_key = str(pointer["object"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogError(f"pointer {_url(self.bucket, self.prefix, key)} is unreadable: {exc}") from exc
        if not object_key.startswith(OBJECTS + "/") or ".." in object_key.split("/"):
            raise CatalogError(f"pointer {_url(self.bucket, self.prefix, key)} names {object_key!r}, not an object")
        return self._open_content(object_key, f"object {object_key} (named by {rel!r} of run {run_id})")

    def open_object(self, algorithm: str, digest: str) -> BinaryIO:
        return self._open_content(self.object_key(algorithm, digest), f"object {algorithm}:{digest}")

    def _open_content(self, key: str, what: str) -> BinaryIO:
        """Open a content key, following an alias to its blob."""
        result = self._get(key, what)
        if result.attributes.get("Content-Type") != _ALIAS_TYPE:
            return _open_stream(result, self, key)
        with _errors(self, "read", key):
            body = bytes(result.bytes())
        blob_key = self._alias_target(key, body)
        return _open_stream(self._get(blob_key, f"{what} (its blob {blob_key})"), self, blob_key)

    def _alias_target(self, key: str, body: bytes) -> str:
        try:
            blob_key = str(json.loads(body)["blob"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogError(f"alias {_url(self.bucket, self.prefix, key)} is unreadable: {exc}") from exc
        if not blob_key.startswith(BLOBS + "/") or len(blob_key.split("/")) != 3 or ".." in blob_key:
            raise CatalogError(f"alias {_url(self.bucket, self.prefix, key)} names {blob_key!r}, not a blob")
        return blob_key

    def _read_alias(self, key: str) -> str | None:
        """The blob a small content key names, or None if it holds its bytes itself (or is gone)."""
        try:
            with _errors(self, "read", key):
                result = _obstore().get(self.store_client, key)
                if result.attributes.get("Content-Type") != _ALIAS_TYPE:
                    return None
                body = bytes(result.bytes())
        except FileNotFoundError:
            return None
        return self._alias_target(key, body)

    def _data_key(self, object_key: str) -> str:
        """The key holding the content's bytes: the object itself or the blob its alias names."""
        if int(_obstore().head(self.store_client, object_key)["size"]) > _ALIAS_MAX:
            return object_key
        return self._read_alias(object_key) or object_key

    def _get(self, key: str, what: str) -> Any:
        try:
            with _errors(self, "read", key):
                return _obstore().get(self.store_client, key)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{what} is not in the catalog {self.location} (missing key {key})"
            ) from None

    def has_object(self, algorithm: str, digest: str) -> bool:
        # Unguarded: only ``store`` asks, and its error names the file being stored.
        try:
            _obstore().head(self.store_client, self.object_key(algorithm, digest))
        except FileNotFoundError:
            return False
        return True

    def _listing(self) -> tuple[list[tuple[str, str, str, int]], dict[str, tuple[int, float]]]:
        """One listing of ``.objects/``: content keys as (key, algorithm, digest, size), and blobs
        as key -> (size, last-modified timestamp)."""
        contents: list[tuple[str, str, str, int]] = []
        blobs: dict[str, tuple[int, float]] = {}
        with _errors(self, "list", OBJECTS):
            for batch in _obstore().list(self.store_client, OBJECTS + "/", chunk_size=1000):
                for meta in batch:
                    path = str(meta["path"])
                    parts = path.split("/")
                    if len(parts) == 3 and path.startswith(BLOBS + "/"):
                        blobs[path] = (int(meta["size"]), meta["last_modified"].timestamp())
                    elif len(parts) == 4 and parts[0] == OBJECTS and parts[1] not in ("tmp", "blobs"):
                        contents.append((path, parts[1], parts[2] + parts[3], int(meta["size"])))
        return contents, blobs

    def _aliases(self, contents: list[tuple[str, str, str, int]]) -> dict[str, str]:
        """Content key -> blob key for every alias among ``contents`` (one GET per small object)."""
        found: dict[str, str] = {}
        for key, _algorithm, _digest, size in contents:
            if size <= _ALIAS_MAX:
                blob_key = self._read_alias(key)
                if blob_key:
                    found[key] = blob_key
        return found

    def iter_objects(self) -> Iterator[tuple[str, str, int]]:
        contents, blobs = self._listing()
        # Without blobs there are no aliases (nothing to look up): one listing, no GET.
        aliases = self._aliases(contents) if blobs else {}
        for key, algorithm, digest, size in contents:
            if key in aliases:
                size = blobs.get(aliases[key], (0, 0.0))[0]  # a missing blob: verify reports it
            yield algorithm, digest, size

    # -- deleting ---------------------------------------------------------------------------
    def _delete_quietly(self, key: str) -> None:
        try:
            _obstore().delete(self.store_client, key)
        except Exception:  # noqa: BLE001 - best-effort clean-up; the original error matters more
            pass

    def delete_object(self, algorithm: str, digest: str) -> int:
        obs = _obstore()
        key = self.object_key(algorithm, digest)
        try:
            with _errors(self, "delete", key):
                size = int(obs.head(self.store_client, key)["size"])
        except FileNotFoundError:
            return 0
        blob_key = self._read_alias(key) if size <= _ALIAS_MAX else None
        with _errors(self, "delete", key):
            obs.delete(self.store_client, key)  # the alias first: a blob without alias is an orphan gc removes
        if blob_key is None:
            return size
        try:
            with _errors(self, "delete", blob_key):
                size = int(obs.head(self.store_client, blob_key)["size"])
                obs.delete(self.store_client, blob_key)
        except FileNotFoundError:
            return 0
        return size

    def delete_run(self, run_id: str) -> None:
        obs = _obstore()
        with _errors(self, "delete", check_run_id(run_id)):
            keys = [str(m["path"]) for batch in obs.list(self.store_client, run_id + "/", chunk_size=1000)
                    for m in batch]
            for start in range(0, len(keys), 1000):  # S3 DeleteObjects takes at most 1,000 keys
                obs.delete(self.store_client, keys[start : start + 1000])

    def clean_temporaries(self, older_than_seconds: float) -> int:
        """Delete abandoned uploads older than the cutoff: temporary keys (``.objects/tmp``, left by
        earlier versions) and orphan blobs (``.objects/blobs``) that no alias names -- a process
        killed between uploading a blob and creating its alias leaves one.

        Then incomplete multipart uploads below the prefix started before the cutoff: a store aborts
        its upload when it fails, but not when the server was out of reach for longer than the
        retries (``uploads.py``). Their bytes are not counted: S3 would need a request per upload.
        """
        obs = _obstore()
        cutoff = time.time() - older_than_seconds
        freed = 0
        with _errors(self, "clean temporary uploads in", TMP):
            for batch in obs.list(self.store_client, TMP + "/", chunk_size=1000):
                for meta in batch:
                    if meta["last_modified"].timestamp() < cutoff:
                        obs.delete(self.store_client, meta["path"])
                        freed += int(meta["size"])
        contents, blobs = self._listing()
        old = {key: size for key, (size, modified) in blobs.items() if modified < cutoff}
        if old:
            referenced = set(self._aliases(contents).values())
            with _errors(self, "clean abandoned uploads in", BLOBS):
                for key, size in old.items():
                    if key not in referenced:
                        obs.delete(self.store_client, key)
                        freed += size
        try:
            self.abort_incomplete_uploads(cutoff)
        except CatalogError as exc:  # a server without these requests: the rest of gc still holds
            import sys

            sys.stderr.write(f"runnable: warning: {exc}; a bucket lifecycle rule (AbortIncompleteMultipartUpload) "
                             "can abort incomplete uploads instead\n")
        return freed

    def abort_incomplete_uploads(self, started_before: float) -> int:
        """Abort the incomplete multipart uploads below the prefix started before ``started_before``
        (epoch seconds); return how many. Nothing without credentials to sign with (a role): a
        lifecycle rule cleans those (docs/s3.md)."""
        from runnable.backends.s3.uploads import UploadsClient, abort_stale, credentials

        creds = credentials(_file_credentials(self._secrets_file))
        if creds is None:
            return 0
        client = UploadsClient(self.bucket, self.endpoint_url, _region(self._region), creds)
        return abort_stale(client, f"{self.prefix}/" if self.prefix else "", started_before)


