"""The file-system run-log store, and the record encoding every run-log store shares.

The protocols a run-log store implements are in ``backends/protocols.py``.

The file-system store keeps ``{log_folder}/{run_id}.json``. Creating a record is exclusive (the run
id is reserved atomically: a hard link of a complete temporary file, which fails if the name exists),
and every later write replaces the whole file atomically.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from runnable.backends.protocols import (
    CleanableRunLogStore as CleanableRunLogStore,
)
from runnable.backends.protocols import (
    ContentIndexedRunLogStore as ContentIndexedRunLogStore,
)
from runnable.backends.protocols import (
    IndexedRunLogStore as IndexedRunLogStore,
)
from runnable.backends.protocols import (
    RunLogStore as RunLogStore,
)
from runnable.errors import RecordError, RunNotFoundError
from runnable.files.fileio import (
    TEMP_PREFIX,
    atomic_write_bytes,
    make_location,
    refuse_non_folder,
    refuse_working_folder,
    remove_quietly,
    temp_name,
)
from runnable.record import RUNNING, RunRecord, check_run_id, json_text

INDEX_NAME = ".index.json"  # starts with '.': never mistaken for a run record
CONTENT_FOLDER = ".content"  # one {run_id}.json per finished run; hidden: never a record
CONTENT_SNAPSHOT = ".merged.json"  # in CONTENT_FOLDER; hidden: never a run's entry


# Records up to this many files (and inputs) are indented for people reading them; larger ones are written
# compact, because indenting switches json to its pure-Python encoder (0.1 s per 10,000 files).
_INDENT_UP_TO_FILES = 1000


def encode(record: RunRecord) -> bytes:
    """The record as UTF-8 JSON; never fails on text that is not valid Unicode.

    Python carries bytes that are not UTF-8 (in ``sys.argv``, the environment, the working
    folder's path, a job's error message) as lone surrogates such as ``'\\udcff'``, which strict
    UTF-8 refuses: a record that cannot be written would leave its run RUNNING. Only a surrogate
    can fail here (json escapes every other character that needs it), so ``backslashreplace``
    turns each one into the JSON escape ``\\udcff``, which ``json.loads`` reads back as the same
    character. One known gap: a high and a low surrogate written next to each other are read back
    as the single character they pair into (json itself does the same with ``ensure_ascii``).
    Valid text takes the same fast path as before: the handler only runs on a failure.
    """
    indent = 2 if len(record.files) + len(record.inputs) <= _INDENT_UP_TO_FILES else None
    text = json_text(record, indent)
    return text.encode("utf-8", "backslashreplace") + b"\n"


def decode(data: bytes, origin: str) -> RunRecord:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"run record {origin} is not valid JSON ({exc}); it may be truncated") from exc
    except RecursionError:
        raise RecordError(f"run record {origin} is nested too deeply to be a run record") from None
    try:
        return RunRecord.from_dict(parsed)
    except RecordError as exc:
        raise RecordError(f"run record {origin}: {exc}") from exc
    except RecursionError:
        raise RecordError(f"run record {origin} is nested too deeply to be a run record") from None


# Reading a file of the store: never waiting (O_NONBLOCK: a FIFO under a record's name would block
# the open until something wrote to it, and a listing would hang forever), then only a regular file.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def read_regular_file(path: Path, follow_links: bool = True) -> bytes:
    """The bytes of the regular file ``path``. FileNotFoundError if there is none, NotARegularFile
    if something else (a folder, a FIFO, a device) has the name: it is neither opened for reading
    nor waited for. With ``follow_links=False`` a symbolic link is refused too (an OSError, ELOOP):
    for runnable's own caches, which never hold one."""
    fd = os.open(path, _READ_FLAGS | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0)))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{path} is not a regular file")
        chunks = []
        while chunk := os.read(fd, max(info.st_size + 1, 65536)):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class NotARegularFile(OSError):
    """A folder, FIFO or device stands where the store keeps a file."""


# The room a run's final record may take without the disk granting anything more, reserved as the run's
# id is (``create``, before the job runs): a job whose files take the last space or inodes of the disk
# still has its final record written, instead of staying RUNNING. 64 KiB holds a record of about 250
# files (indented); a larger one grows the reserve while the disk allows, and the runner writes a
# record without its file list when it does not.
RECORD_RESERVE = 64 * 1024
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)  # Linux 3.11+: a file without a name, gone if the process dies
# Reserves one store holds at most: one per run in progress in this process. A caller that creates
# records and never writes them final does not keep a descriptor open per record for ever.
_MAX_RESERVED = 64


class FileSystemRunLogStore:
    """Run records as JSON files in a folder (``.run_log_store`` by default)."""

    #: The setting naming the folder (``FolderBackend``): what a container mounts.
    folder_setting = "log_folder"

    def __init__(self, log_folder: str | os.PathLike[str] = ".run_log_store") -> None:
        self.root = Path(log_folder).absolute()
        self.location = str(log_folder)
        self._reserved: dict[str, int] = {}  # run id -> open nameless file holding its final record's room

    def path(self, run_id: str) -> Path:
        return self.root / f"{check_run_id(run_id)}.json"

    def check_location(self, working_folder: Path | None = None) -> None:
        """Raise CatalogError if something that is not a folder stands where the records must go.

        The runner calls it before the job starts (see ``FileSystemStorage.check_location``); the
        file in the way is never touched.
        """
        refuse_non_folder(self.root, "the run-log store location", "log_folder")
        if working_folder is not None:
            refuse_working_folder(self.root, working_folder, "the run-log store location", "log_folder", ".run_log_store")

    def make_location(self) -> None:
        """Make the folder before the job runs (after ``check_location``), or say why it cannot be."""
        make_location(self.root, "the run-log store location", "log_folder")

    def create(self, record: RunRecord) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(record.run_id)
        tmp = temp_name(final)
        try:
            with open(tmp, "xb") as handle:
                handle.write(encode(record))
            try:
                os.link(tmp, final)  # exclusive: fails if the id is taken, even by a racing run
            except FileExistsError:
                return False
        finally:
            os.unlink(tmp)
        self._reserve(record.run_id)
        return True

    def _reserve(self, run_id: str) -> None:
        """Hold the inode and ``RECORD_RESERVE`` bytes the final record of ``run_id`` will need, in a
        file with no name (nothing is left behind if the process dies). Best effort: where the
        system cannot, the final record is written as any other."""
        if not _O_TMPFILE or len(self._reserved) >= _MAX_RESERVED:
            return
        try:
            fd = os.open(self.root, _O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, RECORD_RESERVE)
        except OSError:
            os.close(fd)
            return
        self.release(run_id)
        self._reserved[run_id] = fd

    def release(self, run_id: str) -> None:
        """Give back the room reserved for the final record of ``run_id`` (none is needed any more)."""
        fd = self._reserved.pop(run_id, None)
        if fd is not None:
            os.close(fd)

    def put(self, record: RunRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = self._reserved.get(record.run_id) if record.status != RUNNING else None
        if fd is not None:
            written = self._put_reserved(fd, record)
            self.release(record.run_id)
            if written:
                return
        atomic_write_bytes(self.path(record.run_id), encode(record))

    def _put_reserved(self, fd: int, record: RunRecord) -> bool:
        """Write the final ``record`` into its reserved file and give that file the record's name:
        neither takes an inode, nor space up to the reserve. False if this system cannot name a file
        made without one (no /proc): then write it as any other. OSError if the record is larger than
        the reserve and the disk is full: the reserve is kept for a smaller record."""
        data = encode(record)
        view, offset = memoryview(data), 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
        final = self.path(record.run_id)
        tmp = temp_name(final)
        try:
            # A dir_fd makes os.link use linkat(..., AT_SYMLINK_FOLLOW), which names the open file
            # (as storage.local does for objects).
            os.link(f"/proc/self/fd/{fd}", tmp, src_dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EACCES):
                return False
            raise
        try:
            os.replace(tmp, final)
        except BaseException:
            remove_quietly(tmp)
            raise
        return True

    def get(self, run_id: str) -> RunRecord:
        path = self.path(run_id)
        try:
            data = read_regular_file(path)
        except FileNotFoundError:
            raise RunNotFoundError(f"no run {run_id!r} in the run-log store {self.location}") from None
        except NotARegularFile:
            raise RecordError(f"run record {path} is not a regular file; move it out of the run-log store") from None
        except OSError as exc:
            raise RecordError(f"run record {path} cannot be read ({exc.strerror or exc})") from None
        record = decode(data, str(path))
        if record.run_id != run_id:
            raise RecordError(f"run record {path} names run {record.run_id!r}, not {run_id!r}")
        return record

    def exists(self, run_id: str) -> bool:
        return self.path(run_id).exists()

    def _record_entries(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """``(run_id, entry)`` for every record file (hidden files: the index and temporaries)."""
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(".json") and not name.startswith("."):
                    yield name[: -len(".json")], entry

    def iter_ids(self) -> Iterator[str]:
        for run_id, _entry in self._record_entries():
            yield run_id

    def delete(self, run_id: str) -> None:
        self.release(run_id)
        try:
            self.path(run_id).unlink()
        except FileNotFoundError:
            pass

    # -- the listing index (see IndexedRunLogStore) -----------------------------------------
    def iter_stamps(self) -> Iterator[tuple[str, str]]:
        for run_id, entry in self._record_entries():
            try:
                st = entry.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            except OSError:  # a link in a loop, say: listed, and shown as unreadable when read
                yield run_id, "unreadable"
                continue
            # Every write is a rename of a new file: a new inode, so the stamp changes even when
            # two writes land in the same clock tick with the same size.
            yield run_id, f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"

    def read_index(self) -> bytes | None:
        try:
            return read_regular_file(self.root / INDEX_NAME)
        except OSError:  # none, or not a file (a folder, a FIFO): the index is rebuilt from the records
            return None

    def write_index(self, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.root / INDEX_NAME, data)

    # -- the content index (see ContentIndexedRunLogStore) ----------------------------------
    def _content_path(self, run_id: str) -> Path:
        return self.root / CONTENT_FOLDER / f"{check_run_id(run_id)}.json"

    def _content_linked(self) -> bool:
        """A ``.content`` that is a symbolic link is not the index (as gc does not clean through it):
        nothing is read from it nor written through it; the index is answered from the records."""
        return (self.root / CONTENT_FOLDER).is_symlink()

    def write_content(self, run_id: str, data: bytes) -> None:
        path = self._content_path(run_id)
        if self._content_linked():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)

    def read_content(self, run_id: str) -> bytes | None:
        # Never waiting on a FIFO, never through a link, never a folder: a damaged entry is None
        # (the index reads the record instead).
        path = self._content_path(run_id)
        if self._content_linked():
            return None
        try:
            return read_regular_file(path, follow_links=False)
        except OSError:
            return None

    def delete_content(self, run_id: str) -> None:
        path = self._content_path(run_id)
        if self._content_linked():
            return
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def iter_content_ids(self) -> Iterator[str]:
        if self._content_linked():
            return
        try:  # names only, listed in C: 10,000 entries in ~3 ms (a scandir loop took ~30 ms)
            names = os.listdir(self.root / CONTENT_FOLDER)
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                yield name[:-5]

    def read_content_snapshot(self) -> bytes | None:
        if self._content_linked():
            return None
        try:
            return read_regular_file(self.root / CONTENT_FOLDER / CONTENT_SNAPSHOT, follow_links=False)
        except OSError:  # none, or a FIFO, folder or link: only a cache, rebuilt
            return None

    def write_content_snapshot(self, data: bytes) -> None:
        folder = self.root / CONTENT_FOLDER
        if self._content_linked():
            return
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / CONTENT_SNAPSHOT, data)

    def clean_temporaries(self, older_than_seconds: float) -> int:
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        freed = 0
        content = self.root / CONTENT_FOLDER  # the content index's temporaries too (a real folder only)
        folders = [self.root] + ([content] if content.is_dir() and not content.is_symlink() else [])
        for folder in folders:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.name.startswith(TEMP_PREFIX):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if st.st_mtime <= cutoff:
                            os.unlink(entry.path)
                            freed += st.st_size
                    except FileNotFoundError:
                        continue  # its writer finished or removed it meanwhile
        return freed
