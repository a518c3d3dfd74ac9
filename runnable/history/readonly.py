"""A run-log store seen read-only: every read goes to the store, no write ever reaches it.

The history writes while it reads in three places, each documented as best effort: it settles a
RUNNING record whose owner died as FAIL (``History._settle``), and it refreshes two caches, the
listing index (``history.index``) and the content index (``history.contentindex``). A reader that
must change nothing (the run browser: issue 19, "the server changes nothing in the catalog or the
records") wraps the store in this view, which is the one place that guarantees it:

* ``create``/``put``/``delete`` raise ``OSError(EROFS)``, exactly what a store on a read-only file
  system raises, so each caller takes its existing read-only path (a dead owner's run is *shown* as
  FAIL, "owner process died", and not rewritten);
* the caches' writes are kept in this process's memory instead, and read back before the store's:
  a long-running reader pays for a stale cache once, not on every listing.

>>> # History(storage, store, read_only=True)  # builds this view over ``store``
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from runnable.backends.protocols import ContentIndexedRunLogStore, IndexedRunLogStore, RunLogStore
from runnable.record import RunRecord


def read_only_view(store: RunLogStore) -> RunLogStore:
    """``store`` behind a view that cannot write to it; with its caches kept in memory when the store
    keeps both (the file-system and S3 stores do)."""
    if isinstance(store, IndexedRunLogStore) and isinstance(store, ContentIndexedRunLogStore):
        return ReadOnlyIndexedRunLogStore(store)
    return ReadOnlyRunLogStore(store)


def _refused(what: str, location: str) -> OSError:
    return OSError(errno.EROFS, f"{what}: the run-log store {location} is open read-only here")


class ReadOnlyRunLogStore:
    """The records of ``store``, readable; any write raises OSError(EROFS)."""

    def __init__(self, store: RunLogStore) -> None:
        self.inner = store
        self.location = store.location

    def create(self, record: RunRecord) -> bool:
        raise _refused(f"cannot create the record of {record.run_id}", self.location)

    def put(self, record: RunRecord) -> None:
        raise _refused(f"cannot write the record of {record.run_id}", self.location)

    def get(self, run_id: str) -> RunRecord:
        return self.inner.get(run_id)

    def exists(self, run_id: str) -> bool:
        return self.inner.exists(run_id)

    def iter_ids(self) -> Iterator[str]:
        return self.inner.iter_ids()

    def delete(self, run_id: str) -> None:
        raise _refused(f"cannot delete the record of {run_id}", self.location)


class ReadOnlyIndexedRunLogStore(ReadOnlyRunLogStore):
    """The same, for a store that keeps the listing and content indexes: their refreshes stay in
    memory (``None`` until this process writes one: the store's own copy is read meanwhile)."""

    def __init__(self, store: ContentIndexedRunLogStore) -> None:
        super().__init__(store)
        assert isinstance(store, IndexedRunLogStore)  # read_only_view checked both
        self.indexed: IndexedRunLogStore = store
        self.content: ContentIndexedRunLogStore = store
        self._index: bytes | None = None
        self._snapshot: bytes | None = None
        self._entries: dict[str, bytes] = {}

    # -- the listing index -------------------------------------------------------------------
    def iter_stamps(self) -> Iterator[tuple[str, str]]:
        return self.indexed.iter_stamps()

    def read_index(self) -> bytes | None:
        return self._index if self._index is not None else self.indexed.read_index()

    def write_index(self, data: bytes) -> None:
        self._index = bytes(data)

    # -- the content index -------------------------------------------------------------------
    def write_content(self, run_id: str, data: bytes) -> None:
        self._entries[run_id] = bytes(data)

    def read_content(self, run_id: str) -> bytes | None:
        kept = self._entries.get(run_id)
        return kept if kept is not None else self.content.read_content(run_id)

    def delete_content(self, run_id: str) -> None:
        raise _refused(f"cannot delete the content entry of {run_id}", self.location)

    def iter_content_ids(self) -> Iterator[str]:
        seen = set()
        for run_id in self.content.iter_content_ids():
            seen.add(run_id)
            yield run_id
        # Entries indexed here from their records. Not asked whether each record still exists (on
        # S3, a request each): the content index checks every answer against the records it names.
        for run_id in list(self._entries):
            if run_id not in seen:
                yield run_id

    def read_content_snapshot(self) -> bytes | None:
        return self._snapshot if self._snapshot is not None else self.content.read_content_snapshot()

    def write_content_snapshot(self, data: bytes) -> None:
        self._snapshot = bytes(data)
