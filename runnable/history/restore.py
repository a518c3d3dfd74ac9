"""Restore a run's stored files into a folder, checking every byte against the record.

Rules, in the order they are applied to each selected file:

1. the destination must stay inside the target folder and out of runnable's own folders (the
   catalog, the run-log store), whatever the record says; and no symbolic link below the target
   folder is ever followed: each folder is opened relative to its parent without following links,
   and a link where a folder of the path should be refuses the file, naming the link;
2. a folder (or a FIFO, socket or device) where the file should go is never replaced, not even with
   ``force``: the report names it and says to move it away or restore into another folder;
3. a file already there with the recorded content is left alone (nothing to do);
4. a file already there with other content is refused unless ``force``;
5. an entry recorded by hash only (``store_copy=False``) is reported as not restorable, with its hash;
6. a file where one of its folders should go is never replaced either (``force`` never turns a file
   into a folder): the report names it, as in rule 2;
7. otherwise the stored copy is streamed to a new temporary file beside the destination (created
   relative to its folder, never through a link) while it is hashed, and renamed into place only if
   the hash and size match the record. A link where the file itself goes is replaced, never written
   through (rule 4 still asks for ``force``).

Every file is attempted; the report says what happened to each. Before any of them, the target
folder itself is refused (``RestoreError``) when it is, or resolves to a folder inside, the catalog
or another of runnable's own folders: restoring there would overwrite stored copies or records.

>>> # restore(record, storage, ["data_folder/"], Path("restored"), force=False).ok
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runnable.backends.protocols import Storage, local_folder
from runnable.errors import IntegrityError, RestoreError, UsageError
from runnable.files.fileio import blocking_path, unique_temp
from runnable.files.hashing import CHUNK_SIZE, hash_stream
from runnable.files.patterns import iter_matching, normalize
from runnable.history.verify import VerifiedReader, open_stored
from runnable.record import FileEntry, RunRecord, check_rel_path


@dataclass
class RestoreReport:
    """What happened to each selected file."""

    run_id: str
    destination: Path
    written: list[str] = field(default_factory=list)
    identical: list[str] = field(default_factory=list)  # already there with the recorded content
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    not_stored: list[tuple[str, str]] = field(default_factory=list)  # (path, "md5:...")
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    @property
    def ok(self) -> bool:
        """True when every selected file is now in the folder with its recorded content."""
        return not (self.refused or self.not_stored or self.failed)


def select(record: RunRecord, patterns: list[str]) -> list[FileEntry]:
    """The entries ``patterns`` select (all when empty); UsageError if a pattern selects nothing,
    PatternError if one is absolute or uses ``..`` or ``~``.

    >>> # [f.path for f in select(record, ["data_folder/"])]
    """
    if not patterns:
        return list(record.files)
    # The put patterns' rules, said about this run: here a pattern selects among the paths it recorded.
    rule = (f"patterns select among the paths run {record.run_id} recorded, as `runnable runs show "
            f"{record.run_id}` lists them; give none to restore every file")
    for pattern in patterns:
        normalize(pattern, what="pattern", rule=rule)
    by_path = {f.path: f for f in record.files}
    chosen = set(iter_matching(patterns, by_path))
    for pattern in patterns:
        if not any(True for _ in iter_matching([pattern], by_path)):
            listing = ", ".join(sorted(by_path)) or "no files"
            raise UsageError(f"pattern {pattern!r} matches no file of run {record.run_id}; it has: {listing}")
    return [f for f in record.files if f.path in chosen]


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_target(destination: Path, protected: Sequence[tuple[str, str, Path]]) -> None:
    """RestoreError if ``destination`` is, or is inside, one of the ``protected`` folders.

    ``protected`` holds (what, location as configured, folder) such as ``("catalog", ".catalog",
    Path("/proj/.catalog"))``. Paths are compared resolved, so a link or a ``..`` spelling leading
    into a folder is caught; a target that *contains* one (the working folder holds ``.catalog``)
    is fine.

    >>> check_target(Path("restored"), [("catalog", ".catalog", Path(".catalog"))])
    """
    real = os.path.realpath(destination)
    for what, location, folder in protected:
        root = os.path.realpath(folder)
        if not _inside(real, root):
            continue
        where = "is" if real == root else "is inside"
        resolved = f" (it resolves to {real})" if os.path.abspath(destination) != real else ""
        raise RestoreError(f"cannot restore into {destination}: it {where} the {what} folder {location}{resolved}, "
                           "which runnable manages; choose a folder outside it")


def restore(record: RunRecord, storage: Storage, patterns: list[str], destination: Path,
            force: bool = False, protected: Sequence[tuple[str, str, Path]] = ()) -> RestoreReport:
    """Restore the selected files of ``record`` into ``destination`` (created if needed).

    ``destination`` may not be in the catalog (when ``storage`` is a local folder) nor in the other
    ``protected`` folders, such as the run-log store: see ``check_target``. No file is written into
    one of them either, whatever path its record gives, and nothing is written through a symbolic
    link below ``destination`` (see ``_Target``).
    """
    report = RestoreReport(record.run_id, destination)
    catalog = local_folder(storage)
    own = [("catalog", storage.location, catalog)] if catalog is not None else []
    check_target(destination, [*own, *protected])
    entries = select(record, patterns)
    blocker = blocking_path(destination.absolute())
    if blocker is not None:
        raise RestoreError(f"cannot restore into {destination}: {blocker} is a file, not a folder; "
                           "move it away, or restore into another folder")
    destination.mkdir(parents=True, exist_ok=True)
    # The target folder itself may be a link (the user named it); nothing below it is followed.
    with _Target(destination, [*own, *protected]) as target:
        for entry in entries:
            try:
                _restore_one(record.run_id, entry, storage, target, force, report)
            except OSError as exc:
                why = exc.strerror or str(exc)
                report.failed.append((entry.path, f"{why}: {exc.filename}" if exc.filename else why))
    return report


# Printed after what is in the way: the same way out for every kind of obstacle.
_WAY_OUT = "move it away, or restore into another folder"
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW
# Folder descriptors kept open between files (most files share a few folders); far below the usual
# limit of 1,024 open files a process, which the storage's own reads share.
_OPEN_FOLDERS = 128


class _Blocked(Exception):
    """Something other than a real folder stands where a folder of the file's path must be."""

    def __init__(self, kind: str, rel_folder: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind  # "link", "file" or "special"
        self.rel_folder = rel_folder
        self.why = why


class _Target:
    """The folder restored into, walked one folder at a time, never through a symbolic link.

    Each folder of a file's path is opened relative to its parent's descriptor with ``O_NOFOLLOW``
    (made if missing), and the file is created and renamed relative to its folder's descriptor: a
    link planted anywhere below the target -- before the restore or while it runs -- can never lead a
    write into the stores or out of the folder. This is the one place restores write.
    """

    def __init__(self, destination: Path, protected: Sequence[tuple[str, str, Path]]) -> None:
        self.destination = destination
        self.fd = os.open(destination, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        # Where a file really lands, since no link below is followed: this joined with its path. Read
        # from the open folder where the system can tell, so a target swapped for a link after
        # check_target still has every file checked against the stores where it really is.
        by_fd = f"/proc/self/fd/{self.fd}"
        self.root = os.path.realpath(by_fd if os.path.isdir(by_fd) else destination)
        self.protected = [(what, location, os.path.realpath(folder)) for what, location, folder in protected]
        self._folders: dict[str, int] = {"": self.fd}

    def __enter__(self) -> _Target:
        return self

    def __exit__(self, *_: object) -> None:
        for fd in self._folders.values():
            os.close(fd)
        self._folders.clear()

    def shown(self, rel: str) -> str:
        """``rel`` (below the target) as the user names it: under the folder they gave."""
        return str(self.destination / rel)

    def store_inside(self, rel: str) -> str | None:
        """The refusal when ``rel`` lands in one of runnable's own folders (the catalog, the run-log
        store) -- where a record edited to name ``.catalog/other-run/a.txt`` would overwrite another
        run's stored copy, or ``.run_log_store/x.json`` would forge a run; else None."""
        landing = os.path.join(self.root, *rel.split("/"))
        for what, location, folder in self.protected:
            if _inside(landing, folder):
                return (f"it would be written into the {what} folder {location} ({landing}), which runnable "
                        "manages; a record naming such a path was edited by hand: refusing it")
        return None

    def folder(self, rel_folder: str, create: bool) -> int | None:
        """The descriptor of the folder ``rel_folder`` (made with its parents if ``create``); None
        if it is missing and not ``create``. Raises _Blocked naming what is in the way."""
        if rel_folder in self._folders:
            return self._folders[rel_folder]
        parent_rel, _, name = rel_folder.rpartition("/")
        parent = self.folder(parent_rel, create)
        if parent is None:
            return None
        try:
            fd = os.open(name, _OPEN_FOLDER, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(name, dir_fd=parent)
            except FileExistsError:  # made at the same instant by someone else: open what is there
                pass
            fd = self._open_existing(parent, name, rel_folder)
        except OSError:  # ELOOP (a link), ENOTDIR (a file, a FIFO...): say which
            fd = self._open_existing(parent, name, rel_folder)
        if len(self._folders) > _OPEN_FOLDERS:  # a tree of thousands of folders: stay within the fd limit
            for path in [p for p in self._folders if p]:
                os.close(self._folders.pop(path))
        self._folders[rel_folder] = fd
        return fd

    def _open_existing(self, parent: int, name: str, rel_folder: str) -> int:
        try:
            return os.open(name, _OPEN_FOLDER, dir_fd=parent)
        except OSError:
            info = os.lstat(name, dir_fd=parent)
            if stat.S_ISLNK(info.st_mode):
                real = os.path.realpath(os.path.join(self.root, rel_folder))
                where = (f"it would be written outside {self.root} (through {real}): "
                         if not _inside(real, self.root) else f"it leads to {real}: ")
                raise _Blocked("link", rel_folder,
                               f"{where}{self.shown(rel_folder)} is a symbolic link, and a restore never writes "
                               "through one: remove the link, or restore into another folder") from None
            if stat.S_ISDIR(info.st_mode):
                raise
            kind = "file" if stat.S_ISREG(info.st_mode) else "special file (FIFO, socket or device)"
            raise _Blocked("file" if kind == "file" else "special", rel_folder,
                           f"a {kind} is in the way: {self.shown(rel_folder)} is where a folder must be; it is "
                           "not replaced (--force replaces files, but never turns a file into a folder): "
                           f"{_WAY_OUT}") from None


def _restore_one(run_id: str, entry: FileEntry, storage: Storage, target: _Target, force: bool,
                 report: RestoreReport) -> None:
    rel = entry.path
    try:
        check_rel_path(rel)  # records are checked when read; check again where it matters
    except ValueError as exc:
        report.refused.append((rel, str(exc)))
        return
    into_store = target.store_inside(rel)
    if into_store is not None:
        report.refused.append((rel, into_store))
        return
    rel_folder, _, name = rel.rpartition("/")
    expected = f"{entry.algorithm}:{entry.digest}"
    try:
        folder = target.folder(rel_folder, create=False)
    except _Blocked as blocked:
        if blocked.kind == "link":
            report.refused.append((rel, blocked.why))
            return
        folder = None  # a file where a folder must be: said below, once we know there is a copy
        in_the_way: _Blocked | None = blocked
    else:
        in_the_way = None
    if folder is not None:
        try:
            info: os.stat_result | None = os.lstat(name, dir_fd=folder)
        except FileNotFoundError:
            info = None
        if info is None:
            pass
        elif stat.S_ISLNK(info.st_mode):
            if not force:
                report.refused.append((rel, "a symbolic link is there; use --force to replace the link"))
                return
        elif stat.S_ISDIR(info.st_mode):
            report.failed.append((rel, f"a folder is in the way: {target.shown(rel)}; it is not "
                                       f"replaced (--force replaces files, never folders): {_WAY_OUT}"))
            return
        elif not stat.S_ISREG(info.st_mode):
            # A FIFO, socket or device: never opened (reading a FIFO would hang), never replaced.
            report.failed.append((rel, f"a special file (FIFO, socket or device) is in the way: "
                                       f"{target.shown(rel)}; it is never opened or replaced: {_WAY_OUT}"))
            return
        else:
            # O_NONBLOCK: a FIFO swapped in since the lstat is not waited on, and is refused below.
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=folder)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    report.failed.append((rel, f"{target.shown(rel)} changed while it was looked at; run "
                                               "the restore again"))
                    return
                digest, _ = hash_stream(fd, entry.algorithm)
            finally:
                os.close(fd)
            if digest == entry.digest:
                report.identical.append(rel)
                return
            if not force:
                report.refused.append((rel, f"a different file is there ({entry.algorithm} {digest}); "
                                            "use --force to overwrite it"))
                return
    if not entry.stored:
        report.not_stored.append((rel, expected))
        return
    if in_the_way is not None:
        report.failed.append((rel, in_the_way.why))
        return
    try:
        folder = target.folder(rel_folder, create=True)
    except _Blocked as blocked:
        (report.refused if blocked.kind == "link" else report.failed).append((rel, blocked.why))
        return
    assert folder is not None  # made if missing
    _write(run_id, entry, storage, folder, name, report)


def _write(run_id: str, entry: FileEntry, storage: Storage, folder: int, name: str,
           report: RestoreReport) -> None:
    """Stream the stored copy to a new temporary file in ``folder`` while hashing it, and rename it
    over ``name`` only if the bytes match the record (both names relative to ``folder``)."""
    rel = entry.path
    tmp = unique_temp(name)
    try:
        try:
            source = open_stored(storage, run_id, entry)
        except FileNotFoundError:
            report.failed.append((rel, f"the stored copy ({entry.algorithm}:{entry.digest}) is missing from "
                                       f"{storage.location}"))
            return
        try:
            out_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666, dir_fd=folder)
        except OSError:
            source.close()
            raise
        try:
            with VerifiedReader(source, entry) as checked, os.fdopen(out_fd, "wb") as out:
                shutil.copyfileobj(checked, out, CHUNK_SIZE)
        except IntegrityError as exc:
            report.failed.append((rel, f"the stored copy is CORRUPT: {exc.detail}; not restored"))
            return
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        report.written.append(rel)
    finally:
        try:
            os.unlink(tmp, dir_fd=folder)
        except FileNotFoundError:
            pass
