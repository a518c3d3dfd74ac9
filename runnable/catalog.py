"""``Catalog``: which files a job's run keeps, and whether it keeps copies or only hashes."""

from __future__ import annotations

from collections.abc import Sequence
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
        if isinstance(self.put, str):
            raise PatternError(f"Catalog(put=...) takes a list of patterns, not the string {self.put!r}; "
                               f"write put=[{self.put!r}]")
        self.put = list(self.put)
        for pattern in self.put:
            normalize(pattern)  # refuse bad patterns now, before any job runs
        if not isinstance(self.store_copy, bool):
            raise TypeError(f"Catalog(store_copy=...) must be True or False, not {self.store_copy!r}")
