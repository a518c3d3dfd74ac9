"""Restore a run's stored files into a folder, checking every byte against the record.

Rules, in the order they are applied to each selected file:

1. the destination must resolve inside the target folder -- whatever the record says, and through
   any symbolic links already there -- else the file is refused;
2. a folder (or a FIFO, socket or device) where the file should go is never replaced, not even with
   ``force``: the report names it and says to move it away or restore into another folder;
3. a file already there with the recorded content is left alone (nothing to do);
4. a file already there with other content is refused unless ``force``;
5. an entry recorded by hash only (``store_copy=False``) is reported as not restorable, with its hash;
6. a file where one of its folders should go is never replaced either (``force`` never turns a file
   into a folder): the report names it, as in rule 2;
7. otherwise the stored copy is streamed to a temporary file beside the destination while it is
   hashed, and renamed into place only if the hash and size match the record.

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

from runnable.errors import IntegrityError, RestoreError, UsageError
from runnable.hashing import CHUNK_SIZE, hash_file
from runnable.patterns import iter_matching, normalize
from runnable.record import FileEntry, RunRecord, check_rel_path
from runnable.storage import Storage, local_folder
from runnable.transfer import blocking_path, temp_name
from runnable.verify import VerifiedReader, open_stored


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
    ``protected`` folders, such as the run-log store: see ``check_target``.
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
    root = os.path.realpath(destination)
    for entry in entries:
        try:
            _restore_one(record.run_id, entry, storage, destination, root, force, report)
        except OSError as exc:
            why = exc.strerror or str(exc)
            report.failed.append((entry.path, f"{why}: {exc.filename}" if exc.filename else why))
    return report


# Printed after what is in the way: the same way out for every kind of obstacle.
_WAY_OUT = "move it away, or restore into another folder"


def _shown(destination: Path, root: str, path: str | Path) -> str:
    """``path`` (below the resolved ``root``) as the user names it: under the folder they gave."""
    return str(destination / os.path.relpath(path, root))


def _restore_one(run_id: str, entry: FileEntry, storage: Storage, destination: Path, root: str,
                 force: bool, report: RestoreReport) -> None:
    rel = entry.path
    try:
        check_rel_path(rel)  # records are checked when read; check again where it matters
    except ValueError as exc:
        report.refused.append((rel, str(exc)))
        return
    target = os.path.join(root, *rel.split("/"))
    # realpath resolves links already on disk; the parts still missing are created inside.
    parent = os.path.realpath(os.path.dirname(target))
    if not _inside(parent, root):
        report.refused.append((rel, f"it would be written outside {root} (through {parent})"))
        return
    target = os.path.join(parent, os.path.basename(target))
    expected = f"{entry.algorithm}:{entry.digest}"
    if os.path.islink(target):
        if not force:
            report.refused.append((rel, "a symbolic link is there; use --force to replace the link"))
            return
    elif os.path.isdir(target):
        report.failed.append((rel, f"a folder is in the way: {_shown(destination, root, target)}; it is not "
                                   f"replaced (--force replaces files, never folders): {_WAY_OUT}"))
        return
    elif os.path.exists(target) and not stat.S_ISREG(os.lstat(target).st_mode):
        # A FIFO, socket or device: never opened (reading a FIFO would hang), never replaced.
        report.failed.append((rel, f"a special file (FIFO, socket or device) is in the way: "
                                   f"{_shown(destination, root, target)}; it is never opened or replaced: "
                                   f"{_WAY_OUT}"))
        return
    elif os.path.exists(target):
        digest, _ = hash_file(target, entry.algorithm)
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
    blocker = blocking_path(Path(parent))  # below root: the destination was checked to be inside it
    if blocker is not None:
        kind = "file" if stat.S_ISREG(os.stat(blocker).st_mode) else "special file (FIFO, socket or device)"
        report.failed.append((rel, f"a {kind} is in the way: {_shown(destination, root, blocker)} is where "
                                   f"a folder must be; it is not replaced (--force replaces files, but never "
                                   f"turns a file into a folder): {_WAY_OUT}"))
        return
    os.makedirs(parent, exist_ok=True)
    tmp = temp_name(Path(target))
    try:
        try:
            source = open_stored(storage, run_id, entry)
        except FileNotFoundError:
            report.failed.append((rel, f"the stored copy ({expected}) is missing from {storage.location}"))
            return
        try:
            with VerifiedReader(source, entry) as checked, open(tmp, "xb") as out:
                shutil.copyfileobj(checked, out, CHUNK_SIZE)
        except IntegrityError as exc:
            report.failed.append((rel, f"the stored copy is CORRUPT: {exc.detail}; not restored"))
            return
        os.replace(tmp, target)
        report.written.append(rel)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
