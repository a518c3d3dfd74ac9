"""Secrets backends: where ``PythonJob(..., secrets=[...])`` values come from.

* ``env`` (default): the process environment.
* ``dotenv``: a ``.env`` file (``KEY=value`` lines), read with python-dotenv.

Secret values are handed to the job as environment variables and masked in everything runnable
writes: the execution log, the console copy of the output, the run record and the summary.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runnable.config.settings import check_path
from runnable.config.yamlfile import read_text
from runnable.errors import ConfigurationError, SecretError
from runnable.files.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from runnable.record import RunRecord

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
    """Secrets from a dotenv file (``location``, default ``.env``), a UTF-8 file of ``KEY=value`` lines.

    The file is read when the first secret is asked for, once per instance (a run, an S3 client
    asking for its three keys). A leading '~' in ``location`` is the home folder.

    >>> DotEnvSecrets("no-such.env").location
    'no-such.env'
    """

    def __init__(self, location: str = ".env") -> None:
        self.location = check_path(location, "location", "secrets", kind="file", default=".env")
        self._read: dict[str, str | None] | None = None

    def get(self, name: str) -> str | None:
        if self._read is None:
            self._read = self._values()
        return self._read.get(name)

    def _values(self) -> dict[str, str | None]:
        # "secrets file", not "(secrets: dotenv)": an S3 store's 'secrets_file' is read here too.
        text = read_text(self.location, f"secrets file {self.location!r}", ConfigurationError, "a KEY=value file", "it")
        import io

        from dotenv import dotenv_values

        return dotenv_values(stream=io.StringIO(text))


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
        # Longest first: where one secret starts with another, the whole of the longer is masked.
        self._pattern = re.compile(b"|".join(re.escape(v) for v in self.values)) if self.values else None
        self._longest = len(self.values[0]) if self.values else 0
        self._held = b""

    def __call__(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        data = self._held + data
        cut = self._partial_start(data)
        out = bytearray()
        pos = 0
        for match in self._pattern.finditer(data):
            if match.start() >= cut:
                break  # may be the start of a longer secret: decide when more bytes arrive
            out += data[pos : match.start()] + MASK
            pos = match.end()
        cut = max(cut, pos)
        out += data[pos:cut]
        self._held = data[cut:]
        return bytes(out)

    def _partial_start(self, data: bytes) -> int:
        """Where the shortest tail of ``data`` that could still grow into a secret begins."""
        for start in range(max(0, len(data) - self._longest + 1), len(data)):
            tail = data[start:]
            if any(len(v) > len(tail) and v.startswith(tail) for v in self.values):
                return start
        return len(data)

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._pattern.sub(MASK, held) if self._pattern is not None else held

    def text(self, value: str) -> str:
        for secret in self.values:
            value = value.replace(secret.decode(), MASK.decode())
        return value


def mask_value(value: Any, masker: Masker) -> Any:
    """``value`` (JSON-like data) with every secret value inside its strings replaced by ``*****``.

    Masking never changes a number: only a number that *is* a secret (a secret "987654321" and a
    parameter ``n: int`` given that value) is written as the masked string. One whose digits merely
    hold a secret stays as it is: a secret "42" must not turn 0.1428571 into '0.1*****571'.
    """
    if isinstance(value, str):
        return masker.text(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return MASK.decode() if masker.text(str(value)) == MASK.decode() else value
    if isinstance(value, dict):
        return {mask_value(k, masker): mask_value(v, masker) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v, masker) for v in value]
    return value


# Keys of a step entry whose values are entries again: its inputs (and each one's source), the steps
# of its on_failure path (and, below, of its branches).
_NESTED_KEYS = frozenset({"inputs", "source", "on_failure"})


def _mask_keeping_paths(value: Any, masker: Masker) -> Any:
    """An input or step entry masked like any value, but for its file paths (``outputs``, the
    ``path`` of an input and its source; a step's own ``path`` is its dotted name and is masked)."""
    if isinstance(value, list):
        return [_mask_keeping_paths(v, masker) for v in value]
    if not isinstance(value, dict):
        return mask_value(value, masker)
    is_step = "kind" in value and "status" in value
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if key == "outputs" or (key == "path" and not is_step):
            out[key] = item
        elif key in _NESTED_KEYS:
            out[key] = _mask_keeping_paths(item, masker)
        elif key == "branches" and isinstance(item, dict):
            out[mask_value(key, masker)] = {mask_value(k, masker): _mask_keeping_paths(v, masker)
                                            for k, v in item.items()}
        else:
            out[mask_value(key, masker)] = mask_value(item, masker)
    return out


def mask_file(path: Path, values: Iterable[str]) -> None:
    """Mask secret ``values`` in a file runnable itself produced (an executed notebook), in place.

    Also the forms a value takes inside a notebook when it holds a quote, a backslash or non-ASCII:
    as a Python literal (the injected parameters cell, papermill's escaping, or a ``repr`` in an
    output), each written once more escaped by the notebook's JSON. Atomic: the file is replaced whole.
    """
    forms: set[str] = set()
    for value in (v for v in values if v):
        papermill = value.encode("unicode_escape").decode("utf-8").replace('"', '\\"')
        for text in (value, repr(value)[1:-1], papermill):
            forms.update([text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]])
    masker = Masker(forms)
    if not masker.values:
        return
    data = path.read_bytes()
    masked = masker(data) + masker.flush()
    if masked != data:
        atomic_write_bytes(path, masked)


# Fields of a record that are not masked. A file entry's path is the name a restore writes (a masked
# one would restore a file called '*****'); its digest and location are hex and the run id. The others
# are runnable's own state, clock and version, checked when a record is read: a short secret such as
# "RUN" or "2" must not turn a status or a duration into '*****' and the record into an unreadable one.
_UNMASKED_FIELDS = frozenset({"files", "execution_log", "run_id", "status", "start", "end",
                              "duration_seconds", "schema", "runnable_version"})
# Keys of runnable's own inside fields that are otherwise masked: liveness reads the host and pid
# (a pid masked to '*****' would list a live run as dead), gc and `logs` the scratch folder, verify
# and restore the catalog's settings. The user's text beside them (argv, put patterns) is masked.
_UNMASKED_KEYS = {"environment": frozenset({"host", "pid", "scratch", "python", "platform"}),
                  "catalog": frozenset({"type", "location", "algorithm", "store_copy", "run_folder"})}


def mask_record(record: RunRecord, values: Iterable[str]) -> None:
    """Mask secret ``values`` everywhere in ``record``, in place: one walk over every field.

    Not a list of the fields a job's data can reach: a secret reaches the record through the job's
    description too (a shell command that spells a password, a notebook path, ``sys.argv``), and
    any field added later is covered without anyone remembering to add it here. The summary and
    the failure's message are made from the record, so they are masked too. Only the file entries
    keep their paths (see ``_UNMASKED_FIELDS``).

    >>> from runnable.record import RunRecord
    >>> r = RunRecord("r1", "RUNNING", {"kind": "shell", "command": "curl -u admin:pw9 x"}, "t", tags=["pw9"])
    >>> mask_record(r, ["pw9"]); r.job["command"], r.tags
    ('curl -u admin:***** x', ['*****'])
    """
    from dataclasses import fields

    masker = Masker(values)
    if not masker.values:
        return
    for f in fields(record):
        if f.name in _UNMASKED_FIELDS:
            continue
        value = getattr(record, f.name)
        kept = _UNMASKED_KEYS.get(f.name)
        if f.name in ("inputs", "steps") and isinstance(value, list):
            # File paths stay as they are, as in ``files``: a masked one names a file that does not
            # exist. A path that holds a secret's value is never stored (Attempt._refuse_secret_names).
            setattr(record, f.name, [_mask_keeping_paths(v, masker) for v in value])
        elif f.name == "metrics" and isinstance(value, dict):
            # Steps and values are numbers the record must keep (a masked one makes it unreadable).
            setattr(record, f.name, {masker.text(str(k)): v for k, v in value.items()})
        elif kept is not None and isinstance(value, dict):
            setattr(record, f.name, {k: v if k in kept else mask_value(v, masker) for k, v in value.items()})
        else:
            setattr(record, f.name, mask_value(value, masker))
