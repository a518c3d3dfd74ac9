"""The file-system catalog: content-addressed objects plus one browsable folder per run.

Layout under the catalog folder (``.catalog`` by default)::

    .catalog/
    ├── .objects/md5/90/0150983cd24fb0d6963f7d28e17f72   # each distinct content once, read-only
    ├── .objects/tmp/                                    # partial copies (never look complete)
    ├── .hints/                                          # what each large source file was when last stored
    └── unsolvable-ramanujan-0634/                      # one folder per run, as the spec shows
        ├── df.csv                                      # a link to its object
        └── data_folder/data.txt

Run files are links to objects: a reflink where the file system supports it, else a hard link, and a
plain copy only where neither works. Objects are read-only, so editing a working file after a run
never changes what the catalog holds for that run, and identical content is stored once.

A large file is copied while it is hashed (one read), because its hash is known only at the end.
When the same source file was stored before with the same size, and that content is still in the
catalog, it is likely unchanged: it is then hashed first, without writing, and linked to the
existing object if the hash matches (else copied after all, a second read). A ``.hints`` file per
source path and algorithm remembers what the file was when last stored (``_Hint``); it only
chooses the order, never the recorded hash.

An existing object is checked before it is reused, since mode 0444 stops neither root nor a user
after ``chmod u+w``, and a run file that is a hard link *is* its object: a small content (read into
memory) must match it byte for byte, a large one must have its size (a same-size edit in place is
left to ``runnable catalog verify``). A damaged object is replaced under its name by a correct copy;
earlier runs sharing the damaged inode stay damaged, and verify reports them.

The catalog never writes outside its folder: a run folder, ``.objects``, its algorithm, ``tmp`` and
prefix folders that are symbolic links (or not folders at all) are refused with a CatalogError,
checked once per process (``_dirs``) or run. The catalog folder itself may be a link: the user's choice.

Tuned for speed: run ``python benchmarks/catalog_bench.py`` before and after changing it
(``--quick`` for a first look; the full run for figures), and compare the ratios to the floor.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from runnable.backends.protocols import Stored, last_change_ns
from runnable.errors import CatalogError, RecordError, UnsafeStoredFileError
from runnable.files.fileio import (
    CREATE_FLAGS,
    READ_FLAGS,
    READ_ONLY,
    TEMP_PREFIX,
    make_location,
    read_small,
    refuse_non_folder,
    refuse_working_folder,
    remove_quietly,
    unique_temp,
    write_new_file,
)
from runnable.files.hashcache import HashCache
from runnable.files.hashing import SMALL_FILE, hash_bytes, hash_stream, is_hex_digest, open_source
from runnable.record import check_run_id

OBJECTS = ".objects"
TMP = "tmp"
HINTS = ".hints"
#: From this size on, a source file stored before with the same size is hashed before it is copied
#: (see the module's docstring): for an unchanged 1 GiB output that saves writing 1 GiB.
HASH_FIRST_MIN = 8 * 1024 * 1024
_READ_ONLY = READ_ONLY
_T = TypeVar("_T")
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)  # Linux 3.11+: a file created without a name
# Link failures that mean "this file system cannot do it here", answered by copying instead:
# EMLINK (an object already has the most hard links allowed, 65000 on ext4), EPERM/ENOTSUP (no hard
# links, e.g. some network and FUSE file systems), EXDEV (the run folder is a mount of its own).
_LINK_UNSUPPORTED = (errno.EMLINK, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV)


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


class FileSystemStorage:
    """A catalog in a local (or mounted) folder.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("hi")
    >>> FileSystemStorage(root / ".catalog").store("run-1", "a.txt", root / "a.txt", "md5").digest
    '49f68a5c8493ec2c0bf489821c21fc3b'
    """

    #: Threads ``put_files`` stores files with when it does not fork. One: each small file is a
    #: handful of system calls on folders, and a second thread only adds contention for the GIL
    #: (10,000 files of 1 KiB, 2 cores: 0.72 s with one thread, 1.10 s with two). A large file
    #: overlaps its own copying and hashing anyway.
    put_workers = 1
    #: The setting naming the folder (``FolderBackend``): what a container mounts.
    folder_setting = "catalog_location"
    #: Many files (see ``put.FORK_MIN_FILES``) are stored by up to this many forked processes, one
    #: per CPU: creating files is kernel work that does run in parallel across processes (10,000
    #: files of 1 KiB, 2 cores: 0.96 s in one process, about 0.5 s in two).
    put_processes = 4

    def __init__(self, catalog_location: str | os.PathLike[str] = ".catalog") -> None:
        self.root = Path(catalog_location).absolute()
        self.location = str(catalog_location)
        self._reflink_works: bool | None = None
        self._tmpfile_works: bool | None = None if _O_TMPFILE else False
        # Folders known to exist: for 10,000 small files this saves two of every file's ~10 system
        # calls. A folder removed behind our back is noticed (FileNotFoundError) and made again.
        # Those in ``.objects`` are also known to be real folders, not links (``_make_real_folders``).
        self._dirs: set[str] = set()
        self._valid_runs: set[str] = set()  # run ids already checked
        self._run_folders: set[str] = set()  # run ids whose folder is known not to be a link
        self._cache: HashCache | None = None  # read on the first large file (runnable.files.hashcache)
        self._shown = str(Path(self.location))  # how locations are shown: as given, normalised
        self._root = str(self.root)
        self._objects = f"{self._root}/{OBJECTS}"

    def check_location(self, working_folder: Path | None = None) -> None:
        """Raise CatalogError if something that is not a folder stands where the catalog must be.

        The runner calls it before the job starts, so a stray file named ``.catalog`` fails the run
        at once instead of after the job's work. The file itself is never touched. With the
        ``working_folder``, a catalog that is that folder or one above it is refused too.
        """
        refuse_non_folder(self.root, "the catalog location", "catalog_location")
        if working_folder is not None:
            refuse_working_folder(self.root, working_folder, "the catalog location", "catalog_location", ".catalog")

    def make_location(self) -> None:
        """Make the folder before the job runs (after ``check_location``), or say why it cannot be."""
        make_location(self.root, "the catalog location", "catalog_location")

    # -- layout -----------------------------------------------------------------------------
    def object_path(self, algorithm: str, digest: str) -> Path:
        return Path(self._object(algorithm, digest))

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def run_file(self, run_id: str, rel: str) -> Path:
        # Records are checked before they reach here; this guards the storage on its own too.
        return Path(self._run_path(run_id, rel))

    def run_location(self, run_id: str) -> str:
        return f"{self._shown}/{run_id}"

    def run_file_is_object(self, run_id: str, rel: str, algorithm: str, digest: str) -> bool:
        """True if the run's file is a hard link to the object (the same bytes: no second read).

        Raises FileNotFoundError if the run's file is gone, UnsafeStoredFileError if it (or a folder
        on its way) is a symbolic link. Used by ``verify``.
        """
        with self.open_run_file(run_id, rel) as handle:  # never through a link: see _open_stored
            run = os.fstat(handle.fileno())
        try:
            obj = os.lstat(self.object_path(algorithm, digest))
        except FileNotFoundError:
            return False
        return (run.st_dev, run.st_ino) == (obj.st_dev, obj.st_ino)

    def _ensure_dir(self, folder: str) -> None:
        if folder in self._dirs:
            return
        if not folder.startswith(self._objects):  # a run's folders: its top is checked in store()
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
            return
        try:
            self._make_real_folders(folder)
        except FileNotFoundError:  # a parent was removed behind our back: look at each one again
            self._forget(folder)
            self._make_real_folders(folder)

    def _forget(self, folder: str) -> None:
        """Stop taking ``folder`` and its parents in the catalog as made: one was removed."""
        while len(folder) >= len(self._root):
            self._dirs.discard(folder)
            folder = os.path.dirname(folder)

    def _make_real_folders(self, folder: str) -> None:
        """Make ``folder`` (in ``.objects``) and its parents up to the catalog folder, refusing any
        that is a symbolic link or not a folder: writing through one could land outside the catalog.
        One lstat a folder and process (about 260 per algorithm: ``.objects``, its algorithm folder,
        ``tmp`` and 256 prefixes), then a set lookup; the catalog folder itself may be a link."""
        path = self._root
        if path not in self._dirs:
            os.makedirs(path, exist_ok=True)
            self._dirs.add(path)
        for part in folder[len(path) + 1:].split("/"):
            path = f"{path}/{part}"
            if path in self._dirs:
                continue
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                try:
                    os.mkdir(path)  # (FileNotFoundError if its parent is gone: see _ensure_dir)
                    self._dirs.add(path)
                    continue
                except FileExistsError:  # made at the same instant by a concurrent run
                    info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode):
                raise self._not_a_real_folder(path, info, "remove it")
            self._dirs.add(path)

    def _not_a_real_folder(self, path: str, info: os.stat_result, remedy: str) -> CatalogError:
        kind = "a symbolic link inside the catalog" if stat.S_ISLNK(info.st_mode) else "not a folder"
        return CatalogError(
            f"{path} is {kind}; the catalog never writes outside its folder {self._root}, so nothing "
            f"was stored through it: {remedy}, then run again (runnable left it as it is)"
        )

    def _retry_in_new_dir(self, folder: str, action: Callable[[], None]) -> None:
        """Run ``action`` (which creates a name in ``folder``), making the folder if it vanished."""
        self._ensure_dir(folder)
        try:
            action()
        except FileNotFoundError:
            self._dirs.discard(folder)
            self._ensure_dir(folder)
            action()

    # -- storing ----------------------------------------------------------------------------
    def store(
        self,
        run_id: str,
        rel: str,
        source: str | os.PathLike[str],
        algorithm: str,
        progress: Callable[[int], None] | None = None,
    ) -> Stored:
        # Plain strings on this path, not pathlib: for 10,000 small files pathlib alone cost ~40 us a
        # file, as much as the system calls.
        destination = self._run_path(run_id, rel)  # refuse a bad path before reading anything
        if run_id not in self._run_folders:
            self._check_run_folder(run_id)
        data = None
        src, before = open_source(source)  # the file itself, never through a link swapped in
        try:
            if before.st_size <= SMALL_FILE and stat.S_ISREG(before.st_mode):
                data = read_small(src, before, source)
            else:
                digest, size, obj, new = self._store_large(src, source, before, algorithm, progress)
        finally:
            os.close(src)
        if data is not None:
            digest, size = hash_bytes(data, algorithm), len(data)
            if progress:
                progress(size)
            folder = f"{self._objects}/{algorithm}/{digest[:2]}"
            obj = f"{folder}/{digest[2:]}"
            new = self._commit_bytes(data, folder, obj)
        self._present(obj, destination)
        # The source's times come from the fstat above: telling a stale file costs no system call.
        return Stored(digest=digest, size=size, location=f"{self._shown}/{run_id}/{rel}", new=new,
                      changed_ns=last_change_ns(before))

    def _object(self, algorithm: str, digest: str) -> str:
        return f"{self._objects}/{algorithm}/{digest[:2]}/{digest[2:]}"

    def _run_path(self, run_id: str, rel: str) -> str:
        """``run_file`` as a string, checked without pathlib (same rule: it must stay in the run)."""
        if run_id not in self._valid_runs:
            try:
                check_run_id(run_id)
            except RecordError as exc:
                raise CatalogError(f"cannot store into run {run_id!r}: {exc}") from None
            self._valid_runs.add(run_id)
        # Every part non-empty and neither '.' nor '..' (substring tests: this runs once per file).
        wrapped = f"/{rel}/"
        if "//" in wrapped or "/./" in wrapped or "/../" in wrapped or "\0" in rel or rel in ("", "/"):
            raise CatalogError(f"catalog path {rel!r} would leave the run folder of {run_id!r}")
        return f"{self._root}/{run_id}/{rel}"

    def begin_run(self, run_id: str) -> None:
        """Make the run's folder, new and empty, as its id is reserved (before the job runs).

        A folder already there was left by an earlier run of this id whose record is gone (deleted
        by hand, or by a gc that failed halfway); it could hold links leading out of the catalog,
        which storing below it would follow, so it is refused, not reused.
        """
        self._run_path(run_id, "x")  # the same check of the id as every store
        folder = f"{self._root}/{run_id}"
        os.makedirs(self._root, exist_ok=True)
        try:
            os.mkdir(folder)
        except FileExistsError:
            raise CatalogError(
                f"the catalog already has a folder for run {run_id!r}, {folder}, left by an earlier run "
                "whose record is gone; remove that folder or choose another run id (runnable left it as it is)"
            ) from None
        self._run_folders.add(run_id)

    def _check_run_folder(self, run_id: str) -> None:
        """Refuse to store into a run folder that exists but is a link (or a file): once per run."""
        folder = f"{self._root}/{run_id}"
        try:
            info = os.lstat(folder)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISDIR(info.st_mode):
                raise self._not_a_real_folder(folder, info, "remove it or choose another run id")
        self._run_folders.add(run_id)

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

    def _store_large(
        self, src: int, source: str | os.PathLike[str], before: os.stat_result, algorithm: str,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int, str, bool]:
        """Hash first if the hint says this content is probably stored already; else copy.

        First of all, a file the hash cache knows unchanged (``runnable.files.hashcache``) whose object is
        stored is not read at all: a second run with an unchanged 1 GiB output costs a stat.
        """
        cache = self._hash_cache()
        known = cache.lookup(before, algorithm)
        if known is not None and self._has_size(obj := self._object(algorithm, known), before.st_size):
            if progress is not None:
                progress(before.st_size)
            return known, before.st_size, obj, False
        digest, size, obj, new = self._store_large_read(src, source, before, algorithm, progress)
        if size == before.st_size:  # the status it had while read whole (else hash_stream raised)
            cache.remember(before, algorithm, digest)
            cache.save()
        return digest, size, obj, new

    def _hash_cache(self) -> HashCache:
        if self._cache is None:
            self._cache = HashCache.default()
        return self._cache

    def _store_large_read(
        self, src: int, source: str | os.PathLike[str], before: os.stat_result, algorithm: str,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int, str, bool]:
        hint_file = self._hint_file(source, algorithm) if before.st_size >= HASH_FIRST_MIN else None
        if hint_file is None:
            return self._copy_large(src, source, algorithm, progress)
        hint = _Hint.read(hint_file)
        if hint is not None and hint.worth_hashing_first(before) \
                and self._has_size(obj := self._object(algorithm, hint.digest), before.st_size):
            digest, size = hash_stream(src, algorithm, progress=progress, name=source)
            if digest == hint.digest and self._has_size(obj, size):  # (gc may have removed it meanwhile)
                if not hint.same_file(before):
                    _Hint.of(before, algorithm, digest, changed=False).write(hint_file)
                return digest, size, obj, False
            os.lseek(src, 0, os.SEEK_SET)  # changed after all: copy it (a second read)
            if progress is not None:
                report = progress  # its bytes were counted once: still let it interrupt the copy
                progress = lambda n: report(0)  # noqa: E731
        digest, size, obj, new = self._copy_large(src, source, algorithm, progress)
        # ``changed``: this path's content differed from the last time, so next time, unless the
        # file is untouched since, copy straight away instead of hashing first (a fixed-size
        # output rewritten with new content every run costs one extra read, not one per run).
        _Hint.of(before, algorithm, digest, changed=hint is not None and hint.digest != digest).write(hint_file)
        return digest, size, obj, new

    def _hint_file(self, source: str | os.PathLike[str], algorithm: str) -> str | None:
        """Where the hint for this source file and algorithm lives: named by a hash of both.

        None if ``.hints`` is not a real folder (a file, or a link that could lead out of the
        catalog): then there are no hints, and large files are simply copied.
        """
        folder = f"{self._root}/{HINTS}"
        if folder not in self._dirs:
            try:
                os.makedirs(self._root, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder)
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    return None
            except OSError:
                return None
            self._dirs.add(folder)
        key = os.fsencode(os.path.abspath(source)) + b"\0" + algorithm.encode()
        return f"{folder}/{hashlib.md5(key, usedforsecurity=False).hexdigest()}"


    def _copy_large(
        self, src: int, source: str | os.PathLike[str], algorithm: str, progress: Callable[[int], None] | None
    ) -> tuple[str, int, str, bool]:
        """Copy into a temporary object while hashing, then give it its content name."""
        tmp, out = self._create_temp(lambda name: os.open(name, CREATE_FLAGS, _READ_ONLY))
        try:
            try:
                digest, size = hash_stream(src, algorithm, sink=out, progress=progress, name=source)
            finally:
                os.close(out)
            obj = self._object(algorithm, digest)
            if self._has_size(obj, size):
                return digest, size, obj, False  # dedup: the finally below drops the copy
            # Rename, not link: a concurrent twin that wins the race replaces identical bytes, and
            # an object damaged to another size is replaced by this correct copy.
            self._retry_in_new_dir(os.path.dirname(obj), lambda: os.replace(tmp, obj))
            return digest, size, obj, True
        finally:
            remove_quietly(tmp)

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

    # -- reading ----------------------------------------------------------------------------
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


@dataclass(frozen=True)
class _Hint:
    """What a large source file was when last stored: enough to guess whether it changed since.

    Only a guess that decides whether to hash before copying: a hint that cannot be read is ignored.
    """

    size: int
    mtime_ns: int
    inode: int
    algorithm: str
    digest: str
    changed: bool  # its content differed from the hint before this one

    @classmethod
    def of(cls, info: os.stat_result, algorithm: str, digest: str, changed: bool) -> _Hint:
        return cls(info.st_size, info.st_mtime_ns, info.st_ino, algorithm, digest, changed)

    def same_file(self, info: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.inode) == (info.st_size, info.st_mtime_ns, info.st_ino)

    def worth_hashing_first(self, info: os.stat_result) -> bool:
        """Untouched since, or rewritten at the same size by a job whose output did not change."""
        return self.same_file(info) or (self.size == info.st_size and not self.changed)

    @classmethod
    def read(cls, hint_file: str) -> _Hint | None:
        try:
            # Never through a link, never blocking on a FIFO: only a regular file is a hint.
            fd = os.open(hint_file, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_NONBLOCK", 0))
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None
                hint = cls(**json.loads(os.read(fd, 4096)))
            finally:
                os.close(fd)
            fields_ok = all(isinstance(v, int) and not isinstance(v, bool)
                            for v in (hint.size, hint.mtime_ns, hint.inode)) and isinstance(hint.changed, bool)
            if fields_ok and isinstance(hint.algorithm, str) and isinstance(hint.digest, str) \
                    and is_hex_digest(hint.digest, hint.algorithm):
                return hint
        except (OSError, ValueError, TypeError, RecursionError):
            pass
        return None

    def write(self, hint_file: str) -> None:
        """Atomically (a temporary name, then a rename); a failure is ignored."""
        tmp = f"{os.path.dirname(hint_file)}/{unique_temp('hint')}"
        try:
            write_new_file(tmp, json.dumps(asdict(self)).encode())
            os.replace(tmp, hint_file)
        except OSError:
            remove_quietly(tmp)


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


def _real_subfolders(folder: str) -> list[str]:
    """The names of the real folders (not links to folders) directly in ``folder``, sorted; none if
    ``folder`` itself is not a real folder."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return []
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


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
