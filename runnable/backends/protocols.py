"""The storage contract: what every catalog and run-log backend implements, and each optional ability.

A storage keeps each distinct content once, as an *object* named by its hash, and presents every run
as a folder of relative paths that point at objects. A run-log store keeps one record per run.
Everything derived -- choosing files, writing run records, restoring, verifying, garbage collection --
is written once above these protocols.

``Storage`` and ``RunLogStore`` are what every backend must have. Anything more a backend can do is
one of the small protocols below, each checked with ``isinstance`` where it is used (never by
probing for a name): a new backend implements the two required protocols, and whichever abilities it
has. The clock helpers (``last_change_ns``, ``file_clock_ns``) live here because every backend
compares a source's change time with the job's start in the same way.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from runnable.record import RunRecord

# The clock the Linux kernel stamps files with: the real-time clock as of the last tick (1-10 ms).
# time.time_ns() runs up to a tick ahead of it, so a file written 3 ms after time.time_ns() was
# taken could look 1 ms older than that moment (measured here: 2,998 of 3,000 such files).
# Not in Python's time module: its number is 5 in linux/time.h.
_CLOCK_REALTIME_COARSE = 5
# Elsewhere, where file times may come from such a tick as well (15.6 ms on Windows), the start
# is taken this much earlier: a file changed in the last 20 ms before a run counts as the run's.
_OTHER_CLOCK_MARGIN_NS = 20_000_000


@dataclass(frozen=True)
class Stored:
    """What storing one file produced."""

    digest: str
    size: int
    location: str  # where a person finds the file: a path or a URL
    new: bool  # False when identical content was already stored (dedup)
    # When the source last changed (``last_change_ns``), from the status the store read anyway to
    # store it; None when a storage cannot tell. Compared with the job's start: see ``put_files``.
    changed_ns: int | None = None


def local_folder(service: object) -> Path | None:
    """The folder a local backend keeps everything in (a file-system catalog's or run-log store's
    ``root``); None for one that is not a folder on this machine (S3).

    >>> local_folder(object()) is None
    True
    """
    return service.root if isinstance(service, LocalFolder) and isinstance(service.root, Path) else None


def last_change_ns(info: os.stat_result) -> int:
    """When a file last changed, in nanoseconds: the later of its modification time and its inode
    change time. Copies that keep the source's modification time (``shutil.copy2``, ``cp -p``,
    ``tar x``, ``rsync -a``, ``curl -R``) still get a new change time, which no one can set back.

    >>> import tempfile; last_change_ns(os.stat(tempfile.gettempdir())) > 0
    True
    """
    return max(info.st_mtime_ns, info.st_ctime_ns)


def file_clock_ns() -> int:
    """Now, as the clock file times are stamped with: a file changed from this moment on has a
    ``last_change_ns`` at or after it. Taken just before a job's code runs (``runner.py``).

    >>> file_clock_ns() <= time.time_ns()
    True
    """
    if sys.platform == "linux":
        return time.clock_gettime_ns(_CLOCK_REALTIME_COARSE)
    return time.time_ns() - _OTHER_CLOCK_MARGIN_NS


@runtime_checkable
class Storage(Protocol):
    """The primitive operations of a catalog backend."""

    #: A short description of where content lives, e.g. ``.catalog`` or ``s3://bucket/prefix``.
    location: str

    def store(
        self,
        run_id: str,
        rel: str,
        source: str | os.PathLike[str],
        algorithm: str,
        progress: Callable[[int], None] | None = None,
    ) -> Stored:
        """Copy ``source`` into the object store (reading it once, hashing as it goes) and present it
        as ``{run_id}/{rel}``. Must be atomic: a failure leaves no object or run file behind."""
        ...

    def run_location(self, run_id: str) -> str:
        """Where a person finds the run's folder."""
        ...

    def open_run_file(self, run_id: str, rel: str) -> BinaryIO:
        """Open the stored copy of ``{run_id}/{rel}`` for reading."""
        ...

    def open_object(self, algorithm: str, digest: str) -> BinaryIO:
        """Open the object with this hash for reading (raises FileNotFoundError if absent)."""
        ...

    def has_object(self, algorithm: str, digest: str) -> bool:
        """True if an object with this hash is stored."""
        ...

    def iter_objects(self) -> Iterator[tuple[str, str, int]]:
        """Every stored object as ``(algorithm, digest, size)``."""
        ...

    def delete_object(self, algorithm: str, digest: str) -> int:
        """Delete an object; return the bytes freed (0 if it was already gone)."""
        ...

    def delete_run(self, run_id: str) -> None:
        """Delete the run's folder (its links to objects; the objects stay)."""
        ...

    def clean_temporaries(self, older_than_seconds: float) -> int:
        """Remove abandoned partial uploads/temporary files; return bytes freed."""
        ...


@runtime_checkable
class RunFolders(Protocol):
    """A storage whose run folders can be listed (optional; the file-system catalog). gc then
    finishes a run folder whose record is gone -- left by a gc killed between deleting a run's
    record and its folder -- whose hard links would keep the bytes forever and block the run id."""

    def iter_run_ids(self) -> Iterator[str]:
        """The id of every run folder (a real folder named like a run id; never through a link)."""
        ...


# -- optional abilities of a backend (catalog or run-log store) ------------------------------------


@runtime_checkable
class LocalFolder(Protocol):
    """A backend that keeps everything in one folder on this machine (the file-system catalog and
    run-log store). Listing, restoring and fetching inputs protect that folder: nothing is ever
    written into it from outside. Ask with ``local_folder(service)``."""

    root: Path


@runtime_checkable
class CheckedLocation(Protocol):
    """A backend whose location can be refused before the job runs (a local folder: not a file, not
    the working folder itself), and made once every service passed. An object store has nothing in
    the way of a folder, and no such methods."""

    def check_location(self, working_folder: Path | None = None) -> None:
        """Raise ConfigurationError naming the setting when the location cannot be used."""
        ...

    def make_location(self) -> None:
        """Make the location (its folders), once every service's check passed."""
        ...


@runtime_checkable
class FolderBackend(Protocol):
    """A backend *class* whose location is a folder on this machine, named by one setting: the
    container executor mounts that folder, a pod needs it on its volume claim, and a leading '~' in
    it is refused for either. Executors ask the configured service (``Service.folder_setting()``),
    never its type name."""

    folder_setting: ClassVar[str]


@runtime_checkable
class EnvironmentCredentials(Protocol):
    """A backend *class* that reaches its store with credentials from the process environment (the
    S3 backends: the standard AWS variables). The container executor passes those variables, by
    name, to the job inside (``Service.credential_variables()``)."""

    credential_variables: ClassVar[tuple[str, ...]]


# -- optional abilities of a catalog storage -------------------------------------------------------


@runtime_checkable
class PreparedRuns(Storage, Protocol):
    """A storage that prepares a run's folder before the job starts (the file-system catalog makes
    it new, and refuses one left from an earlier run of this id: it could hold links out)."""

    def begin_run(self, run_id: str) -> None:
        """Make the run's folder; CatalogError if it cannot be made new."""
        ...


@runtime_checkable
class ParallelStore(Storage, Protocol):
    """A storage that says how many files ``put_files`` stores at once. Without it: 2 threads and
    no forked processes. The file-system catalog sets 1 thread and 4 processes (measured in
    ``backends/local/catalog.py``)."""

    #: Threads storing files at once when ``put_files`` does not fork.
    put_workers: int
    #: Forked worker processes allowed for many files (1: none).
    put_processes: int


@runtime_checkable
class RunFilesAreObjects(Storage, Protocol):
    """A storage whose run file can be the object itself (a hard link): verifying then reads the
    bytes once, not twice. Without it, the run folder's copy is hashed on its own."""

    def run_file_is_object(self, run_id: str, rel: str, algorithm: str, digest: str) -> bool:
        """True when ``{run_id}/{rel}`` is the very object ``algorithm:digest`` (not a copy)."""
        ...


# -- the run-log store and its optional abilities ---------------------------------------------------


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

    The index is a cache: ``runnable.history.index`` rebuilds whatever the stamps show to be stale, so the
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
    ``runnable.history.contentindex``): one small entry per finished run, written after its record and only
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
