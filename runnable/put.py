"""Store the files a catalog selects: copy + hash (``store_copy=True``) or hash only.

Works on several files at once: for many small files the time is in system calls, which release the
GIL, so a few threads keep the disk busy. Every file is attempted; failures are collected and
reported together, never hidden. An interrupt (Ctrl-C, SIGTERM) stops the workers from starting new
files and propagates once the files in flight are finished or cleaned up.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runnable.hashing import hash_file
from runnable.patterns import Match
from runnable.progress import TransferProgress
from runnable.record import FileEntry
from runnable.storage import Storage

# Threads for many files, unless the storage says otherwise (``put_workers``). Two let two large
# files hash on both cores at once, and hide network latency for remote storages.
WORKERS = 2


class _Cancelled(Exception):
    """Raised inside a worker's copy once the put is interrupted; the copy cleans up after itself."""


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
    progress: TransferProgress | None = None,
) -> PutResult:
    """Store (or only hash) each file; entries come back in the order of ``files``.

    >>> put_files([], None, "run-1", "md5", store_copy=False).entries
    []
    """
    if store_copy and storage is None:
        raise ValueError("put_files(store_copy=True) needs a storage")
    outcomes: list[FileEntry | BaseException | None] = [None] * len(files)
    new_bytes = [0] * len(files)
    stop = threading.Event()
    show = progress.add_bytes if progress is not None else None

    def add_bytes(n: int) -> None:
        # Called for every chunk: lets an interrupt stop a large copy in flight, not only the next file.
        if stop.is_set():
            raise _Cancelled("storing was interrupted")
        if show is not None:
            show(n)

    def one(i: int) -> None:
        match = files[i]
        try:
            if store_copy:
                assert storage is not None
                stored = storage.store(run_id, match.rel, match.path, algorithm, add_bytes)
                outcomes[i] = FileEntry(match.rel, stored.size, {algorithm: stored.digest}, True, stored.location)
                new_bytes[i] = stored.size if stored.new else 0
            else:
                digest, size = hash_file(match.path, algorithm, add_bytes)
                outcomes[i] = FileEntry(match.rel, size, {algorithm: digest}, False, None)
        except Exception as exc:  # noqa: BLE001 - reported per file below
            outcomes[i] = exc
        if progress is not None:
            progress.add_file()

    workers = WORKERS
    if store_copy and storage is not None:
        workers = max(1, int(getattr(storage, "put_workers", WORKERS)))
    if len(files) <= 1 or workers == 1:
        for i in range(len(files)):  # in this thread: an interrupt stops it at once, cleanly
            one(i)
    else:
        # One shared counter instead of a future per file: next() on itertools.count is atomic
        # under the GIL, and 10,000 futures cost more than the copies of 1 KiB files they wrap.
        counter = itertools.count()

        def work(finished: threading.Event) -> None:
            try:
                while not stop.is_set():
                    i = next(counter)
                    if i >= len(files):
                        return
                    one(i)
            finally:
                finished.set()

        # Completion is signalled by events, not Thread.join(): on Python 3.11 a join interrupted by
        # a signal marks the thread stopped while it still runs, so a second join would not wait.
        events: list[threading.Event] = []
        try:
            for n in range(min(workers, len(files))):
                finished = threading.Event()
                threading.Thread(target=work, args=(finished,), name=f"runnable-put-{n}", daemon=True).start()
                events.append(finished)
            for finished in events:
                finished.wait()
        except BaseException:
            stop.set()  # an interrupt: no new file starts; files in flight stop and clean up
            for finished in events:
                _wait_through_interrupts(finished)
            raise
    result = PutResult()
    for match, outcome in zip(files, outcomes, strict=True):
        if isinstance(outcome, FileEntry):
            result.entries.append(outcome)
        elif outcome is not None:
            result.failures.append((match.rel, _describe(outcome)))
    result.bytes_new = sum(new_bytes)
    return result


def _wait_through_interrupts(event: threading.Event) -> None:
    """Wait for ``event`` even if more signals arrive: cleanup must finish before the process exits."""
    while True:
        try:
            event.wait()
            return
        except BaseException:  # noqa: BLE001 - a second Ctrl-C while cleaning up; the first is re-raised
            continue


def store_single(storage: Storage, run_id: str, rel: str, path: Path, algorithm: str) -> FileEntry:
    """Store one file that runnable itself wrote (the execution log, an executed notebook)."""
    stored = storage.store(run_id, rel, path, algorithm)
    return FileEntry(rel, stored.size, {algorithm: stored.digest}, True, stored.location)
