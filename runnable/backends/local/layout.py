"""The file-system catalog's folders: where each object and run file lives, and making folders
that are never links (the catalog never writes outside its folder).

``FileSystemStorage`` (``catalog.py``) is built on ``CatalogLayout``; objects are written by
``objects.py``, read, listed and deleted by ``reading.py``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from runnable.errors import CatalogError, RecordError
from runnable.files.fileio import (
    READ_ONLY,
    make_location,
    refuse_non_folder,
    refuse_working_folder,
)
from runnable.files.hashcache import HashCache
from runnable.record import check_run_id

OBJECTS = ".objects"
TMP = "tmp"
HINTS = ".hints"
_READ_ONLY = READ_ONLY
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)  # Linux 3.11+: a file created without a name


class CatalogLayout:
    """The catalog folder's layout and the folders known to exist (state shared by every part)."""

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


