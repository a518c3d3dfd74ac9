"""Secrets backends: where ``PythonJob(..., secrets=[...])`` values come from.

* ``env`` (default): the process environment.
* ``dotenv``: a ``.env`` file (``KEY=value`` lines), read with python-dotenv.

Secret values are handed to the job as environment variables and masked in everything runnable
writes: the execution log, the console copy of the output, the run record and the summary.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from runnable.errors import ConfigurationError, SecretError

MASK = b"*****"


class SecretsBackend(Protocol):
    def get(self, name: str) -> str | None:
        """The secret's value, or None if this backend does not have it."""
        ...


class EnvSecrets:
    """Secrets from environment variables of the same name."""

    location = "environment"

    def get(self, name: str) -> str | None:
        return os.environ.get(name)


class DotEnvSecrets:
    """Secrets from a dotenv file (``location``, default ``.env``)."""

    def __init__(self, location: str = ".env") -> None:
        self.location = location

    def get(self, name: str) -> str | None:
        path = Path(self.location)
        if not path.is_file():
            raise ConfigurationError(f"secrets file {self.location!r} (secrets: dotenv) does not exist")
        from dotenv import dotenv_values

        return dotenv_values(path).get(name)


def resolve(backend: SecretsBackend, names: Sequence[str]) -> dict[str, str]:
    """The values of ``names``; SecretError naming the first one that is missing."""
    values: dict[str, str] = {}
    for name in names:
        value = backend.get(name)
        if value is None:
            where = getattr(backend, "location", type(backend).__name__)
            raise SecretError(f"secret {name!r} is not available from the secrets backend ({where}); "
                              "set it there before running the job")
        values[name] = value
    return values


class Masker:
    """Replace secret values in output with ``*****``.

    Holds back the end of a chunk that could be the start of a secret, so a value split between two
    writes is still masked. ``flush()`` releases what is held back.

    >>> m = Masker(["hunter2"]); m(b"pw=hun") + m(b"ter2!") + m.flush()
    b'pw=*****!'
    """

    def __init__(self, values: Iterable[str]) -> None:
        self.values = sorted({v.encode() for v in values if v}, key=len, reverse=True)
        self._held = b""

    def __call__(self, data: bytes) -> bytes:
        if not self.values:
            return data
        data = self._held + data
        for value in self.values:
            data = data.replace(value, MASK)
        keep = 0
        for value in self.values:
            for n in range(min(len(value) - 1, len(data)), 0, -1):
                if data.endswith(value[:n]):
                    keep = max(keep, n)
                    break
        self._held = data[len(data) - keep :] if keep else b""
        return data[: len(data) - keep] if keep else data

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held

    def text(self, value: str) -> str:
        for secret in self.values:
            value = value.replace(secret.decode(), MASK.decode())
        return value
