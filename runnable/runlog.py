"""Run-log stores: where run records live, one JSON document per run.

The file-system store keeps ``{log_folder}/{run_id}.json``. Creating a record is exclusive (the run
id is reserved atomically: a hard link of a complete temporary file, which fails if the name exists),
and every later write replaces the whole file atomically.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from runnable.errors import RecordError, RunNotFoundError
from runnable.record import RunRecord, check_run_id
from runnable.transfer import (
    TEMP_PREFIX,
    atomic_write_bytes,
    make_location,
    refuse_non_folder,
    refuse_working_folder,
    temp_name,
)


@runtime_checkable
class RunLogStore(Protocol):
    """The primitive operations of a run-log backend."""

    location: str

    def create(self, record: RunRecord) -> bool:
        """Write a record whose id must be new; return False (writing nothing) if the id exists."""
        ...

    def put(self, record: RunRecord) -> None:
        """Write (replace) the record atomically."""
        ...

    def get(self, run_id: str) -> RunRecord:
        """Read one record; RunNotFoundError if absent, RecordError if unreadable."""
        ...

    def exists(self, run_id: str) -> bool: ...

    def iter_ids(self) -> Iterator[str]:
        """Every run id in the store, in no particular order."""
        ...

    def delete(self, run_id: str) -> None: ...


@runtime_checkable
class IndexedRunLogStore(RunLogStore, Protocol):
    """A run-log store that can keep a listing index beside its records (optional, for speed).

    The index is a cache: ``runnable.index`` rebuilds whatever the stamps show to be stale, so the
    records stay the only source of truth. A store without these methods still works; listing then
    reads every record.
    """

    def iter_stamps(self) -> Iterator[tuple[str, str]]:
        """Every run id with a stamp that changes whenever its record is written (mtime, ETag)."""
        ...

    def read_index(self) -> bytes | None:
        """The last index written, or None if there is none."""
        ...

    def write_index(self, data: bytes) -> None:
        """Replace the index atomically."""
        ...


@runtime_checkable
class CleanableRunLogStore(RunLogStore, Protocol):
    """A run-log store that can remove temporary files abandoned by crashed writers (optional)."""

    def clean_temporaries(self, older_than_seconds: float) -> int:
        """Remove temporaries older than this; return the bytes freed."""
        ...


@runtime_checkable
class ContentIndexedRunLogStore(RunLogStore, Protocol):
    """A run-log store that keeps the content index beside its records (optional; see
    ``runnable.contentindex``): one small entry per finished run, written after its record and only
    by that run, so concurrent runs never write the same file; and a merged snapshot, a cache any
    reader may replace, valid for the runs it names while their entries exist.
    """

    def write_content(self, run_id: str, data: bytes) -> None:
        """Write (replace) the run's content entry atomically."""
        ...

    def read_content(self, run_id: str) -> bytes | None:
        """The run's content entry, or None if it has none."""
        ...

    def delete_content(self, run_id: str) -> None: ...

    def iter_content_ids(self) -> Iterator[str]:
        """Every run id with a content entry (names only: an entry is written once)."""
        ...

    def read_content_snapshot(self) -> bytes | None: ...

    def write_content_snapshot(self, data: bytes) -> None:
        """Replace the merged snapshot atomically."""
        ...


INDEX_NAME = ".index.json"  # starts with '.': never mistaken for a run record
CONTENT_FOLDER = ".content"  # one {run_id}.json per finished run; hidden: never a record
CONTENT_SNAPSHOT = ".merged.json"  # in CONTENT_FOLDER; hidden: never a run's entry


# Records up to this many files (and inputs) are indented for people reading them; larger ones are written
# compact, because indenting switches json to its pure-Python encoder (0.1 s per 10,000 files).
_INDENT_UP_TO_FILES = 1000


def encode(record: RunRecord) -> bytes:
    """The record as UTF-8 JSON; never fails on text that is not valid Unicode.

    Python carries bytes that are not UTF-8 (in ``sys.argv``, the environment, the working
    folder's path, a job's error message) as lone surrogates such as ``'\\udcff'``, which strict
    UTF-8 refuses: a record that cannot be written would leave its run RUNNING. Only a surrogate
    can fail here (json escapes every other character that needs it), so ``backslashreplace``
    turns each one into the JSON escape ``\\udcff``, which ``json.loads`` reads back as the same
    character. One known gap: a high and a low surrogate written next to each other are read back
    as the single character they pair into (json itself does the same with ``ensure_ascii``).
    Valid text takes the same fast path as before: the handler only runs on a failure.
    """
    indent = 2 if len(record.files) + len(record.inputs) <= _INDENT_UP_TO_FILES else None
    text = json.dumps(record.to_dict(), indent=indent, ensure_ascii=False, default=str)
    return text.encode("utf-8", "backslashreplace") + b"\n"


def decode(data: bytes, origin: str) -> RunRecord:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"run record {origin} is not valid JSON ({exc}); it may be truncated") from exc
    try:
        return RunRecord.from_dict(parsed)
    except RecordError as exc:
        raise RecordError(f"run record {origin}: {exc}") from exc


class FileSystemRunLogStore:
    """Run records as JSON files in a folder (``.run_log_store`` by default)."""

    def __init__(self, log_folder: str | os.PathLike[str] = ".run_log_store") -> None:
        self.root = Path(log_folder).absolute()
        self.location = str(log_folder)

    def path(self, run_id: str) -> Path:
        return self.root / f"{check_run_id(run_id)}.json"

    def check_location(self, working_folder: Path | None = None) -> None:
        """Raise CatalogError if something that is not a folder stands where the records must go.

        The runner calls it before the job starts (see ``FileSystemStorage.check_location``); the
        file in the way is never touched.
        """
        refuse_non_folder(self.root, "the run-log store location", "log_folder")
        if working_folder is not None:
            refuse_working_folder(self.root, working_folder, "the run-log store location", "log_folder", ".run_log_store")

    def make_location(self) -> None:
        """Make the folder before the job runs (after ``check_location``), or say why it cannot be."""
        make_location(self.root, "the run-log store location", "log_folder")

    def create(self, record: RunRecord) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(record.run_id)
        tmp = temp_name(final)
        try:
            with open(tmp, "xb") as handle:
                handle.write(encode(record))
            try:
                os.link(tmp, final)  # exclusive: fails if the id is taken, even by a racing run
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)

    def put(self, record: RunRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path(record.run_id), encode(record))

    def get(self, run_id: str) -> RunRecord:
        path = self.path(run_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RunNotFoundError(f"no run {run_id!r} in the run-log store {self.location}") from None
        record = decode(data, str(path))
        if record.run_id != run_id:
            raise RecordError(f"run record {path} names run {record.run_id!r}, not {run_id!r}")
        return record

    def exists(self, run_id: str) -> bool:
        return self.path(run_id).exists()

    def _record_entries(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """``(run_id, entry)`` for every record file (hidden files: the index and temporaries)."""
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(".json") and not name.startswith("."):
                    yield name[: -len(".json")], entry

    def iter_ids(self) -> Iterator[str]:
        for run_id, _entry in self._record_entries():
            yield run_id

    def delete(self, run_id: str) -> None:
        try:
            self.path(run_id).unlink()
        except FileNotFoundError:
            pass

    # -- the listing index (see IndexedRunLogStore) -----------------------------------------
    def iter_stamps(self) -> Iterator[tuple[str, str]]:
        for run_id, entry in self._record_entries():
            try:
                st = entry.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            # Every write is a rename of a new file: a new inode, so the stamp changes even when
            # two writes land in the same clock tick with the same size.
            yield run_id, f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"

    def read_index(self) -> bytes | None:
        try:
            return (self.root / INDEX_NAME).read_bytes()
        except FileNotFoundError:
            return None

    def write_index(self, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.root / INDEX_NAME, data)

    # -- the content index (see ContentIndexedRunLogStore) ----------------------------------
    def _content_path(self, run_id: str) -> Path:
        return self.root / CONTENT_FOLDER / f"{check_run_id(run_id)}.json"

    def write_content(self, run_id: str, data: bytes) -> None:
        path = self._content_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)

    def read_content(self, run_id: str) -> bytes | None:
        try:
            return self._content_path(run_id).read_bytes()
        except FileNotFoundError:
            return None

    def delete_content(self, run_id: str) -> None:
        try:
            self._content_path(run_id).unlink()
        except FileNotFoundError:
            pass

    def iter_content_ids(self) -> Iterator[str]:
        try:  # names only, listed in C: 10,000 entries in ~3 ms (a scandir loop took ~30 ms)
            names = os.listdir(self.root / CONTENT_FOLDER)
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                yield name[:-5]

    def read_content_snapshot(self) -> bytes | None:
        try:
            return (self.root / CONTENT_FOLDER / CONTENT_SNAPSHOT).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_content_snapshot(self, data: bytes) -> None:
        folder = self.root / CONTENT_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / CONTENT_SNAPSHOT, data)

    def clean_temporaries(self, older_than_seconds: float) -> int:
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        freed = 0
        content = self.root / CONTENT_FOLDER  # the content index's temporaries too (a real folder only)
        folders = [self.root] + ([content] if content.is_dir() and not content.is_symlink() else [])
        for folder in folders:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.name.startswith(TEMP_PREFIX):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if st.st_mtime <= cutoff:
                            os.unlink(entry.path)
                            freed += st.st_size
                    except FileNotFoundError:
                        continue  # its writer finished or removed it meanwhile
        return freed
