"""``Catalog``: which files a job's run keeps, and whether it keeps copies or only hashes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from runnable.errors import PatternError
from runnable.patterns import normalize


@dataclass
class Catalog:
    """Files to store after a job runs.

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
        if not isinstance(self.store_copy, bool):
            raise TypeError(f"Catalog(store_copy=...) must be True or False, not {self.store_copy!r}")


def _described(value: object) -> str:
    """``value`` for a message: a mapping by its size only (its values may be anything)."""
    if isinstance(value, Mapping):
        return f"a mapping ({len(value)} key{'s' if len(value) != 1 else ''}); list the patterns instead"
    if value is None:
        return "None; leave put out to store no file"
    return f"the {type(value).__name__} {value!r}"
