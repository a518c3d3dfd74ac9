"""Where catalog content lives: a small protocol every backend implements.

A storage keeps each distinct content once, as an *object* named by its hash, and presents every run
as a folder of relative paths that point at objects. Everything derived -- choosing files, writing
run records, restoring, verifying, garbage collection -- is written once above this protocol.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class Stored:
    """What storing one file produced."""

    digest: str
    size: int
    location: str  # where a person finds the file: a path or a URL
    new: bool  # False when identical content was already stored (dedup)


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
