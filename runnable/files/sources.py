"""Opening a selected file to read it, and noticing that it changed while it was read.

Every read of a file to be kept or checked (``hashing.py``) opens it with ``open_source`` and ends
with ``changed_since``. These names are also importable from ``runnable.files.hashing``.
"""

from __future__ import annotations

import errno
import os
import stat


class SourceChangedError(OSError):
    """A file changed (size or modification time) while it was being read to be stored or hashed."""


# A selected file is opened without following a symbolic link (O_NOFOLLOW): a file swapped for a link
# after it was selected would otherwise have the link's target, perhaps outside the working folder,
# stored under its name. Without waiting (O_NONBLOCK, no effect on a regular file's reads): a FIFO
# swapped in would hold the open until some process wrote to it.
SOURCE_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def open_source(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open the selected file ``path`` to store or hash it: ``(descriptor, its status)``.

    The one way a file to be kept is opened. What is read is checked on the open descriptor, not
    on the path: it must be the regular file itself, not a link or anything else that took its
    name since it was selected (a link that was one when selected is selected as its target, see
    ``patterns``). Raises SourceChangedError naming the file otherwise.
    """
    try:
        fd = os.open(path, SOURCE_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise SourceChangedError(
                f"{os.fspath(path)} was replaced by a symbolic link after it was selected; "
                "runnable does not follow it: store it again once it is a file"
            ) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SourceChangedError(
            f"{os.fspath(path)} is no longer a regular file (it was replaced after it was selected); "
            "only regular files are stored: store it again once it is a file"
        )
    return fd, info


def changed_since(fd: int, before: os.stat_result, read: int) -> str | None:
    """Why the file open as ``fd`` is not the one ``before`` described once ``read`` bytes were read
    from it, or None if it looks unchanged."""
    after = os.fstat(fd)
    if read != before.st_size or after.st_size != before.st_size:
        return f"changed size while it was being read ({before.st_size} -> {after.st_size} bytes)"
    if after.st_mtime_ns != before.st_mtime_ns:
        return "was modified while it was being read"
    return None
