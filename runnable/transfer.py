"""Copy a file while hashing it: one read per byte, constant memory, atomic result.

The destination is written under a temporary name in its own folder and renamed into place only
when every byte is written, so a crash never leaves a file that looks complete but is not.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a").write_bytes(b"abc")
3
>>> copy_and_hash(d / "a", d / "b", "md5")[0]
'900150983cd24fb0d6963f7d28e17f72'
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Queue

from runnable.hashing import CHUNK_SIZE, new_hasher

Progress = Callable[[int], None]

# Below this size a file is copied in the calling thread; above it, hashing runs in a helper thread
# overlapped with writing (hashlib and blake3 release the GIL on large buffers).
_OVERLAP_THRESHOLD = 8 * CHUNK_SIZE
# Buffers in flight between the reader and the hashing thread: bounds memory at ~4 MiB a file.
_BUFFERS = 4

TEMP_PREFIX = ".runnable-tmp-"


def temp_name(destination: Path) -> Path:
    """A unique temporary name beside ``destination`` (same folder, so the rename is atomic)."""
    return destination.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{destination.name}"[:255])


@contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path; on success rename it over ``destination``, on failure remove it."""
    tmp = temp_name(destination)
    try:
        yield tmp
        os.replace(tmp, destination)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(destination: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``destination`` atomically (temporary file in the same folder + rename)."""
    with atomic_path(destination) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)


class SourceChangedError(OSError):
    """The source file changed size while it was being copied."""


def copy_and_hash(
    source: Path,
    destination: Path,
    algorithm: str,
    progress: Progress | None = None,
) -> tuple[str, int]:
    """Copy ``source`` to ``destination`` (not atomic: callers pass a temporary name) and hash it.

    Returns ``(hexdigest, size)`` of exactly the bytes written. Raises SourceChangedError if the
    source's size differs before and after the copy (it was being written to).
    """
    hasher = new_hasher(algorithm)
    size = 0
    with open(source, "rb", buffering=0) as src:
        size_before = os.fstat(src.fileno()).st_size
        with open(destination, "xb", buffering=0) as dst:
            if size_before < _OVERLAP_THRESHOLD:
                buffer = bytearray(CHUNK_SIZE)
                view = memoryview(buffer)
                while n := src.readinto(buffer):
                    chunk = view[:n]
                    hasher.update(chunk)
                    _write_all(dst.fileno(), chunk)
                    size += n
                    if progress:
                        progress(n)
            else:
                size = _overlapped_copy(src.fileno(), dst.fileno(), hasher, progress)
        size_after = os.stat(source).st_size
    if size != size_before or size_after != size_before:
        raise SourceChangedError(
            f"{source} changed size while it was being stored ({size_before} -> {size_after} bytes)"
        )
    return hasher.hexdigest(), size


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _overlapped_copy(src: int, dst: int, hasher: object, progress: Progress | None) -> int:
    """Read each chunk once; write it here while a helper thread hashes it."""
    free: Queue[bytearray] = Queue()
    for _ in range(_BUFFERS):
        free.put(bytearray(CHUNK_SIZE))
    full: Queue[tuple[bytearray, int] | None] = Queue(maxsize=_BUFFERS)
    returned: Queue[bytearray] = Queue()
    update = hasher.update  # type: ignore[attr-defined]
    failure: list[BaseException] = []

    def hash_worker() -> None:
        try:
            while (item := full.get()) is not None:
                buf, n = item
                update(memoryview(buf)[:n])
                returned.put(buf)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            failure.append(exc)
            while full.get() is not None:
                pass

    worker = threading.Thread(target=hash_worker, name="runnable-hash", daemon=True)
    worker.start()
    size = 0
    pending = 0
    try:
        while True:
            if free.empty() and pending:
                free.put(returned.get())
                pending -= 1
            buf = free.get()
            n = os.readv(src, [buf])
            if not n:
                free.put(buf)
                break
            _write_all(dst, memoryview(buf)[:n])
            full.put((buf, n))
            pending += 1
            size += n
            if progress:
                progress(n)
            while not returned.empty():
                free.put(returned.get())
                pending -= 1
    finally:
        full.put(None)
        worker.join()
    if failure:
        raise failure[0]
    return size
