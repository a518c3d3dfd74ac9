"""The file-system catalog: content-addressed objects plus one browsable folder per run.

Layout under the catalog folder (``.catalog`` by default)::

    .catalog/
    ├── .objects/md5/90/0150983cd24fb0d6963f7d28e17f72   # each distinct content once, read-only
    ├── .objects/tmp/                                    # partial copies (never look complete)
    └── unsolvable-ramanujan-0634/                      # one folder per run, as the spec shows
        ├── df.csv                                      # a link to its object
        └── data_folder/data.txt

Run files are links to objects: a reflink where the file system supports it, else a hard link, and a
plain copy only where neither works. Objects are read-only, so editing a working file after a run
never changes what the catalog holds for that run, and identical content is stored once.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from runnable.errors import CatalogError
from runnable.storage import Stored
from runnable.transfer import TEMP_PREFIX, copy_and_hash, temp_name

OBJECTS = ".objects"
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


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

    def __init__(self, catalog_location: str | os.PathLike[str] = ".catalog") -> None:
        self.root = Path(catalog_location).absolute()
        self.location = str(catalog_location)
        self._reflink_works: bool | None = None

    # -- layout -----------------------------------------------------------------------------
    def object_path(self, algorithm: str, digest: str) -> Path:
        return self.root / OBJECTS / algorithm / digest[:2] / digest[2:]

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def run_file(self, run_id: str, rel: str) -> Path:
        path = self.run_dir(run_id).joinpath(*rel.split("/"))
        # Records are checked before they reach here; this guards the storage on its own too.
        if not os.path.abspath(path).startswith(str(self.run_dir(run_id)) + os.sep):
            raise CatalogError(f"catalog path {rel!r} would leave the run folder of {run_id}")
        return path

    def run_location(self, run_id: str) -> str:
        return str(Path(self.location) / run_id)

    # -- storing ----------------------------------------------------------------------------
    def store(
        self,
        run_id: str,
        rel: str,
        source: Path,
        algorithm: str,
        progress: Callable[[int], None] | None = None,
    ) -> Stored:
        tmp_dir = self.root / OBJECTS / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(tmp_dir / "object")
        try:
            digest, size = copy_and_hash(source, tmp, algorithm, progress)
            os.chmod(tmp, _READ_ONLY)
            obj = self.object_path(algorithm, digest)
            new = self._commit_object(tmp, obj)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self._present(obj, self.run_file(run_id, rel))
        return Stored(digest=digest, size=size, location=str(Path(self.location) / run_id / rel), new=new)

    def _commit_object(self, tmp: Path, obj: Path) -> bool:
        """Give the complete temporary file its content name; False if that content was stored."""
        if obj.exists():
            return False
        obj.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp, obj)  # atomic and exclusive: a concurrent twin simply loses the race
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EXDEV):
                raise
            os.replace(tmp, obj)  # file systems without hard links
        return True

    def _present(self, obj: Path, destination: Path) -> None:
        """Make ``destination`` show the object's content: reflink, else hard link, else copy."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(destination)
        try:
            if not self._try_reflink(obj, tmp):
                try:
                    os.link(obj, tmp)
                except OSError as exc:
                    if exc.errno not in (errno.EMLINK, errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                        raise
                    shutil.copyfile(obj, tmp)
            os.chmod(tmp, _READ_ONLY)
            os.replace(tmp, destination)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _try_reflink(self, obj: Path, tmp: Path) -> bool:
        if self._reflink_works is False:
            return False
        ok = _reflink(str(obj), str(tmp))
        if self._reflink_works is None:
            self._reflink_works = ok
        return ok

    # -- reading ----------------------------------------------------------------------------
    def open_run_file(self, run_id: str, rel: str) -> BinaryIO:
        return open(self.run_file(run_id, rel), "rb")

    def open_object(self, algorithm: str, digest: str) -> BinaryIO:
        return open(self.object_path(algorithm, digest), "rb")

    def has_object(self, algorithm: str, digest: str) -> bool:
        return self.object_path(algorithm, digest).is_file()

    def iter_objects(self) -> Iterator[tuple[str, str, int]]:
        base = self.root / OBJECTS
        if not base.is_dir():
            return
        for algo_dir in sorted(base.iterdir()):
            if algo_dir.name == "tmp" or not algo_dir.is_dir():
                continue
            for prefix in sorted(algo_dir.iterdir()):
                for obj in sorted(prefix.iterdir()):
                    yield algo_dir.name, prefix.name + obj.name, obj.stat().st_size

    # -- deleting ---------------------------------------------------------------------------
    def delete_object(self, algorithm: str, digest: str) -> int:
        path = self.object_path(algorithm, digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def delete_run(self, run_id: str) -> None:
        folder = self.run_dir(run_id)
        if folder.is_dir():
            shutil.rmtree(folder)

    def clean_temporaries(self, older_than_seconds: float) -> int:
        freed = 0
        cutoff = time.time() - older_than_seconds
        candidates = [self.root / OBJECTS / "tmp"]
        for folder in candidates:
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.name.startswith(TEMP_PREFIX) and entry.lstat().st_mtime < cutoff:
                    freed += entry.lstat().st_size
                    entry.unlink()
        return freed
