"""Reading a file in parts, hashing every byte: for an uploader that keeps each part (S3 multipart).

Also importable from ``runnable.files.hashing``, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from runnable.files.algorithms import check_algorithm, new_hasher
from runnable.files.sources import SourceChangedError, changed_since, open_source


class PartReader:
    """Read the file at ``path`` once, in parts of ``part_size`` bytes, hashing every byte: for an
    uploader that keeps each part (an S3 multipart upload), so each is a fresh ``bytes``.

    After the last part it makes the same change check as every other read here
    (``changed_since``: the size and the modification time): a file rewritten in place at the same
    size while it was read raises SourceChangedError instead of yielding a digest of bytes that
    never existed together. ``digest`` and ``size`` are set once every part was read.

    >>> from runnable.files.algorithms import hash_bytes
    >>> reader = PartReader(__file__, "md5", 4096); data = b"".join(reader)
    >>> reader.digest == hash_bytes(data, "md5") and reader.size == len(data)
    True
    """

    def __init__(self, path: str | os.PathLike[str], algorithm: str, part_size: int,
                 progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.algorithm = check_algorithm(algorithm)
        self.part_size = part_size
        self.progress = progress
        self.digest: str | None = None
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        fd, before = open_source(self.path)  # the selected file itself, never a link swapped in
        try:
            hasher = new_hasher(self.algorithm)
            size = 0
            while part := _read_part(fd, self.part_size):
                hasher.update(part)
                size += len(part)
                if self.progress:
                    self.progress(len(part))
                yield part
            why = changed_since(fd, before, size)
            if why is not None:
                raise SourceChangedError(f"{self.path} {why}; store it again once it is complete")
            self.digest, self.size = hasher.hexdigest(), size
        finally:
            os.close(fd)


def _read_part(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the file (``os.read`` may return less)."""
    data = os.read(fd, size)
    if not data or len(data) == size:
        return data
    pieces = [data]
    missing = size - len(data)
    while missing and (more := os.read(fd, missing)):
        pieces.append(more)
        missing -= len(more)
    return b"".join(pieces)
