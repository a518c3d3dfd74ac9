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

The class is put together from one module per concept in this folder: ``layout.py`` (where each
object and run file lives; folders that are never links), ``objects.py`` (writing and linking
objects), ``reading.py`` (reading, listing and deleting), ``hints.py`` (``.hints``); this module
holds ``store`` and the large-file path.

Tuned for speed: run ``python benchmarks/catalog_bench.py`` before and after changing it
(``--quick`` for a first look; the full run for figures), and compare the ratios to the floor.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Callable

from runnable.backends.local.hints import _Hint
from runnable.backends.local.layout import _READ_ONLY, HINTS, OBJECTS, TMP
from runnable.backends.local.objects import ObjectWriter
from runnable.backends.local.reading import StoredFiles
from runnable.backends.protocols import Stored, last_change_ns
from runnable.errors import CatalogError
from runnable.files.fileio import CREATE_FLAGS, read_small, remove_quietly
from runnable.files.hashcache import HashCache
from runnable.files.hashing import SMALL_FILE, hash_bytes, hash_stream, open_source

#: From this size on, a source file stored before with the same size is hashed before it is copied
#: (see the module's docstring): for an unchanged 1 GiB output that saves writing 1 GiB.
HASH_FIRST_MIN = 8 * 1024 * 1024
__all__ = ["HASH_FIRST_MIN", "HINTS", "OBJECTS", "TMP", "FileSystemStorage"]


class FileSystemStorage(ObjectWriter, StoredFiles):
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

