"""In-memory backends: a catalog storage and a run-log store that keep everything in this process.

Test-grade but real: they implement the same protocols as the folder and S3 backends, and the
contract suite (``tests/backends/contract/``) runs them through the same tests. They show the least
a new backend has to do: read each source once through ``files/hashing.py`` (``PartReader``: the
change check comes with it), refuse unsafe names with ``record.check_run_id``/``check_rel_path``,
make a store all-or-nothing, and encode records with ``backends/runlog.py``'s ``encode``.
Nothing survives the process: they are not registered as a configurable type.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

from runnable.backends.protocols import Stored
from runnable.backends.runlog import decode, encode
from runnable.errors import RunNotFoundError
from runnable.files.hashing import PartReader
from runnable.record import RunRecord, check_rel_path, check_run_id

# Parts read at once from a source: large enough that a 1 GiB file is a few hundred reads.
_PART = 4 * 1024 * 1024


class MemoryStorage:
    """A content-addressed catalog in a dict: each distinct content once, runs as names of objects."""

    def __init__(self, name: str = "catalog") -> None:
        self.location = f"memory://{name}"
        self._objects: dict[tuple[str, str], bytes] = {}
        self._runs: dict[str, dict[str, tuple[str, str]]] = {}  # run id -> rel -> (algorithm, digest)
        self._lock = threading.Lock()

    def store(
        self,
        run_id: str,
        rel: str,
        source: str | os.PathLike[str],
        algorithm: str,
        progress: Callable[[int], None] | None = None,
    ) -> Stored:
        check_run_id(run_id)
        check_rel_path(rel)
        reader = PartReader(source, algorithm, _PART, progress)
        data = b"".join(reader)  # all read before anything is kept: an interrupted store keeps nothing
        assert reader.digest is not None
        key = (reader.algorithm, reader.digest)
        with self._lock:
            new = key not in self._objects
            if new:
                self._objects[key] = data
            self._runs.setdefault(run_id, {})[rel] = key
        return Stored(reader.digest, reader.size, f"{self.location}/{run_id}/{rel}", new)

    def run_location(self, run_id: str) -> str:
        return f"{self.location}/{check_run_id(run_id)}"

    def open_run_file(self, run_id: str, rel: str) -> BinaryIO:
        with self._lock:
            key = self._runs.get(check_run_id(run_id), {}).get(check_rel_path(rel))
            data = self._objects.get(key) if key is not None else None
        if data is None:
            raise FileNotFoundError(f"{self.location}/{run_id}/{rel}")
        return io.BytesIO(data)

    def open_object(self, algorithm: str, digest: str) -> BinaryIO:
        with self._lock:
            data = self._objects.get((algorithm, digest))
        if data is None:
            raise FileNotFoundError(f"{self.location}/.objects/{algorithm}/{digest}")
        return io.BytesIO(data)

    def has_object(self, algorithm: str, digest: str) -> bool:
        with self._lock:
            return (algorithm, digest) in self._objects

    def iter_objects(self) -> Iterator[tuple[str, str, int]]:
        with self._lock:
            listed = [(algorithm, digest, len(data)) for (algorithm, digest), data in self._objects.items()]
        yield from listed

    def delete_object(self, algorithm: str, digest: str) -> int:
        with self._lock:
            data = self._objects.pop((algorithm, digest), None)
        return 0 if data is None else len(data)

    def delete_run(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(check_run_id(run_id), None)

    def clean_temporaries(self, older_than_seconds: float) -> int:
        return 0  # a store keeps nothing until it is complete: there are no temporaries

    def iter_run_ids(self) -> Iterator[str]:
        """Every run with a folder (``RunFolders``)."""
        with self._lock:
            listed = list(self._runs)
        yield from listed


class MemoryRunLogStore:
    """Run records in a dict, encoded as the other stores write them; with the listing index and
    the content index beside them."""

    def __init__(self, name: str = "run-log-store") -> None:
        self.location = f"memory://{name}"
        self._records: dict[str, tuple[bytes, int]] = {}  # run id -> (encoded record, write number)
        self._index: bytes | None = None
        self._content: dict[str, bytes] = {}
        self._snapshot: bytes | None = None
        self._writes = itertools.count(1)
        self._lock = threading.Lock()

    def create(self, record: RunRecord) -> bool:
        data = encode(record)
        with self._lock:
            if check_run_id(record.run_id) in self._records:
                return False
            self._records[record.run_id] = (data, next(self._writes))
            return True

    def put(self, record: RunRecord) -> None:
        data = encode(record)
        with self._lock:
            self._records[check_run_id(record.run_id)] = (data, next(self._writes))

    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            found = self._records.get(check_run_id(run_id))
        if found is None:
            raise RunNotFoundError(f"no run {run_id!r} in the run-log store {self.location}")
        return decode(found[0], f"{self.location}/{run_id}")

    def exists(self, run_id: str) -> bool:
        with self._lock:
            return check_run_id(run_id) in self._records

    def iter_ids(self) -> Iterator[str]:
        with self._lock:
            listed = list(self._records)
        yield from listed

    def delete(self, run_id: str) -> None:
        with self._lock:
            self._records.pop(check_run_id(run_id), None)

    # -- the listing index (IndexedRunLogStore) ---------------------------------------------
    def iter_stamps(self) -> Iterator[tuple[str, str]]:
        with self._lock:
            listed = [(run_id, str(number)) for run_id, (_, number) in self._records.items()]
        yield from listed

    def read_index(self) -> bytes | None:
        return self._index

    def write_index(self, data: bytes) -> None:
        self._index = bytes(data)

    # -- temporaries (CleanableRunLogStore) ---------------------------------------------------
    def clean_temporaries(self, older_than_seconds: float) -> int:
        return 0  # every write is one assignment: there are no temporaries

    # -- the content index (ContentIndexedRunLogStore) ----------------------------------------
    def write_content(self, run_id: str, data: bytes) -> None:
        with self._lock:
            self._content[check_run_id(run_id)] = bytes(data)

    def read_content(self, run_id: str) -> bytes | None:
        with self._lock:
            return self._content.get(check_run_id(run_id))

    def delete_content(self, run_id: str) -> None:
        with self._lock:
            self._content.pop(check_run_id(run_id), None)

    def iter_content_ids(self) -> Iterator[str]:
        with self._lock:
            listed = list(self._content)
        yield from listed

    def read_content_snapshot(self) -> bytes | None:
        return self._snapshot

    def write_content_snapshot(self, data: bytes) -> None:
        self._snapshot = bytes(data)
