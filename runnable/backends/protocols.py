"""Where catalog content lives: a small protocol every backend implements.

A storage keeps each distinct content once, as an *object* named by its hash, and presents every run
as a folder of relative paths that point at objects. Everything derived -- choosing files, writing
run records, restoring, verifying, garbage collection -- is written once above this protocol.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

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
    root = getattr(service, "root", None)
    return root if isinstance(root, Path) else None


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

    # Optional, not part of the protocol check: ``put_workers`` (int) tells ``put_files`` how many
    # files to store at once in threads; 2 when absent. ``put_processes`` (int) allows that many forked
    # worker processes for many files instead; 1 (none) when absent. The file-system catalog sets 1
    # thread and 4 processes (see storage/local.py).

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
