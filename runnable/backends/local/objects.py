"""Writing the file-system catalog's objects: a temporary name, then a hard link (or a file made
without a name and linked in), reflinks and copies where links are not possible, and checking an
existing object before reusing it.

Tuned for speed: run ``python benchmarks/catalog_bench.py`` before and after changing it.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from typing import TypeVar

from runnable.backends.local.layout import _O_TMPFILE, _READ_ONLY, TMP, CatalogLayout
from runnable.files.fileio import (
    READ_FLAGS,
    remove_quietly,
    unique_temp,
    write_new_file,
)

_T = TypeVar("_T")
# Link failures that mean "this file system cannot do it here", answered by copying instead:
# EMLINK (an object already has the most hard links allowed, 65000 on ext4), EPERM/ENOTSUP (no hard
# links, e.g. some network and FUSE file systems), EXDEV (the run folder is a mount of its own).
_LINK_UNSUPPORTED = (errno.EMLINK, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV)


class ObjectWriter(CatalogLayout):
    """Objects written once, under their digest, and linked into run folders."""

    def _create_temp(self, create: Callable[[str], _T]) -> tuple[str, _T]:
        """A new temporary object's name, and what ``create(name)`` returned on making it there.

        Makes the temporaries folder again if it was removed while this storage knew it (a hand
        tidying the catalog mid-run): a store never fails for a folder the catalog can make.
        """
        folder = f"{self._objects}/{TMP}"
        self._ensure_dir(folder)
        name = f"{folder}/{unique_temp('object')}"
        try:
            return name, create(name)
        except FileNotFoundError:
            self._forget(folder)
            self._ensure_dir(folder)
            return name, create(name)

    def _commit_bytes(self, data: bytes, folder: str, obj: str) -> bool:
        """Store a small content read into memory as ``obj`` in ``folder``; the hash is known first,
        so a duplicate costs no write at all. False if that content was already stored."""
        if folder not in self._dirs:  # once per folder and process: never write through a link
            self._ensure_dir(folder)
        try:
            info = os.lstat(obj)  # the one system call a new content costs here, as a plain exists()
        except FileNotFoundError:
            info = None
        if info is not None:
            if _holds(obj, info, data):
                return False
            # Damaged (0444 stops neither root nor chmod): put a correct copy under the name. Only a
            # named temporary can replace a name; a nameless one can only take a free name.
        elif self._tmpfile_works is not False:
            try:
                created = self._commit_anonymous(data, folder, obj)
            except FileNotFoundError:  # the folder does not exist yet (or was removed): make it, once
                self._dirs.discard(folder)
                self._ensure_dir(folder)
                created = self._commit_anonymous(data, folder, obj)
            if created is not None:
                return created
        # No fsync: the same durability as cp (see docs/storage.md).
        tmp, _ = self._create_temp(lambda name: write_new_file(name, data))
        try:
            self._retry_in_new_dir(os.path.dirname(obj), lambda: os.replace(tmp, obj))
        except BaseException:
            remove_quietly(tmp)
            raise
        return True

    def _commit_anonymous(self, data: bytes, folder: str, obj: str) -> bool | None:
        """Write ``data`` to a file with no name (O_TMPFILE) and link it as ``obj``: one directory
        change instead of three (create, rename, and the temporary's removal), and a crash leaves
        nothing behind at all. None if this system cannot (no O_TMPFILE, no /proc): use a temporary
        name instead. 10,000 files of 1 KiB: 0.52 s here, against 0.60-1.2 s with named temporaries."""
        try:
            fd = os.open(folder, _O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, _READ_ONLY)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP):
                raise
            self._tmpfile_works = False
            return None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            try:
                # A dir_fd makes os.link use linkat(..., AT_SYMLINK_FOLLOW), which gives the open
                # file a name; /proc/self/fd/N is absolute, so the dir_fd itself is not used.
                os.link(f"/proc/self/fd/{fd}", obj, src_dir_fd=fd)
            except FileExistsError:
                return False  # a concurrent twin stored the same content first
            except OSError as exc:
                if self._tmpfile_works or exc.errno not in (errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EACCES):
                    raise
                self._tmpfile_works = False
                return None
        finally:
            os.close(fd)
        self._tmpfile_works = True
        return True


    def _has_size(self, obj: str, size: int) -> bool:
        """True if the large object ``obj`` is there, a regular file of ``size`` bytes. Its size is
        all that is checked before reusing it: reading it again would double the cost of a store."""
        folder = os.path.dirname(obj)
        if folder not in self._dirs:  # never look through a link either
            self._ensure_dir(folder)
        try:
            info = os.lstat(obj)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size == size

    def _present(self, obj: str, destination: str) -> None:
        """Make ``destination`` show the object's content: reflink, else hard link, else copy.

        A hard link to a new name is atomic on its own (the name appears complete or not at all),
        so the common case costs one system call; a temporary name is only needed to replace an
        existing file or to build a copy.
        """
        if self._reflink_works is False:  # the common case first, for 10,000 small files
            try:
                os.link(obj, destination)
                return
            except OSError:
                pass  # no folder yet, a name in the way, or no hard links: sorted out below
        elif self._via_temporary(
            destination, lambda tmp: self._try_reflink(obj, tmp)
        ):
            return
        try:
            self._retry_in_new_dir(os.path.dirname(destination), lambda: os.link(obj, destination))
            return
        except FileExistsError:
            linked = self._via_temporary(destination, lambda tmp: _link_or_false(obj, tmp))
        except OSError as exc:
            if exc.errno not in _LINK_UNSUPPORTED:
                raise
            linked = False
        if not linked:
            self._via_temporary(destination, lambda tmp: _copy_read_only(obj, tmp))

    def _via_temporary(self, destination: str, make: Callable[[str], bool]) -> bool:
        """Build ``destination`` under a temporary name with ``make``; rename it into place if True."""
        folder, name = os.path.split(destination)
        os.makedirs(folder, exist_ok=True)  # not the cache: this rare path must not trust a stale entry
        tmp = f"{folder}/{unique_temp(name)}"
        try:
            if not make(tmp):
                return False
            os.replace(tmp, destination)
            return True
        finally:
            remove_quietly(tmp)

    def _try_reflink(self, obj: str, tmp: str) -> bool:
        ok = _reflink(obj, tmp)
        if self._reflink_works is None:
            self._reflink_works = ok
        if ok:
            os.chmod(tmp, _READ_ONLY)
        return ok



def _reflink(source: str, destination: str) -> bool:
    """Clone ``source`` to a new file ``destination`` sharing its blocks; False if unsupported."""
    try:
        import fcntl

        ficlone = 0x40049409  # FICLONE from linux/fs.h
        with open(source, "rb") as src, open(destination, "xb") as dst:
            try:
                fcntl.ioctl(dst.fileno(), ficlone, src.fileno())
            except OSError:
                dst.close()
                os.unlink(destination)
                return False
        return True
    except (ImportError, OSError):
        return False



def _holds(obj: str, info: os.stat_result, data: bytes) -> bool:
    """True if the object ``obj`` (``info`` from lstat) holds exactly ``data``, a small content in
    memory: the size, then the bytes (one open, read and close, only when the content is stored
    already). An object that cannot be read counts as damaged."""
    if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
        return False
    try:
        fd = os.open(obj, READ_FLAGS | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)




def _link_or_false(obj: str, tmp: str) -> bool:
    try:
        os.link(obj, tmp)
    except OSError as exc:
        if exc.errno not in _LINK_UNSUPPORTED:
            raise
        return False
    return True


def _copy_read_only(obj: str, tmp: str) -> bool:
    shutil.copyfile(obj, tmp)
    os.chmod(tmp, _READ_ONLY)
    return True
