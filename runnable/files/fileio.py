"""Copy a file while hashing it, and write files atomically.

Every copy reads each byte once (see ``hashing.hash_stream``) and lands under a temporary name that
is renamed into place only when complete, so a crash never leaves a file that looks complete but is
not. Temporary names start with ``TEMP_PREFIX`` so garbage collection can find abandoned ones.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a").write_bytes(b"abc")
3
>>> copy_and_hash(d / "a", d / "b", "md5")[0]
'900150983cd24fb0d6963f7d28e17f72'
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from runnable.errors import CatalogError
from runnable.files.hashing import SMALL_FILE, SourceChangedError, hash_stream, open_source

Progress = Callable[[int], None]

TEMP_PREFIX = ".runnable-tmp-"

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
READ_FLAGS = os.O_RDONLY | _O_CLOEXEC
# Exclusive create: a temporary name is never shared, and never follows a planted symbolic link.
# Read-write: a kernel copy reads each chunk back from the new file to hash it (hashing._copy_in_kernel).
CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


_SESSION = os.urandom(6).hex()  # with the pid and a counter: unique names without a syscall each
_COUNTER = itertools.count()


def unique_temp(name: str) -> str:
    """A fresh temporary file name (no folder) for a file that will become ``name``.

    Unique across processes (process id and random bits) and threads (``next`` on a counter is
    atomic under the GIL); creating it with O_EXCL would catch an impossible collision anyway.
    """
    full = f"{TEMP_PREFIX}{os.getpid()}-{_SESSION}-{next(_COUNTER)}-{name}"
    if len(full) <= 63:  # the common case: short enough in any encoding (4 bytes a character at most)
        return full
    # Names are limited to 255 *bytes*: cut by encoded length, never inside a character, so a name
    # like 'é' * 127 + 'x' still gets a valid temporary name.
    return os.fsencode(full)[:255].decode("utf-8", errors="ignore")


def temp_name(destination: Path) -> Path:
    """A unique temporary name beside ``destination`` (same folder, so the rename is atomic)."""
    return destination.with_name(unique_temp(destination.name))


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` if it exists (cleanup after a failure must not hide the failure)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path; on success rename it over ``destination``, on failure remove it."""
    tmp = temp_name(destination)
    try:
        yield tmp
        os.replace(tmp, destination)
    except BaseException:
        remove_quietly(tmp)
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


def refuse_non_folder(root: Path, what: str, setting: str) -> None:
    """Raise CatalogError if something that is not a folder stands where the folder ``root`` must be
    (``root`` itself or the first of its parents that exists). ``what`` names the location in the
    message, ``setting`` the configuration key that moves it. The thing in the way is never touched.
    """
    folder = blocking_path(root)
    if folder is None:
        return
    where = "" if folder == root else f" cannot be made: {folder}"
    kind = "a file, not a folder" if folder.is_file() else "not a folder"
    raise CatalogError(
        f"{what} {root}{where} is {kind}; move it away or set another {setting} in the configuration, "
        "then run again (runnable left it as it is)"
    )


def refuse_working_folder(root: Path, working: Path, what: str, setting: str, default: str) -> None:
    """Raise CatalogError if the folder ``root`` is the working folder or a folder above it:
    runnable's folders and records would be mixed with the user's files.

    >>> refuse_working_folder(Path("/w/.catalog"), Path("/w"), "the catalog location", "catalog_location", ".catalog")
    >>> refuse_working_folder(Path("/w"), Path("/w"), "the catalog location", "catalog_location", ".catalog")
    Traceback (most recent call last):
    ...
    runnable.errors.CatalogError: the catalog location /w is the working folder /w; runnable keeps its own files there and would mix them with yours: set catalog_location in the configuration to a folder of its own (the default is '.catalog')
    """
    folder, working = root.resolve(), working.resolve()
    if folder == working or folder in working.parents:
        where = "is the working folder" if folder == working else "contains the working folder"
        raise CatalogError(
            f"{what} {folder} {where} {working}; runnable keeps its own files there and would mix them with "
            f"yours: set {setting} in the configuration to a folder of its own (the default is {default!r})"
        )


def make_location(root: Path, what: str, setting: str) -> None:
    """Make the folder ``root`` (and its parents) before a job runs, or raise CatalogError naming
    ``what`` and the configuration key ``setting`` if no folder can be made there (read-only, no
    permission, ``/proc``). A file in the way is found by ``refuse_non_folder`` first.

    >>> make_location(Path("/proc/nope"), "the catalog location", "catalog_location")
    Traceback (most recent call last):
    ...
    runnable.errors.CatalogError: the catalog location /proc/nope cannot be made (No such file or directory); set another catalog_location in the configuration, or make that folder writable, then run again
    """
    if os.path.isdir(root):  # the usual case after the first run: one stat, nothing to make
        return
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise CatalogError(
            f"{what} {root} cannot be made ({exc.strerror or exc}); set another {setting} in the "
            "configuration, or make that folder writable, then run again"
        ) from None  # the reason is in the message; chained, os.makedirs' frames would print above it


def blocking_path(folder: Path) -> Path | None:
    """What stands where ``folder`` must be a folder: the first of it and its parents that exists,
    if that is not a folder (a file, say). None when nothing is in the way, or it cannot be looked at
    (then writing there will say what is wrong)."""
    for path in (folder, *folder.parents):
        try:
            try:
                return None if stat.S_ISDIR(os.stat(path).st_mode) else path  # a link to a folder is one
            except (FileNotFoundError, NotADirectoryError):  # (the latter: a file above it)
                if not os.path.lexists(path):
                    continue
                # A dangling link, or a folder another process made just now (runs start at once):
                # one stat decides, never a stat and a separate existence check.
                try:
                    return None if stat.S_ISDIR(os.stat(path).st_mode) else path
                except FileNotFoundError:
                    return path
        except OSError:
            return None
    return None


def write_new_file(path: str | os.PathLike[str], data: bytes | memoryview, mode: int = READ_ONLY) -> None:
    """Create ``path`` (which must not exist) holding ``data``; remove it again if writing fails.

    The file is created with ``mode`` directly (0o444 by default): the open descriptor may still
    write, and no separate chmod is needed. Not atomic on its own: pass a temporary name.
    """
    fd = os.open(path, CREATE_FLAGS, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        remove_quietly(path)
        raise
    os.close(fd)


def read_small(fd: int, before: os.stat_result, name: str | os.PathLike[str]) -> bytes:
    """Read the whole of a small regular file in one call, checking its size did not change.

    Asks for one byte more than the size: getting it means the file grew, getting less that it
    shrank. One read call, so no second ``fstat`` for the modification time (a large file's copy,
    many calls long, checks that too).
    """
    data = os.read(fd, before.st_size + 1)
    if len(data) != before.st_size:
        raise SourceChangedError(
            f"{name} changed size while it was being read ({before.st_size} -> {len(data)}+ bytes); "
            "store it again once it is complete"
        )
    return data


def copy_and_hash(
    source: Path,
    destination: Path,
    algorithm: str,
    progress: Progress | None = None,
    mode: int = 0o644,
) -> tuple[str, int]:
    """Copy ``source`` to the new file ``destination`` and hash it, reading each byte once.

    Not atomic by itself: callers pass a temporary name and rename it. Returns ``(hexdigest, size)``
    of exactly the bytes written; raises SourceChangedError (and removes ``destination``) if the
    source changed while it was copied.
    """
    src, _ = open_source(source)
    try:
        dst = os.open(destination, CREATE_FLAGS, mode)
        try:
            result = hash_stream(src, algorithm, sink=dst, progress=progress, name=source)
        except BaseException:
            os.close(dst)
            remove_quietly(destination)
            raise
        os.close(dst)
        return result
    finally:
        os.close(src)


__all__ = [
    "READ_ONLY",
    "SMALL_FILE",
    "TEMP_PREFIX",
    "SourceChangedError",
    "atomic_path",
    "atomic_write_bytes",
    "copy_and_hash",
    "read_small",
    "remove_quietly",
    "temp_name",
    "unique_temp",
    "write_new_file",
]
