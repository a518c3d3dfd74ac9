"""Check stored content against the hashes a run recorded.

Each file of a run gets one of four verdicts:

* ``OK``       the bytes match the recorded hash;
* ``CORRUPT``  the stored copy exists but its bytes no longer match (bit rot, a hand edit), or it
  is a symbolic link or not a regular file (never read through: it could show any file);
* ``CHANGED``  a hash-only entry (``store_copy=False``) whose file in the working folder differs;
* ``MISSING``  the stored copy (its object, or the run folder's copy), or the working-folder file
  of a hash-only entry, is gone.

>>> check_working(Path("."), FileEntry("no/such/file", 1, {"md5": "0" * 32}, False)).state
'MISSING'
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from runnable.backends.protocols import RunFilesAreObjects, Storage
from runnable.errors import CatalogError, IntegrityError, UnsafeStoredFileError
from runnable.files.hashing import Hasher, hash_file, hash_reader, new_hasher
from runnable.record import FileEntry, RunRecord, check_rel_path

OK, CHANGED, MISSING, CORRUPT = "OK", "CHANGED", "MISSING", "CORRUPT"


@dataclass
class FileCheck:
    """The verdict on one file of a run."""

    path: str
    state: str  # OK / CHANGED / MISSING / CORRUPT
    stored: bool
    expected: str  # "md5:..." as recorded
    actual: str | None = None  # what we found, when we could hash something
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == OK


@dataclass
class RunCheck:
    """Every verdict for one run; ``error`` is set when the record itself could not be read."""

    run_id: str
    files: list[FileCheck] = field(default_factory=list)
    error: str | None = None
    # A run folder in the catalog with no record (see History.orphan_run_folders); ``error`` says so.
    orphan: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.ok for f in self.files)


ORPHAN = ("a run folder with no record: left by a gc that was interrupted, or its record was deleted by "
          "hand; its files keep their stored bytes and block the run id: `runnable gc` removes it")


def open_stored(storage: Storage, run_id: str, entry: FileEntry) -> BinaryIO:
    """Open the stored copy of ``entry``: its object by hash, else the run's file.

    Raises FileNotFoundError if neither exists, UnsafeStoredFileError (never a fallback) if the one
    found is a symbolic link. The bytes are not checked; see ``VerifiedReader``.
    """
    try:
        return storage.open_object(entry.algorithm, entry.digest)
    except FileNotFoundError:
        return storage.open_run_file(run_id, entry.path)


class VerifiedReader(io.RawIOBase):
    """Reads a stored file and raises IntegrityError at its end if the bytes do not match the record.

    >>> import io
    >>> e = FileEntry("a.txt", 3, {"md5": "900150983cd24fb0d6963f7d28e17f72"}, True)
    >>> VerifiedReader(io.BytesIO(b"abc"), e).read()
    b'abc'
    """

    def __init__(self, stream: BinaryIO, entry: FileEntry) -> None:
        super().__init__()
        self._stream = stream
        self._entry = entry
        self._hasher: Hasher = new_hasher(entry.algorithm)
        self._size = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        n = len(data)
        if n:
            buffer[:n] = data
            self._hasher.update(data)
            self._size += n
        elif not self._checked:
            self._checked = True
            digest = self._hasher.hexdigest()
            if digest != self._entry.digest or self._size != self._entry.size:
                entry = self._entry
                error = IntegrityError(
                    f"stored copy of {entry.path!r} is corrupt: expected {entry.algorithm} "
                    f"{entry.digest} ({entry.size} bytes), read {digest} ({self._size} bytes)"
                )
                error.detail = (f"expected {entry.algorithm}:{entry.digest} ({entry.size} bytes), "
                                f"read {entry.algorithm}:{digest} ({self._size} bytes)")
                raise error
        return n

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


def check_stored(storage: Storage, run_id: str, entry: FileEntry) -> FileCheck:
    """Re-hash the object of ``entry``, then check the run folder's copy.

    Both must be there: the object is what later runs share and what gc accounts for, and the run
    folder is what people browse and the spec promises. An object deleted while the run folder's
    copy remains is MISSING (the run folder's copy is still checked, so the detail says whether a
    restore would work). A stored file that is a symbolic link (or not a regular file) is never read
    through: it is CORRUPT. When the storage can tell that the run's file *is* the object (a hard
    link), it is not read twice.
    """
    expected = f"{entry.algorithm}:{entry.digest}"
    try:
        with storage.open_object(entry.algorithm, entry.digest) as stream:
            digest, size = hash_reader(stream, entry.algorithm)
    except FileNotFoundError:
        return _object_gone(storage, run_id, entry, expected)
    except UnsafeStoredFileError as exc:
        return FileCheck(entry.path, CORRUPT, True, expected, detail=str(exc))
    except (OSError, CatalogError) as exc:
        return FileCheck(entry.path, MISSING, True, expected, detail=f"cannot read the stored copy: {exc}")
    actual = f"{entry.algorithm}:{digest}"
    if digest != entry.digest or size != entry.size:
        return FileCheck(entry.path, CORRUPT, True, expected, actual,
                         f"stored copy has {size} bytes hashing to {digest}")
    try:
        if not (isinstance(storage, RunFilesAreObjects)
                and storage.run_file_is_object(run_id, entry.path, entry.algorithm, entry.digest)):
            with storage.open_run_file(run_id, entry.path) as stream:
                run_digest, run_size = hash_reader(stream, entry.algorithm)
            if run_digest != entry.digest or run_size != entry.size:
                return FileCheck(entry.path, CORRUPT, True, expected, f"{entry.algorithm}:{run_digest}",
                                 f"the run folder's copy has {run_size} bytes hashing to {run_digest}")
    except FileNotFoundError:
        return FileCheck(entry.path, MISSING, True, expected, actual, "the run folder's copy is gone")
    except UnsafeStoredFileError as exc:
        return FileCheck(entry.path, CORRUPT, True, expected, actual, f"the run folder's copy: {exc}")
    except (OSError, CatalogError) as exc:
        return FileCheck(entry.path, MISSING, True, expected, actual, f"cannot read the run folder's copy: {exc}")
    return FileCheck(entry.path, OK, True, expected, actual)


def check_object(storage: Storage, entry: FileEntry) -> FileCheck:
    """Re-hash the object of an earlier version a pipeline step stored (its path now names a later
    version in the run folder, so the object is its only copy)."""
    expected = f"{entry.algorithm}:{entry.digest}"
    try:
        with storage.open_object(entry.algorithm, entry.digest) as stream:
            digest, size = hash_reader(stream, entry.algorithm)
    except FileNotFoundError:
        return FileCheck(entry.path, MISSING, True, expected,
                         detail="the stored copy of an earlier version (a later step put the path again) is gone")
    except UnsafeStoredFileError as exc:
        return FileCheck(entry.path, CORRUPT, True, expected, detail=str(exc))
    except (OSError, CatalogError) as exc:
        return FileCheck(entry.path, MISSING, True, expected, detail=f"cannot read the stored copy: {exc}")
    actual = f"{entry.algorithm}:{digest}"
    if digest != entry.digest or size != entry.size:
        return FileCheck(entry.path, CORRUPT, True, expected, actual, f"stored copy has {size} bytes hashing to {digest}")
    return FileCheck(entry.path, OK, True, expected, actual)


def _object_gone(storage: Storage, run_id: str, entry: FileEntry, expected: str) -> FileCheck:
    """The verdict when the object of ``entry`` is gone: MISSING, saying what the run folder holds."""
    gone = f"its object {expected} is gone from the object store"
    try:
        with storage.open_run_file(run_id, entry.path) as stream:
            run_digest, run_size = hash_reader(stream, entry.algorithm)
    except FileNotFoundError:
        return FileCheck(entry.path, MISSING, True, expected, detail="the stored copy is gone")
    except UnsafeStoredFileError as exc:
        return FileCheck(entry.path, CORRUPT, True, expected, detail=f"{gone}, and the run folder's copy: {exc}")
    except (OSError, CatalogError) as exc:
        return FileCheck(entry.path, MISSING, True, expected, detail=f"{gone}, and the run folder's copy cannot "
                                                                    f"be read: {exc}")
    actual = f"{entry.algorithm}:{run_digest}"
    if run_digest != entry.digest or run_size != entry.size:
        return FileCheck(entry.path, CORRUPT, True, expected, actual,
                         f"{gone}, and the run folder's copy has {run_size} bytes hashing to {run_digest}")
    return FileCheck(entry.path, MISSING, True, expected, actual,
                     f"{gone}; the run folder's copy is whole (a restore still works from it; the next run "
                     "storing this content stores it again)")


def check_working(folder: Path, entry: FileEntry) -> FileCheck:
    """Compare a hash-only entry with the file now in the working folder."""
    expected = f"{entry.algorithm}:{entry.digest}"
    path = folder.joinpath(*check_rel_path(entry.path).split("/"))
    if not path.is_file():
        return FileCheck(entry.path, MISSING, False, expected, detail=f"no file {path}")
    try:
        digest, size = hash_file(path, entry.algorithm)
    except OSError as exc:
        return FileCheck(entry.path, MISSING, False, expected, detail=f"cannot read {path}: {exc.strerror}")
    actual = f"{entry.algorithm}:{digest}"
    if digest != entry.digest:
        return FileCheck(entry.path, CHANGED, False, expected, actual,
                         f"{path} has changed since the run ({size} bytes now)")
    return FileCheck(entry.path, OK, False, expected, actual)


def iter_entries(record: RunRecord) -> Iterator[FileEntry]:
    """The run's files, its pickled returns, its execution log, then the earlier versions its
    pipeline steps stored (``earlier_versions``): everything gc must keep and verify check."""
    yield from record.files
    yield from record.objects.values()
    if record.execution_log is not None:
        yield record.execution_log
    yield from earlier_versions(record)


def earlier_versions(record: RunRecord) -> Iterator[FileEntry]:
    """The stored versions only a pipeline's step entries name: a later step put the same path
    again, so the run's ``files`` (and its folder) hold another version; the object store holds this one."""
    if not record.steps:
        return
    from runnable.pipeline.record import stored_versions

    seen = {(e.algorithm, e.digest) for e in (*record.files, *record.objects.values())}
    if record.execution_log is not None:
        seen.add((record.execution_log.algorithm, record.execution_log.digest))
    for _step, entry in stored_versions(record.steps):
        if entry.stored and (entry.algorithm, entry.digest) not in seen:
            seen.add((entry.algorithm, entry.digest))
            yield entry


def verify_record(record: RunRecord, storage: Storage, working_folder: Path) -> RunCheck:
    """Check every file of ``record``: stored copies by re-hashing, hash-only entries in the folder."""
    result = RunCheck(record.run_id)
    earlier = {id(e) for e in (*record.files, *record.objects.values(), record.execution_log)}
    for entry in iter_entries(record):
        if entry.stored and id(entry) not in earlier:  # an earlier version: only its object exists
            result.files.append(check_object(storage, entry))
        elif entry.stored:
            result.files.append(check_stored(storage, record.run_id, entry))
        else:
            result.files.append(check_working(working_folder, entry))
    return result
