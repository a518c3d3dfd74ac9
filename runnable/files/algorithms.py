"""The hash algorithms: their names, incremental hashers and digests of bytes already in memory.

``hashing.py`` reads files through these; ``single_threaded`` keeps blake3 on one thread in a
forked worker. Every name here is also importable from ``runnable.files.hashing``.

>>> h = new_hasher("md5"); h.update(b"abc"); h.hexdigest()
'900150983cd24fb0d6963f7d28e17f72'
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from runnable.errors import ConfigurationError

ALGORITHMS = ("md5", "sha256", "blake3")
DEFAULT_ALGORITHM = "md5"

_THREADS_ALLOWED = True  # False in forked workers (see single_threaded)
_DIGEST_LENGTHS = {"md5": 32, "sha256": 64, "blake3": 64}
_HASHLIB = {"md5": hashlib.md5, "sha256": hashlib.sha256}


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def check_algorithm(name: str) -> str:
    """Return ``name`` if it is a supported algorithm, else raise ConfigurationError."""
    if name not in ALGORITHMS:
        raise ConfigurationError(
            f"unknown hash algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}"
        )
    return name


def new_hasher(algorithm: str, threads: bool = True) -> Hasher:
    """A fresh incremental hasher for ``algorithm`` (md5, sha256 or blake3).

    ``threads=False`` keeps blake3 on one core: while copying, the other core is busy writing.
    """
    check_algorithm(algorithm)
    if algorithm == "blake3":
        from blake3 import blake3  # imported on use: keeps `import runnable` light

        hasher: Hasher = blake3(max_threads=blake3.AUTO if threads and _THREADS_ALLOWED else 1)
        return hasher
    return hashlib.new(algorithm, usedforsecurity=False)


def single_threaded() -> None:
    """Hash on one thread from now on in this process (a forked worker: its parent's blake3 thread
    pool did not survive the fork, and using it would wait forever)."""
    global _THREADS_ALLOWED
    _THREADS_ALLOWED = False


def hash_bytes(data: bytes | memoryview, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """Hash an in-memory byte string.

    >>> hash_bytes(b"abc", "sha256")[:8]
    'ba7816bf'
    """
    direct = _HASHLIB.get(algorithm)
    if direct is not None:  # the common case, without the checks: one call per small file
        return direct(data, usedforsecurity=False).hexdigest()
    hasher = new_hasher(algorithm, threads=False)
    hasher.update(data)
    return hasher.hexdigest()


def is_hex_digest(value: str, algorithm: str) -> bool:
    """True if ``value`` looks like a digest of ``algorithm`` (used to refuse hostile records)."""
    return len(value) == _DIGEST_LENGTHS.get(algorithm, -1) and all(c in "0123456789abcdef" for c in value)
