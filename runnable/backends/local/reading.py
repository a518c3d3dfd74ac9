"""Reading, listing and deleting what the file-system catalog holds, never through a symbolic link."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from collections.abc import Iterator
from typing import BinaryIO

from runnable.backends.local.hints import _Hint
from runnable.backends.local.layout import _CLOEXEC, HINTS, TMP, CatalogLayout, _real_subfolders
from runnable.errors import RecordError, UnsafeStoredFileError
from runnable.files.fileio import (
    TEMP_PREFIX,
)
from runnable.record import check_run_id


class StoredFiles(CatalogLayout):
    """Run files and objects as they are read back, listed by gc, and deleted."""


    def open_run_file(self, run_id: str, rel: str) -> BinaryIO:
        return self._open_stored(self._run_path(run_id, rel))

    def open_object(self, algorithm: str, digest: str) -> BinaryIO:
        return self._open_stored(self._object(algorithm, digest))

    def _open_stored(self, path: str) -> BinaryIO:
        """Open a file below the catalog folder for reading, never through a symbolic link.

        Each folder below the catalog folder, and the file, is opened relative to its parent with
        O_NOFOLLOW: an object or run file replaced by a link to ``/etc/hostname`` (or a prefix folder
        replaced by a link) would otherwise be read, hashed and restored as a run's content. A link
        or anything but a regular file raises UnsafeStoredFileError; a missing one FileNotFoundError.
        """
        parts = path[len(self._root) + 1:].split("/")
        fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)  # the user's choice: may be a link
        try:
            for depth, part in enumerate(parts):
                last = depth == len(parts) - 1
                flags = (os.O_RDONLY | os.O_NONBLOCK) if last else (os.O_RDONLY | os.O_DIRECTORY)
                try:
                    inner = os.open(part, flags | os.O_NOFOLLOW | _CLOEXEC, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    raise self._unsafe("/".join([self._root, *parts[:depth + 1]]),
                                       os.lstat(part, dir_fd=fd)) from None
                os.close(fd)
                fd = inner
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise self._unsafe(path, info)
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def _unsafe(self, path: str, info: os.stat_result) -> UnsafeStoredFileError:
        if stat.S_ISLNK(info.st_mode):
            what = f"a symbolic link (to {os.readlink(path)})"
        else:
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "a special file (FIFO, socket or device)"
        return UnsafeStoredFileError(
            f"{path} is {what} where the catalog keeps stored content; runnable never reads through it, so "
            "it may show any file as a run's content: remove it (runnable catalog verify lists every such file)")

    def has_object(self, algorithm: str, digest: str) -> bool:
        return self.object_path(algorithm, digest).is_file()

    def iter_objects(self) -> Iterator[tuple[str, str, int]]:
        """Every object: ``(algorithm, digest, size)``. Only real folders are entered and only
        regular files count: gc deletes what this yields, and a link could lead out of the catalog."""
        for algorithm in _real_subfolders(self._objects):
            if algorithm == TMP:
                continue
            for prefix in _real_subfolders(f"{self._objects}/{algorithm}"):
                with os.scandir(f"{self._objects}/{algorithm}/{prefix}") as entries:
                    found = [(e.name, e.stat(follow_symlinks=False).st_size) for e in entries
                             if e.is_file(follow_symlinks=False)]
                for name, size in sorted(found):
                    yield algorithm, prefix + name, size

    def iter_run_ids(self) -> Iterator[str]:
        """Every run folder: a real folder (not a link) named like a run id; ``.objects`` and
        ``.hints`` start with a dot, which no run id does."""
        try:
            with os.scandir(self._root) as entries:
                names = [e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return
        for name in sorted(names):
            try:
                yield check_run_id(name)
            except RecordError:
                continue  # not a run's folder: left alone

    # -- deleting ---------------------------------------------------------------------------
    def delete_object(self, algorithm: str, digest: str) -> int:
        path = self._object(algorithm, digest)
        folder = os.path.dirname(path)
        try:
            # Never through a link: .objects, its algorithm and prefix folders must be real folders
            # (looked at once per process: ``_dirs`` holds those known to be).
            while len(folder) > len(self._root):
                if folder not in self._dirs:
                    if not stat.S_ISDIR(os.lstat(folder).st_mode):
                        return 0
                    self._dirs.add(folder)
                folder = os.path.dirname(folder)
            size = os.lstat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            return 0
        return size

    def delete_run(self, run_id: str) -> None:
        folder = self.run_dir(run_id)
        if folder.is_dir():
            shutil.rmtree(folder)

    def clean_temporaries(self, older_than_seconds: float) -> int:
        """Remove abandoned temporary files, and hints whose object is gone; return bytes freed.

        Only regular files in real folders (``.objects/tmp`` and ``.hints``): never through a link,
        never anything else.
        """
        freed = 0
        cutoff = time.time() - older_than_seconds
        for folder in (f"{self._objects}/{TMP}", f"{self._root}/{HINTS}"):
            try:
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    continue
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                path = f"{folder}/{name}"
                try:  # a concurrent run may rename or remove its files at any moment
                    info = os.lstat(path)
                    if not stat.S_ISREG(info.st_mode):
                        continue
                    if name.startswith(TEMP_PREFIX):
                        stale = info.st_mtime < cutoff
                    elif folder.endswith(HINTS):  # nothing to link to any more
                        hint = _Hint.read(path)
                        stale = hint is None or not os.path.exists(self._object(hint.algorithm, hint.digest))
                    else:
                        stale = False
                    if stale:
                        os.unlink(path)
                        freed += info.st_size
                except FileNotFoundError:
                    continue
        return freed


