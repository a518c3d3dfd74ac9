"""The catalog in S3-compatible object storage (AWS S3, MinIO, Ceph, R2, ...); the run records are
``runlog.py``'s and the connection ``client.py``'s, in this folder.

Configuration (credentials come from the usual ``AWS_*`` environment variables, or from a dotenv
file named by ``secrets_file``; they are never written to records or logs)::

    catalog:
      type: s3
      config: {bucket: my-bucket, prefix: team/catalog, endpoint_url: http://127.0.0.1:9000, region: us-east-1}
    run-log-store:
      type: s3
      config: {bucket: my-bucket, prefix: team/runs}

Keys under ``prefix`` mirror the file-system catalog, so a person with any S3 browser finds a run's
files by run id and relative path::

    {prefix}/.objects/md5/90/0150983cd24fb0d6963f7d28e17f72   each distinct content once: its bytes,
                                                             or an alias naming a blob (large files)
    {prefix}/.objects/blobs/{uuid}                           the bytes of a large file, uploaded once
    {prefix}/{run-id}/{relative path}                        the run's files (pointers by default)
    {run-log prefix}/{run-id}.json                           the run record, written last

How a file is stored, reading it exactly once:

* up to one part (8 MiB): read into memory and hashed; if the content key exists nothing is uploaded
  (the run file is a pointer, or a server-side copy), else one PUT;
* larger, ``run_files: pointer`` (the default): streamed as a multipart upload while it is hashed,
  to a *blob* key that is final from the start; once the hash is known, the content key is created
  as a small *alias* naming the blob with a conditional PUT (``If-None-Match: *``). If the content
  was already stored (or a racing store won the create) the blob is deleted again. Nothing is ever
  copied server-side, so there is no 5 GiB ``CopyObject`` limit;
* larger, ``run_files: copy``: streamed to the run key itself (the upload *is* the browsable copy),
  then server-side copied to the content key only if that content is new (``CopyObject``: at most
  5 GiB on AWS).

Memory stays at about ``part_size x (max_concurrency + 2)`` whatever the file size. If anything
fails mid-stream the multipart upload is aborted, so no object that looks complete appears. A blob
left by a killed process (uploaded, no alias yet) is removed by ``clean_temporaries`` (``runnable
gc``) once it is older than the grace period and no alias names it.
* ``hash_first: true`` hashes large files before uploading: unchanged content then uploads zero
  bytes, at the price of a second local read for new content.

Stored content is reused only if it checks out, never on the existence of its key alone: a small
content must match in size and ETag (its MD5), or else in bytes, and is otherwise replaced by a
plain PUT; an alias must parse and name a blob of the right size (and the ETag the alias recorded),
else the fresh upload is kept and the alias replaced. Checking costs at most one small extra
request and never reads a large blob back.

The client is ``obstore`` (Rust ``object_store``): multipart streaming with bounded memory,
conditional ``create`` puts (run ids stay unique across machines), retries with backoff, and no
heavy import: it is imported in ``client.py`` only, and that only when ``type: s3`` is configured.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
import uuid
from collections.abc import Callable, Iterator

from runnable.backends.protocols import Stored, last_change_ns
from runnable.backends.s3 import AWS_VARIABLES
from runnable.backends.s3.client import (
    _MAX_RETRIES,
    _clean_prefix,
    _obstore,
    _s3_error,
    _url,
    bucket_missing,
    connect,
)
from runnable.backends.s3.layout import (
    _ALIAS_MAX,
    _ALIAS_TYPE,
    _POINTER_TYPE,
    _RUN_FILE_MODES,
    BLOBS,
    MAX_CONCURRENCY,
    OBJECTS,
    PART_SIZE,
    TMP,
)
from runnable.backends.s3.reading import StoredObjects
from runnable.errors import CatalogError, ConfigurationError
from runnable.files.fileio import SourceChangedError
from runnable.files.hashcache import HashCache
from runnable.files.hashing import PartReader, hash_file_status

__all__ = ["BLOBS", "MAX_CONCURRENCY", "OBJECTS", "PART_SIZE", "TMP", "S3Storage"]


class S3Storage(StoredObjects):
    """A catalog in an S3 bucket (``catalog: {type: s3, config: {bucket, prefix, ...}}``).

    ``run_files`` chooses what a run's folder holds: ``pointer`` (default) a tiny object naming the
    content, so each distinct content is stored exactly once; ``copy`` a real, downloadable copy of
    each file (server-side copies cost storage per run, never upload bandwidth).

    >>> # S3Storage("my-bucket", "team/catalog", endpoint_url="http://127.0.0.1:9000").location
    >>> # 's3://my-bucket/team/catalog'
    """

    #: Credentials come from these variables when no secrets file gives them (``EnvironmentCredentials``).
    credential_variables = AWS_VARIABLES

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        run_files: str = "pointer",
        hash_first: bool = False,
        part_size: int = PART_SIZE,
        max_concurrency: int = MAX_CONCURRENCY,
        secrets_file: str | None = None,
        max_retries: int = _MAX_RETRIES,
    ) -> None:
        if run_files not in _RUN_FILE_MODES:
            raise ConfigurationError(f"catalog (s3): run_files must be one of {', '.join(_RUN_FILE_MODES)}, "
                                     f"not {run_files!r}")
        if part_size < 5 * 1024 * 1024:
            raise ConfigurationError(f"catalog (s3): part_size must be at least 5 MiB (S3's minimum), not {part_size}")
        self.bucket = bucket
        self.prefix = _clean_prefix(prefix)
        self.endpoint_url = endpoint_url
        self.run_files = run_files
        self.hash_first = bool(hash_first)
        self.part_size = int(part_size)
        self.max_concurrency = max(1, int(max_concurrency))
        self.store_client = connect(bucket, self.prefix, endpoint_url, region, secrets_file, max_retries)
        self.location = _url(bucket, self.prefix)
        self._region = region
        self._secrets_file = secrets_file  # its path only: the credentials are read when gc needs them
        self._lock = threading.Lock()
        self._cache: HashCache | None = None  # read on the first large file
        #: Bytes this object sent to the store (uploads; server-side copies send none).
        self.bytes_uploaded = 0

    def __repr__(self) -> str:  # never shows credentials: they are not attributes of this object
        return f"S3Storage({self.location!r}, endpoint_url={self.endpoint_url!r}, run_files={self.run_files!r})"

    # -- storing ----------------------------------------------------------------------------
    def store(
        self,
        run_id: str,
        rel: str,
        source: str | os.PathLike[str],
        algorithm: str,
        progress: Callable[[int], None] | None = None,
    ) -> Stored:
        run_key = self.run_key(run_id, rel)
        location = _url(self.bucket, self.prefix, run_key)
        info = os.stat(source)
        size = info.st_size
        changed = last_change_ns(info)  # from the stat that chooses how to store: no extra request
        try:
            if size <= self.part_size:
                digest, size, new = self._store_small(source, algorithm, progress)
                object_key = self.object_key(algorithm, digest)
                self._present(run_key, object_key, algorithm, digest, size, object_key)  # checked: holds the bytes
                return Stored(digest=digest, size=size, location=location, new=new, changed_ns=changed)
            # As the local catalog: a stored output the hash cache knows unchanged is neither read nor
            # uploaded (an unchanged 1 GiB output costs a stat and a HEAD). Never through a link.
            cache = self._hash_cache()
            regular = os.lstat(source)
            with self._lock:  # files are stored from several threads (runnable.files.put)
                known = cache.lookup(regular, algorithm) if stat.S_ISREG(regular.st_mode) else None
            if known is not None:
                _exists, data_key = self._check_large(self.object_key(algorithm, known), size)
                if data_key is not None:  # else read and upload it as new content
                    if progress:
                        progress(size)
                    self._present(run_key, self.object_key(algorithm, known), algorithm, known, size, data_key)
                    return Stored(digest=known, size=size, location=location, new=False, changed_ns=changed)
            stored = self._store_large(source, run_key, location, algorithm, size, changed, progress)
            if stat.S_ISREG(regular.st_mode) and _status(os.lstat(source)) == _status(regular):
                # Unchanged from before it was read to after (the shared reader also refuses a
                # change while it reads): the digest is this status's.
                with self._lock:
                    cache.remember(regular, algorithm, stored.digest)
                    cache.save()
            return stored
        except (SourceChangedError, CatalogError, PermissionError, IsADirectoryError):
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.filename:
                raise
            if isinstance(exc, FileNotFoundError) and not bucket_missing(self):
                raise
            raise _s3_error(self, "store", f"{source} as {location}", exc) from exc

    def _hash_cache(self) -> HashCache:
        """This machine's hash cache (``runnable.files.hashcache``), read on the first large file."""
        with self._lock:
            if self._cache is None:
                self._cache = HashCache.default()
            return self._cache

    def _store_large(
        self, source: str | os.PathLike[str], run_key: str, location: str, algorithm: str, size: int,
        changed: int, progress: Callable[[int], None] | None,
    ) -> Stored:
        """A file larger than one part: hashed first (``hash_first``), or streamed to a blob (pointer
        mode) or to the run key (copy mode) while it is hashed."""
        obs = _obstore()
        if self.hash_first:
            digest, size, _ = hash_file_status(source, algorithm)  # the file itself, never a link
            _exists, data_key = self._check_large(self.object_key(algorithm, digest), size)
            if data_key is not None:  # else upload it as new content, which repairs the key
                if progress:
                    progress(size)
                self._present(run_key, self.object_key(algorithm, digest), algorithm, digest, size, data_key)
                return Stored(digest=digest, size=size, location=location, new=False, changed_ns=changed)
        if self.run_files == "pointer":
            digest, size, new = self._store_blob(source, algorithm, progress)
            self._present(run_key, self.object_key(algorithm, digest), algorithm, digest, size)
            return Stored(digest=digest, size=size, location=location, new=new, changed_ns=changed)
        try:
            digest, size, _etag = self._stream_upload(source, run_key, algorithm, progress)
            object_key = self.object_key(algorithm, digest)
            _exists, data_key = self._check_large(object_key, size)
            new = data_key is None
            if new:
                # Two runs storing the same new content may both copy: the bytes are identical.
                # A damaged content key is replaced the same way (its old blob, if any, is an
                # orphan that gc removes).
                obs.copy(self.store_client, run_key, object_key)
        except BaseException:
            self._delete_quietly(run_key)
            raise
        return Stored(digest=digest, size=size, location=location, new=new, changed_ns=changed)

    def _store_small(
        self, source: str | os.PathLike[str], algorithm: str, progress: Callable[[int], None] | None
    ) -> tuple[str, int, bool]:
        """One read into memory (at most one part), then one PUT only if the content is new or the
        object at its key does not hold exactly these bytes (a plain PUT replaces it atomically).
        Read by the shared reader: a change while reading (size or modification time) is refused."""
        reader = PartReader(source, algorithm, self.part_size, progress)
        parts: list[bytes] = []
        for part in reader:
            parts.append(part)
            if len(parts) > 1:  # it grew past one part since it was measured: not read on into memory
                raise SourceChangedError(f"{source} grew while it was being stored; store it again once it is complete")
        data = parts[0] if parts else b""
        digest = str(reader.digest)
        if self._holds(self.object_key(algorithm, digest), data):
            return digest, len(data), False
        _obstore().put(self.store_client, self.object_key(algorithm, digest), data, use_multipart=False)
        self._count(len(data))
        return digest, len(data), True

    def _store_blob(
        self, source: str | os.PathLike[str], algorithm: str, progress: Callable[[int], None] | None
    ) -> tuple[str, int, bool]:
        """Stream ``source`` to a fresh blob, then claim its content key with an alias (no copy).

        The alias is created with a conditional PUT, so of two stores racing with the same new
        content exactly one alias (and one blob) survives; the loser deletes its blob. An existing
        content key is reused only if it checks out (``_check_large``); else the fresh blob is kept
        and the alias replaced to name it (two racing repairs may leave one orphan blob for gc).
        """
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        obs = _obstore()
        blob_key = f"{BLOBS}/{uuid.uuid4().hex}"
        try:
            digest, size, etag = self._stream_upload(source, blob_key, algorithm, progress)
            object_key = self.object_key(algorithm, digest)
            exists, data_key = self._check_large(object_key, size)
            new = data_key is None
            if new:
                # The blob's ETag lets a later store see that the blob was replaced (same size,
                # other bytes) from the HEAD it makes anyway, without reading the blob again.
                alias = json.dumps({"blob": blob_key, "hash": {algorithm: digest}, "size": size,
                                    "etag": etag}).encode()
                try:
                    obs.put(self.store_client, object_key, alias, mode="overwrite" if exists else "create",
                            attributes={"Content-Type": _ALIAS_TYPE}, use_multipart=False)
                except (AlreadyExistsError, PreconditionError):
                    new = False
        except BaseException:
            self._delete_quietly(blob_key)
            raise
        if not new:
            self._delete_quietly(blob_key)  # the content was already stored: nothing new is kept
        return digest, size, new

    def _stream_upload(
        self, source: str | os.PathLike[str], key: str, algorithm: str, progress: Callable[[int], None] | None
    ) -> tuple[str, int, str | None]:
        """Upload ``source`` to ``key`` in parts while hashing it: one read, bounded memory.
        Returns the digest, the size and the ETag S3 gave the upload.

        Any exception while reading (including one raised by ``progress``, or a change of the file) stops
        the generator, which makes obstore abort the multipart upload: nothing appears at ``key``.
        """
        reader = PartReader(source, algorithm, self.part_size, progress)

        def parts() -> Iterator[bytes]:  # the reader's parts, each counted as it is handed to obstore
            for part in reader:
                self._count(len(part))
                yield part

        result = _obstore().put(
            self.store_client,
            key,
            parts(),
            use_multipart=True,
            chunk_size=self.part_size,
            max_concurrency=self.max_concurrency,
        )
        return str(reader.digest), reader.size, result.get("e_tag")

    def _holds(self, object_key: str, data: bytes) -> bool:
        """True if ``object_key`` holds exactly ``data``, a small content in memory: the HEAD a
        dedup costs anyway gives the size and, for a single-part upload, the MD5 as ETag. Only when
        the ETag cannot tell (a multipart or encrypted object: SSE-KMS ETags are not MD5s) is the
        object read, at most one part. False if it is missing or holds anything else."""
        obs = _obstore()
        try:
            meta = obs.head(self.store_client, object_key)
        except FileNotFoundError:
            return False
        if int(meta["size"]) != len(data):
            return False
        etag = str(meta.get("e_tag") or "").strip('"').lower()
        if re.fullmatch(r"[0-9a-f]{32}", etag) and etag == hashlib.md5(data, usedforsecurity=False).hexdigest():
            return True
        try:
            return bytes(obs.get(self.store_client, object_key).bytes()) == data
        except FileNotFoundError:
            return False

    def _check_large(self, object_key: str, size: int) -> tuple[bool, str | None]:
        """Whether ``object_key`` exists, and the key holding its ``size`` bytes if it checks out.

        Never reads the bytes again (that would double the cost of a store): one GET of at most
        1 KiB of the content key (its type, full size and, for an alias, the alias) and, for an
        alias, a 1-byte GET of its blob: it must exist with ``size`` bytes and, if the alias
        recorded the blob's ETag, still have it. Content held at the key itself (``copy`` mode) is
        checked by size only.
        """
        found = self._peek(object_key, _ALIAS_MAX + 1)
        if found is None:
            return False, None
        full_size, _etag, content_type, head = found
        if full_size > _ALIAS_MAX or content_type != _ALIAS_TYPE:
            return True, object_key if full_size == size else None
        try:
            blob_key = self._alias_target(object_key, head)
            expected_etag = json.loads(head).get("etag")
        except (CatalogError, AttributeError):
            return True, None
        blob = self._peek(blob_key, 1)
        if blob is None or blob[0] != size or (expected_etag is not None and blob[1] != expected_etag):
            return True, None
        return True, blob_key

    def _peek(self, key: str, length: int) -> tuple[int, str | None, str | None, bytes] | None:
        """One GET of the first ``length`` bytes of ``key``: its full size, ETag, content type and
        those bytes; None if it is missing. (A GET, not a HEAD: it also gives the content type.)"""
        from obstore.exceptions import BaseError

        try:
            result = _obstore().get(self.store_client, key, options={"range": (0, length)})
            head = bytes(result.bytes())
        except FileNotFoundError:
            return None
        except BaseError as exc:
            if "InvalidRange" in str(exc):  # an empty object: it has no range at all
                return 0, None, None, b""
            raise
        return int(result.meta["size"]), result.meta.get("e_tag"), result.attributes.get("Content-Type"), head

    def _present(
        self, run_key: str, object_key: str, algorithm: str, digest: str, size: int, data_key: str | None = None
    ) -> None:
        """Make the run's file show the object: a server-side copy (of ``data_key``, the checked key
        holding its bytes, when known), or a pointer object."""
        obs = _obstore()
        if self.run_files == "copy":
            obs.copy(self.store_client, data_key or self._data_key(object_key), run_key)
            return
        pointer = json.dumps({"object": object_key, "hash": {algorithm: digest}, "size": size}).encode()
        obs.put(self.store_client, run_key, pointer, attributes={"Content-Type": _POINTER_TYPE}, use_multipart=False)

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_uploaded += n


def _status(info: os.stat_result) -> tuple[int, int, int, int, int]:
    """What the hash cache keys a file by: the same five values, the same bytes."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
