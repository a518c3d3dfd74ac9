"""Paths the walk meets that a run cannot store as they are, and how they are named in the record.

A name that is not UTF-8, a special file (FIFO, socket, device) and a path that leaves the working
folder are each skipped with a reason; ``patterns.expand`` asks these questions of every path.
"""

from __future__ import annotations

import os
import stat


def not_utf8(rel: str) -> bool:
    """True if the path ``rel`` came from bytes that are not UTF-8 (Python holds each such byte as a
    lone surrogate, ``b'\\xff'`` as ``'\\udcff'``). ``isascii()`` answers from a flag CPython keeps
    on every string, so ordinary names cost nothing and only other names are encoded."""
    if rel.isascii():
        return False
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def shown(rel: str) -> str:
    """``rel`` as valid text for warnings and the record: each byte that is not UTF-8 as ``\\xff``."""
    try:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte (only a pattern in code can hold one)
        return rel.encode("utf-8", "backslashreplace").decode("utf-8")


def not_utf8_reason(rel: str) -> str:
    bad = ", ".join(sorted({f"0x{ord(c) - 0xDC00:02x}" for c in rel if 0xDC80 <= ord(c) <= 0xDCFF}))
    return (f"its path is not valid UTF-8 (byte {bad})" if bad else "its path is not valid Unicode") + (
        "; run records are UTF-8 JSON, so it cannot be recorded: rename it to store it")


def within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def kind_of(mode: int) -> str | None:
    """None for a regular file or folder, else a name for a special file."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"
