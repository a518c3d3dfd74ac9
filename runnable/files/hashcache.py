"""The hash cache: never hash the same unchanged bytes twice.

Inputs are hashed on every run; a 50 GB data set read on every run costs a minute each time. The
cache remembers each file's digest under what the kernel says about it: device, inode, size,
modification time and inode change time, in nanoseconds. The change time cannot be set back by a
user (``touch -d``, ``cp -p``, ``rsync -a`` set the modification time, and each of them moves the
change time forward), so a file whose five values are unchanged holds the bytes that were hashed.

It is trusted only where that holds (rules also in docs/storage.md):

* not on a file system with coarse times: when both times are whole seconds (FAT, some network
  file systems, ext4 with small inodes), a write in the same second leaves them unchanged;
* not for a file whose times are in the future (a clock set back, a copy from another machine):
  a later write could land on the same time;
* not for a file changed within the last ``SETTLE_NS`` (2 s): the kernel stamps files with a clock
  that ticks every 1-10 ms, so a write just after the hash, in the same tick and with the same size,
  would leave every value unchanged. Such a file is hashed again next time, then remembered.

``RUNNABLE_REHASH=1`` (or ``--rehash`` where a command offers it) bypasses the cache: every file is
read. ``runnable catalog verify`` never uses it: it always reads the bytes.

The cache is one JSON file per machine (``$RUNNABLE_CACHE_DIR``, else ``$XDG_CACHE_HOME/runnable``,
else ``~/.cache/runnable``), keyed by device and inode, which only mean something on this machine.
Writers replace it atomically after merging what is on disk; a lost update costs a hash, never a
wrong digest: every entry is checked against the file's current status before it is used.

>>> # HashCache.default().hash(Path("data.csv"), "md5") -> ("9e107d9d...", 1024)
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

from runnable.files.fileio import atomic_write_bytes, read_small
from runnable.files.hashing import SMALL_FILE, hash_bytes, hash_file_status, open_source
from runnable.run import environment as _environment
from runnable.run.environment import ENV_CACHE_DIR, ENV_REHASH

FILE_NAME = "hashes.json"
VERSION = 2  # 2: with a checksum of its entries (a file of version 1 is discarded: one rehash)
SETTLE_NS = 2_000_000_000
# Entries kept at most, the least recently used dropped first. The whole file is read on every run:
# 50,000 entries are 5.4 MB and load in 0.11 s here (200,000: 21.5 MB, 0.73 s, on every run).
MAX_ENTRIES = 50_000

_Entry = list[object]  # [size, mtime_ns, ctime_ns, {algorithm: digest}]


def cache_dir() -> Path:
    """Where this machine's cache lives."""
    explicit = _environment.text(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "runnable"


def trusted(info: os.stat_result, now_ns: int | None = None) -> bool:
    """True if a digest remembered for a file with this status may be believed later.

    >>> import tempfile; trusted(os.stat(tempfile.gettempdir()), now_ns=0)
    False
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    if info.st_mtime_ns % 1_000_000_000 == 0 and info.st_ctime_ns % 1_000_000_000 == 0:
        return False  # whole seconds: times too coarse to notice a write in the same second
    last = max(info.st_mtime_ns, info.st_ctime_ns)
    return last <= now_ns - SETTLE_NS  # neither in the future nor too recent to be settled


class HashCache:
    """Digests of unchanged files, by (device, inode, size, mtime_ns, ctime_ns)."""

    def __init__(self, path: Path | None, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled and path is not None
        self._entries: dict[str, _Entry] | None = None
        self._new: dict[str, _Entry] = {}
        self._used: list[str] = []  # entries answered from, moved to the newest end when saving
        self.hits = 0  # files answered without reading them (tests and benchmarks)
        self.hashed = 0

    @classmethod
    def default(cls, rehash: bool = False) -> HashCache:
        """This machine's cache; disabled by ``rehash`` or ``RUNNABLE_REHASH=1``."""
        off = rehash or _environment.flag(ENV_REHASH)
        return cls(cache_dir() / FILE_NAME, enabled=not off)

    def _load(self) -> dict[str, _Entry]:
        if self._entries is None:
            self._entries = _read(self.path) if self.enabled and self.path is not None else {}
        return self._entries

    def lookup(self, info: os.stat_result, algorithm: str) -> str | None:
        """The digest remembered for a file with exactly this status, if it may be believed."""
        if not self.enabled:
            return None
        key = f"{info.st_dev}:{info.st_ino}"
        hit = self._new.get(key) or self._load().get(key)
        if (hit is not None and hit[:3] == [info.st_size, info.st_mtime_ns, info.st_ctime_ns]
                and isinstance(hit[3], dict) and isinstance(hit[3].get(algorithm), str) and trusted(info)):
            self.hits += 1
            self._used.append(key)
            return str(hit[3][algorithm])
        return None

    def remember(self, info: os.stat_result, algorithm: str, digest: str) -> None:
        """Remember ``digest`` for the file that had status ``info`` while it was read whole."""
        if not self.enabled or not trusted(info):
            return
        key = f"{info.st_dev}:{info.st_ino}"
        status = [info.st_size, info.st_mtime_ns, info.st_ctime_ns]
        old = self._new.get(key) or self._load().get(key)
        digests = dict(old[3]) if old is not None and old[:3] == status and isinstance(old[3], dict) else {}
        digests[algorithm] = digest
        self._new[key] = [*status, digests]

    def hash(self, path: str | os.PathLike[str], algorithm: str) -> tuple[str, int]:
        """``(digest, size)`` of the file at ``path``, from the cache when its status is unchanged."""
        if self.enabled:
            info = os.lstat(path)  # a link or FIFO swapped in is not answered: hash_path refuses it
            known = self.lookup(info, algorithm) if stat.S_ISREG(info.st_mode) else None
            if known is not None:
                return known, info.st_size
        digest, size, before = hash_path(path, algorithm)
        self.hashed += 1
        self.remember(before, algorithm, digest)
        return digest, size

    def digest(self, path: str | os.PathLike[str], algorithm: str) -> str:
        return self.hash(path, algorithm)[0]

    def save(self) -> None:
        """Write what was learned, merged with what is on disk now. A failure is ignored: the
        cache only saves time."""
        if not self._new or not self.enabled or self.path is None:
            return
        merged = _read(self.path)
        # Least recently used first: an entry used or (re)hashed now moves to the end (an update in
        # place kept a rehashed entry at its old place, first to be dropped).
        for key in self._used:
            if key in merged:
                merged[key] = merged.pop(key)
        for key, entry in self._new.items():
            merged.pop(key, None)
            merged[key] = entry
        if len(merged) > MAX_ENTRIES:
            for key in list(merged)[: len(merged) - MAX_ENTRIES]:
                del merged[key]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, encode(merged))
        except OSError:
            return
        self._entries = merged
        self._new, self._used = {}, []


def hash_path(path: str | os.PathLike[str], algorithm: str) -> tuple[str, int, os.stat_result]:
    """``(digest, size, status before reading)`` of the whole file at ``path``.

    A file up to ``SMALL_FILE`` (1 MiB) is read in one call and hashed in memory, as the catalog
    stores small files (``read_small``: a size change while reading raises SourceChangedError):
    10,000 files of 1 KiB in 0.085 s here, against 0.35 s through ``hash_file_status``, whose
    per-file set-up (read-ahead advice, an incremental hasher, a second read and status) is made
    for large files, which still go through it.
    """
    fd, before = open_source(path)  # a regular file, never through a link, never waiting on a FIFO
    try:
        if before.st_size <= SMALL_FILE:
            data = read_small(fd, before, path)
            return hash_bytes(data, algorithm), len(data), before
    finally:
        os.close(fd)
    return hash_file_status(path, algorithm)


_HEAD = b'{"version":%d,"sha256":"' % VERSION
_MIDDLE = b'","files":'


def encode(files: dict[str, _Entry]) -> bytes:
    """The cache file: its entries and a SHA-256 of their bytes. A file damaged or edited by hand
    (a digest planted under a file's status) no longer matches and is discarded whole. It guards
    against accidents, not against the local user, who owns the cache and could write a new sum:
    the cache trusts the user of this machine, as their files do."""
    body = json.dumps(files, separators=(",", ":")).encode()
    return _HEAD + hashlib.sha256(body).hexdigest().encode() + _MIDDLE + body + b"}"


def _read(path: Path | None) -> dict[str, _Entry]:
    if path is None:
        return {}
    try:
        from runnable.backends.runlog import read_regular_file  # (on use: runlog imports much more)

        raw = read_regular_file(path, follow_links=False)  # a FIFO would hang every run
        start = len(_HEAD) + 64 + len(_MIDDLE)
        body = raw[start:-1]
        if (not raw.startswith(_HEAD) or raw[len(_HEAD) + 64 : start] != _MIDDLE or not raw.endswith(b"}")
                or hashlib.sha256(body).hexdigest().encode() != raw[len(_HEAD) : len(_HEAD) + 64]):
            return {}  # another version, damaged or edited: discarded whole
        files = json.loads(body)
        return {str(k): list(v) for k, v in files.items() if isinstance(v, list) and len(v) == 4}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # missing or damaged: start again, never trust it
