"""What a large source file was when last stored (``.hints`` in the catalog): a guess that only
chooses whether to hash a file before copying it, never the recorded hash."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass

from runnable.files.fileio import (
    remove_quietly,
    unique_temp,
    write_new_file,
)
from runnable.files.hashing import is_hex_digest


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


