"""Full-content hashing by streaming: every byte is hashed, never a sampled fingerprint.

``hash_stream`` is the one place bytes are read from a file to be kept or checked. Hashing alone
reads each byte once into a small ring of buffers and hashes them on a helper thread (hashlib and
blake3 release the GIL on large buffers). A copy of a large file runs inside the kernel
(``copy_file_range``, as ``cp`` does) while the helper hashes each copied chunk read back from the
destination's page cache, so the digest is that of the stored bytes; where the kernel cannot copy
between the two files, the reading thread writes the same buffers the helper hashes. Either way a
copy costs about ``max(copy, hash)`` instead of their sum, and memory stays at a few MiB whatever
the file size.

>>> h = new_hasher("md5"); h.update(b"abc"); h.hexdigest()
'900150983cd24fb0d6963f7d28e17f72'

The algorithms are in ``algorithms.py``, opening a file and noticing a change in ``sources.py``,
``PartReader`` in ``parts.py``; every name in ``__all__`` still imports from here.

Tuned for speed: run ``python benchmarks/catalog_bench.py`` before and after changing it
(``--quick`` for a first look; the full run for figures), and compare the ratios to the floor.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from queue import SimpleQueue
from typing import Any, BinaryIO

from runnable.files.algorithms import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    Hasher,
    check_algorithm,
    hash_bytes,
    is_hex_digest,
    new_hasher,
    single_threaded,
)
from runnable.files.parts import PartReader
from runnable.files.sources import SOURCE_FLAGS, SourceChangedError, changed_since, open_source
from runnable.files.workers import wait_through_interrupts

# 1 MiB reads: large enough that hashlib releases the GIL and syscall overhead is negligible (<1% at
# 1 MiB vs ~15% at 64 KiB on ext4), small enough that the buffers stay in the 2 MiB L2 cache.
CHUNK_SIZE = 1024 * 1024
# Buffers in flight between the reading thread and the hashing thread. Four lets either side run
# ahead by a few chunks when the other stalls; more gave no measurable gain on 1 GiB (see benchmarks).
BUFFERS = 4
# Files up to this size are read in one call and hashed in the calling thread: a helper thread costs
# more than it saves on a file that fits in one buffer.
SMALL_FILE = CHUNK_SIZE
# Larger files are copied inside the kernel (``copy_file_range``) in chunks of this size, and the
# copy runs at most KERNEL_AHEAD chunks (1 GiB) ahead of the hash that reads each chunk back. Far
# enough that a 1 GiB copy is done at copying speed, as `cp` does, while MD5 catches up: new pages
# are then taken while they are cheap. Paced 64 MiB ahead of MD5 instead, the copy of 1 GiB took
# 2.3-3.3 s here instead of 2.0 s: this VM hands freed memory back to its host after a moment, and
# later pages cost a trip to it. Near enough that what is hashed is still in the page cache.
KERNEL_CHUNK = 8 * CHUNK_SIZE
KERNEL_AHEAD = 128
_KERNEL_COPY = hasattr(os, "copy_file_range")
# copy_file_range errors that mean "not for this pair of files": copy through user space instead.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF, errno.EPERM}


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def hash_stream(
    fd: int,
    algorithm: str,
    sink: int | None = None,
    progress: Callable[[int], None] | None = None,
    name: str | os.PathLike[str] | None = None,
) -> tuple[str, int]:
    """Hash everything readable from the open file ``fd`` (and copy it to ``sink`` if given).

    Returns ``(hexdigest, size)`` of exactly the bytes read. Raises SourceChangedError when ``fd``
    is a regular file whose size or modification time changed while it was read: the digest would
    describe bytes that never existed together. Any exception (including one raised by
    ``progress``) stops the helper thread before it propagates.
    """
    digest, size, _ = _hash_fd(fd, algorithm, sink, progress, name)
    return digest, size


def _hash_fd(
    fd: int,
    algorithm: str,
    sink: int | None,
    progress: Callable[[int], None] | None,
    name: str | os.PathLike[str] | None,
    before: os.stat_result | None = None,
) -> tuple[str, int, os.stat_result]:
    """``hash_stream``, also returning the file's status as it was before it was read (``before``,
    if the caller has just taken it)."""
    if before is None:
        before = os.fstat(fd)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)  # larger read-ahead on Linux
    except (AttributeError, OSError):
        pass
    hasher = new_hasher(algorithm, threads=sink is None)
    if before.st_size <= SMALL_FILE:
        size = _hash_inline(fd, hasher, sink, progress)
    elif sink is not None and (copied := _copy_in_kernel(fd, sink, hasher, progress)) is not None:
        size = copied
    else:
        size = _hash_overlapped(fd, hasher, sink, progress)
    why = changed_since(fd, before, size)
    if why is not None:
        raise SourceChangedError(f"{name or 'the source file'} {why}; store it again once it is complete")
    return hasher.hexdigest(), size, before


def _hash_inline(fd: int, hasher: Hasher, sink: int | None, progress: Callable[[int], None] | None) -> int:
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    size = 0
    while n := os.readv(fd, [buffer]):
        chunk = view[:n]
        hasher.update(chunk)
        if sink is not None:
            _write_all(sink, chunk)
        size += n
        if progress:
            progress(n)
    return size


def _hash_overlapped(fd: int, hasher: Hasher, sink: int | None, progress: Callable[[int], None] | None) -> int:
    """Read (and write) in this thread while a helper thread hashes the same buffers."""
    free: SimpleQueue[bytearray] = SimpleQueue()
    for _ in range(BUFFERS):
        free.put(bytearray(CHUNK_SIZE))
    full: SimpleQueue[tuple[bytearray, int] | None] = SimpleQueue()
    failure: list[BaseException] = []
    stop = threading.Event()
    update = hasher.update

    def hash_worker() -> None:
        while (item := full.get()) is not None:
            buf, n = item
            if not stop.is_set():
                try:
                    update(memoryview(buf)[:n])
                except BaseException as exc:  # noqa: BLE001 - re-raised in the reading thread
                    failure.append(exc)
                    stop.set()
            free.put(buf)

    size = 0
    with _helper_running(hash_worker, full, stop, failure):
        while not stop.is_set():
            buf = free.get()
            n = os.readv(fd, [buf])
            if not n:
                break
            if sink is not None:
                _write_all(sink, memoryview(buf)[:n])
            full.put((buf, n))
            size += n
            if progress:
                progress(n)
    return size


@contextmanager
def _helper_running(
    body: Callable[[], None], queue: SimpleQueue[Any], stop: threading.Event, failure: list[BaseException]
) -> Iterator[None]:
    """Run ``body`` on a helper thread while the block feeds it through ``queue``.

    Leaving the block ends the helper with ``None`` on the queue and waits for it, through any
    further interrupt (it may still be reading a file the caller is about to remove). An exception
    in the block sets ``stop`` first, so the helper drops what is queued instead of hashing it.
    Afterwards the first failure the helper recorded in ``failure`` is raised.
    """
    finished = threading.Event()

    def run() -> None:
        try:
            body()
        finally:
            finished.set()

    threading.Thread(target=run, name="runnable-hash", daemon=True).start()
    try:
        yield
    except BaseException:
        stop.set()
        raise
    finally:
        queue.put(None)
        # An interrupt while the helper hashes what is left (up to KERNEL_AHEAD chunks) stops it.
        wait_through_interrupts(finished, on_interrupt=stop.set)
    if failure:
        raise failure[0]


def _copy_in_kernel(src: int, sink: int, hasher: Hasher, progress: Callable[[int], None] | None) -> int | None:
    """Copy ``src`` to ``sink`` inside the kernel while a helper thread hashes what landed in ``sink``.

    ``copy_file_range`` moves the bytes without bringing them to user space (or shares blocks, on
    file systems that can), so the copy costs what ``cp`` costs; the helper hashes each copied
    chunk by reading it back from ``sink``, where it is still in the page cache. The digest
    therefore describes exactly the stored bytes. The copy runs at most ``KERNEL_AHEAD`` chunks
    ahead of the hash, so the chunks being hashed are normally still in the page cache (else they
    are read back from the disk: slower, the same bytes).

    Returns the size copied, or None when this pair of files cannot be copied this way (``sink``
    not readable, another file system, an old kernel): nothing has been written then, and the
    caller copies through user space instead.
    """
    if not _KERNEL_COPY or fcntl.fcntl(sink, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDWR:
        return None
    start = os.lseek(sink, 0, os.SEEK_CUR)
    try:
        first = os.copy_file_range(src, sink, KERNEL_CHUNK)
    except OSError as exc:
        if exc.errno in _NO_KERNEL_COPY:
            return None
        raise
    ranges: SimpleQueue[tuple[int, int] | None] = SimpleQueue()
    ahead = threading.Semaphore(KERNEL_AHEAD)
    failure: list[BaseException] = []
    stop = threading.Event()

    def hash_worker() -> None:
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while (item := ranges.get()) is not None:
            offset, end = item
            try:
                while offset < end and not stop.is_set():
                    n = os.preadv(sink, [view[: min(CHUNK_SIZE, end - offset)]], offset)
                    if not n:
                        raise OSError(f"the copy lost bytes {offset}-{end} while it was being hashed")
                    hasher.update(view[:n])
                    offset += n
            except BaseException as exc:  # noqa: BLE001 - re-raised in the copying thread
                failure.append(exc)
                stop.set()
            ahead.release()

    size = 0
    n = first
    with _helper_running(hash_worker, ranges, stop, failure):
        while n and not stop.is_set():
            ranges.put((start + size, start + size + n))
            size += n
            if progress:
                progress(n)
            ahead.acquire()
            n = os.copy_file_range(src, sink, KERNEL_CHUNK)
        if not n and not stop.is_set():
            # copy_file_range reports 0 at the end of the file, but also for files whose size the
            # kernel does not know (some virtual file systems): read on to be sure nothing is left.
            buffer = bytearray(CHUNK_SIZE)
            while not stop.is_set() and (n := os.readv(src, [buffer])):
                _write_all(sink, memoryview(buffer)[:n])
                ranges.put((start + size, start + size + n))
                size += n
                if progress:
                    progress(n)
    return size


def hash_file(
    path: str | os.PathLike[str],
    algorithm: str = DEFAULT_ALGORITHM,
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """Hash the whole file at ``path``; return ``(hexdigest, size_in_bytes)``.

    Reads in fixed-size chunks into a few reused buffers, so memory stays constant at any size.

    >>> hash_file(__file__)[0] == hash_file(__file__)[0]
    True
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        digest, size, _ = _hash_fd(fd, algorithm, None, progress, path)
    finally:
        os.close(fd)
    return digest, size


def hash_file_status(
    path: str | os.PathLike[str],
    algorithm: str = DEFAULT_ALGORITHM,
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int, os.stat_result]:
    """``hash_file`` of a selected file (opened by ``open_source``: a regular file, never through a
    link), also returning its status (``os.stat_result``) as it was read: the one hashing takes
    anyway to notice a change while reading, so no system call is added.

    >>> hash_file_status(__file__)[2].st_size == hash_file(__file__)[1]
    True
    """
    fd, before = open_source(path)
    try:
        return _hash_fd(fd, algorithm, None, progress, path, before)
    finally:
        os.close(fd)


def hash_reader(stream: BinaryIO, algorithm: str = DEFAULT_ALGORITHM) -> tuple[str, int]:
    """Hash everything left in a readable binary object (a stored copy that may not be a local
    file, e.g. an S3 download); return ``(hexdigest, size)``.

    >>> import io; hash_reader(io.BytesIO(b"abc"), "md5")
    ('900150983cd24fb0d6963f7d28e17f72', 3)
    """
    hasher = new_hasher(algorithm)
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


__all__ = [
    "ALGORITHMS",
    "BUFFERS",
    "CHUNK_SIZE",
    "DEFAULT_ALGORITHM",
    "SMALL_FILE",
    "SOURCE_FLAGS",
    "Hasher",
    "PartReader",
    "SourceChangedError",
    "changed_since",
    "check_algorithm",
    "hash_bytes",
    "hash_file",
    "hash_file_status",
    "hash_reader",
    "hash_stream",
    "is_hex_digest",
    "new_hasher",
    "open_source",
    "single_threaded",
]
