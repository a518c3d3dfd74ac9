"""Store the files a catalog selects: copy + hash (``store_copy=True``) or hash only.

Works on several files at once. Many files on a local disk go to forked worker processes (one per
CPU): each small file is kernel work on folders, which runs in parallel on separate cores, and the
Python around it does not run in parallel in threads. Remote storages use threads, which hide network
latency. Every file is attempted; failures are collected and reported together, never hidden. An
interrupt (Ctrl-C, SIGTERM) stops the workers from starting new files and propagates once the files
in flight are finished or cleaned up.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runnable.backends.protocols import ParallelStore, Storage, last_change_ns
from runnable.files.hashing import hash_bytes, hash_file_status, single_threaded
from runnable.files.patterns import Match
from runnable.files.progress import TransferProgress
from runnable.files.workers import available_cpus, can_fork, run_forked, wait_through_interrupts
from runnable.record import FileEntry

# Threads for many files, unless the storage says otherwise (``put_workers``). Two let two large
# files hash on both cores at once, and hide network latency for remote storages.
WORKERS = 2
# From this many files on (Linux), a storage that allows it (``put_processes``) is filled by forked
# worker processes, one per CPU up to MAX_PROCESSES (see runnable/files/workers.py). Fewer files are not
# worth a fork: it costs a few milliseconds.
FORK_MIN_FILES = 128
MAX_PROCESSES = 4


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
    started_ns: int | None = None,
) -> PutResult:
    """Store (or only hash) each file; entries come back in the order of ``files``.

    With ``started_ns`` (``runnable.backends.protocols.file_clock_ns()`` as the job started), a file that last
    changed before then is marked ``stale``: the run did not write it. Its times come from the status
    that storing or hashing reads anyway (``Stored.changed_ns``, ``hash_file_status``): no file costs
    a system call more.

    >>> put_files([], None, "run-1", "md5", store_copy=False).entries
    []
    """
    if store_copy and storage is None:
        raise ValueError("put_files(store_copy=True) needs a storage")

    def is_stale(changed_ns: int | None) -> bool:
        # At or after the start counts as written by the run: file times have no finer order.
        if started_ns is None or changed_ns is None:
            return False
        if changed_ns % 1_000_000_000 == 0:
            # Whole seconds: a file system that keeps no finer time (ext4 with 128-byte inodes,
            # FAT, some network file systems) rounds down a file written just after the start.
            return changed_ns < started_ns - started_ns % 1_000_000_000
        return changed_ns < started_ns

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
                outcomes[i] = FileEntry(match.rel, stored.size, {algorithm: stored.digest}, True, stored.location,
                                        is_stale(stored.changed_ns))
                new_bytes[i] = stored.size if stored.new else 0
            else:
                digest, size, info = hash_file_status(match.path, algorithm, add_bytes)
                outcomes[i] = FileEntry(match.rel, size, {algorithm: digest}, False, None,
                                        is_stale(last_change_ns(info)))
        except Exception as exc:  # noqa: BLE001 - reported per file below
            outcomes[i] = exc
        if progress is not None:
            progress.add_file()

    workers = WORKERS
    processes = min(available_cpus(), MAX_PROCESSES) if can_fork() else 1
    if store_copy and isinstance(storage, ParallelStore):
        workers = max(1, int(storage.put_workers))
        processes = min(processes, max(1, int(storage.put_processes)))
    elif store_copy and storage is not None:
        processes = 1  # a storage that does not say how many processes it allows gets none
    if processes > 1 and len(files) >= FORK_MIN_FILES:
        _put_forked(files, storage, run_id, algorithm, store_copy, processes, outcomes, new_bytes, progress, is_stale)
    elif len(files) <= 1 or workers == 1:
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
                with contextlib.suppress(BaseException):  # a second Ctrl-C: the first is re-raised
                    wait_through_interrupts(finished)
            raise
    result = PutResult()
    for match, outcome in zip(files, outcomes, strict=True):
        if isinstance(outcome, FileEntry):
            result.entries.append(outcome)
        elif outcome is not None:
            result.failures.append((match.rel, _describe(outcome)))
    result.bytes_new = sum(new_bytes)
    return result


def _put_forked(
    files: Sequence[Match],
    storage: Storage | None,
    run_id: str,
    algorithm: str,
    store_copy: bool,
    processes: int,
    outcomes: list[FileEntry | BaseException | None],
    new_bytes: list[int],
    progress: TransferProgress | None,
    is_stale: Callable[[int | None], bool],
) -> None:
    """Store (or hash) ``files`` in forked processes; fill ``outcomes`` and ``new_bytes`` in place.

    A worker sends one short line per file: ``digest size flags`` (plus the location as JSON when it
    is not the usual one under the run's folder), or ``!`` and the reason as JSON if it failed.
    ``flags`` is one digit: 1 if the content is new to the storage, plus 2 if the file is stale (the
    worker decides, from the status it read: the line stays as long as before).
    """
    hash_bytes(b"", algorithm)  # set the hash up here, so no worker starts by loading it
    usual = f"{storage.run_location(run_id)}/" if store_copy and storage is not None else None

    def work(i: int) -> str:
        match = files[i]
        try:
            if store_copy:
                assert storage is not None
                stored = storage.store(run_id, match.rel, match.path, algorithm)
                line = f"{stored.digest} {stored.size} {int(stored.new) | (is_stale(stored.changed_ns) << 1)}"
                if stored.location != f"{usual}{match.rel}":
                    line += f" {json.dumps(stored.location)}"
                return line
            digest, size, info = hash_file_status(match.path, algorithm)
            return f"{digest} {size} {is_stale(last_change_ns(info)) << 1}"
        except Exception as exc:  # noqa: BLE001 - sent to the parent, reported per file
            return "!" + json.dumps(_describe(exc))

    def collect(i: int, line: str) -> None:
        if line.startswith("!"):
            outcomes[i] = _WorkerFailure(json.loads(line[1:]))
            if progress is not None:
                progress.add_file()
            return
        rel = files[i].rel
        digest, size_text, flags_text, *other = line.split(" ", 3)
        size = int(size_text)
        flags = int(flags_text)
        location = json.loads(other[0]) if other else (None if usual is None else usual + rel)
        outcomes[i] = FileEntry(rel, size, {algorithm: digest}, store_copy, location, bool(flags & 2))
        new_bytes[i] = size if flags & 1 else 0
        if progress is not None:
            progress.add_file(size)

    for i in run_forked(len(files), work, processes, collect, in_worker=single_threaded):
        outcomes[i] = _WorkerFailure("the process storing it stopped before it finished")


class _WorkerFailure(Exception):
    """A file a worker process could not store; the message is the worker's description of why."""


def store_single(storage: Storage, run_id: str, rel: str, path: Path, algorithm: str) -> FileEntry:
    """Store one file that runnable itself wrote (the execution log, an executed notebook): never
    stale, though the log is made before the job starts."""
    stored = storage.store(run_id, rel, path, algorithm)
    return FileEntry(rel, stored.size, {algorithm: stored.digest}, True, stored.location)
