"""``Catalog``: which files a job's run keeps, and whether it keeps copies or only hashes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from runnable.errors import PatternError
from runnable.files.patterns import normalize


@dataclass
class Catalog:
    """Files to store after a job runs, and files it reads.

    ``get`` takes the same patterns as ``put``: before the job starts each selected file is hashed
    and recorded as an input, with the run that stored the same content as its source; with
    ``get_from`` ("RUN_ID", "latest", "latest:JOB_NAME") the files are first restored from that run.

    ``put`` lists patterns relative to the working folder: file names, folders (everything below
    them) and globs (``*``, ``?``, ``[...]``, ``**`` for any number of folders). With
    ``store_copy=True`` (the default) each file is copied into the run's catalog folder and its MD5
    recorded; with ``store_copy=False`` only the MD5 is recorded and nothing is copied.

    >>> Catalog(put=["df.csv", "data_folder/"]).put
    ['df.csv', 'data_folder/']
    >>> Catalog(put=["../secrets.txt"])
    Traceback (most recent call last):
    ...
    runnable.errors.PatternError: put pattern '../secrets.txt' uses '..' and could leave the working folder; patterns are relative to the working folder
    """

    put: Sequence[str] = field(default_factory=list)
    store_copy: bool = True
    # Inputs (see runnable.run.inputs): files the job reads, hashed before it starts and recorded with
    # the run that stored the same content; never stored. ``get_from`` first restores them from a
    # run ("RUN_ID", "latest" or "latest:JOB_NAME").
    get: Sequence[str] = field(default_factory=list)
    get_from: str | None = None

    def __post_init__(self) -> None:
        put: object = self.put
        if isinstance(put, str):
            raise PatternError(f"Catalog(put=...) takes a list of patterns, not the string {put!r}; "
                               f"write put=[{put!r}]")
        if isinstance(put, (Mapping, bytes, bytearray)) or not isinstance(put, Iterable):
            # A mapping would give its keys and drop its values without a word.
            raise PatternError(f"Catalog(put=...) takes a list of patterns such as ['outputs/', '*.csv'], not "
                               f"{_described(put)}")
        # A set has no order of its own: sorted, so that runs list their files the same way each time.
        self.put = sorted(put, key=str) if isinstance(put, (set, frozenset)) else list(put)
        for pattern in self.put:
            normalize(pattern)  # refuse bad patterns now, before any job runs
        if isinstance(self.get, str):
            raise PatternError(f"Catalog(get=...) takes a list of patterns, not the string {self.get!r}; "
                               f"write get=[{self.get!r}]")
        get: object = self.get
        if isinstance(get, (Mapping, bytes, bytearray)) or not isinstance(get, Iterable):
            raise PatternError(f"Catalog(get=...) takes a list of patterns such as ['data/', '*.csv'], not "
                               f"{_described(get)}")
        self.get = sorted(get, key=str) if isinstance(get, (set, frozenset)) else list(get)
        for pattern in self.get:
            normalize(pattern, what="get pattern")
        if self.get_from is not None:
            if not isinstance(self.get_from, str) or not self.get_from.strip():
                raise PatternError(f"Catalog(get_from=...) takes a run id, 'latest' or 'latest:JOB_NAME', "
                                   f"not {self.get_from!r}")
            if self.get_from.startswith("latest:") and not self.get_from[len("latest:"):].strip():
                raise PatternError(f"Catalog(get_from={self.get_from!r}) names no job after 'latest:'; write "
                                   "'latest:JOB_NAME', or 'latest' for the newest successful run of any job")
            if not self.get:
                raise PatternError(f"Catalog(get_from={self.get_from!r}) needs get=[...] patterns naming "
                                   "the files to fetch from that run")
        if not isinstance(self.store_copy, bool):
            raise TypeError(f"Catalog(store_copy=...) must be True or False, not {self.store_copy!r}")


def _described(value: object) -> str:
    """``value`` for a message: a mapping by its size only (its values may be anything)."""
    if isinstance(value, Mapping):
        return f"a mapping ({len(value)} key{'s' if len(value) != 1 else ''}); list the patterns instead"
    if value is None:
        return "None; leave put out to store no file"
    return f"the {type(value).__name__} {value!r}"
