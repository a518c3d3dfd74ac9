"""Store the files a catalog selects: copy + hash (``store_copy=True``) or hash only.

Works on several files at once: for many small files the time is in system calls, which release the
GIL, so a few threads keep the disk busy. Every file is attempted; failures are collected and
reported together, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from runnable.hashing import hash_file
from runnable.patterns import Match
from runnable.record import FileEntry
from runnable.storage import Storage

# Threads for many files: 4 saturates a 2-core machine on 1 KiB files (syscall-bound); more only
# adds contention. A single large file gets its read/write/hash overlap inside transfer.py.
WORKERS = 4


@dataclass
class PutResult:
    entries: list[FileEntry] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    bytes_new: int = 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def put_files(
    files: Sequence[Match],
    storage: Storage | None,
    run_id: str,
    algorithm: str,
    store_copy: bool,
    progress: Callable[[int], None] | None = None,
) -> PutResult:
    """Store (or only hash) each file; entries come back in the order of ``files``."""

    def one(match: Match) -> FileEntry | BaseException:
        try:
            if store_copy:
                assert storage is not None
                stored = storage.store(run_id, match.rel, match.path, algorithm, progress)
                entry = FileEntry(match.rel, stored.size, {algorithm: stored.digest}, True, stored.location)
                entry_new[match.rel] = stored.size if stored.new else 0
                return entry
            digest, size = hash_file(match.path, algorithm)
            if progress:
                progress(size)
            return FileEntry(match.rel, size, {algorithm: digest}, False, None)
        except Exception as exc:  # noqa: BLE001 - reported per file below
            return exc

    entry_new: dict[str, int] = {}
    if len(files) > 1:
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="runnable-put") as pool:
            outcomes = list(pool.map(one, files))
    else:
        outcomes = [one(m) for m in files]
    result = PutResult()
    for match, outcome in zip(files, outcomes, strict=True):
        if isinstance(outcome, FileEntry):
            result.entries.append(outcome)
        else:
            result.failures.append((match.rel, _describe(outcome)))
    result.bytes_new = sum(entry_new.values())
    return result


def store_single(storage: Storage, run_id: str, rel: str, path: Path, algorithm: str) -> FileEntry:
    """Store one file that runnable itself wrote (the execution log, an executed notebook)."""
    stored = storage.store(run_id, rel, path, algorithm)
    return FileEntry(rel, stored.size, {algorithm: stored.digest}, True, stored.location)
