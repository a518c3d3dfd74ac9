"""The content index: for every content (by hash), the runs and paths that stored it.

Every stored file is known by its full hash, so any file anywhere can be traced to the run that
made it by its content, not its name. Reading every record to answer that costs seconds at 10,000
runs; the index answers in milliseconds. It is kept in two layers in the run-log store:

* one small *entry* per finished run (``.content/{run_id}.json``), written after its record and
  only by that run: concurrent runs never write the same file, and a crash between the record and
  the entry leaves the index stale (the run is missing from it), never wrong;
* a merged *snapshot*, a cache any reader replaces atomically, valid only where its stamps still
  match the entries' stamps: entries written since are read, entries gone are dropped.

The records stay the only truth. Every answer is checked against the records it names (a record
deleted, or no longer holding that content, drops the answer), records with no entry are indexed
when found (old runs, crashed writers), and ``rebuild()`` (``runnable catalog reindex``) writes every
entry again from the records. ``gc`` deletes a run's entry with its record.

>>> # ContentIndex(store).holders("md5:" + digest) -> [Holder(run_id=..., path=..., ...), ...]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runnable.errors import RecordError, RunNotFoundError
from runnable.record import RUNNING, SUCCESS, RunRecord
from runnable.runlog import ContentIndexedRunLogStore, RunLogStore

ENTRY_VERSION = 1
SNAPSHOT_VERSION = 1


def key_of(algorithm: str, digest: str) -> str:
    """The index key of a content: ``md5:900150983cd24fb0d6963f7d28e17f72``.

    >>> key_of("md5", "900150983cd24fb0d6963f7d28e17f72")
    'md5:900150983cd24fb0d6963f7d28e17f72'
    """
    return f"{algorithm}:{digest}"


@dataclass(frozen=True)
class Holder:
    """A run that stored (or recorded by hash only, ``stored=False``) one content under ``path``."""

    run_id: str
    path: str
    size: int
    stored: bool
    status: str
    job: str
    start: str

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "path": self.path, "size": self.size, "stored": self.stored,
                "status": self.status, "job": self.job, "start": self.start}


def entry_of(record: RunRecord) -> dict[str, Any]:
    """The index entry of one run: its files by hash (not its execution log: no one reads it)."""
    return {
        "version": ENTRY_VERSION,
        "run_id": record.run_id,
        "status": record.status,
        "job": str(record.job.get("name", "")),
        "start": record.start,
        "files": [[key_of(f.algorithm, f.digest), f.path, f.size, f.stored] for f in record.files],
        # What it read, for lineage downstream (``runnable.lineage``): content key and path.
        "inputs": [[key_of(i.algorithm, i.digest), i.path] for i in record.inputs],
    }


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")


class ContentIndex:
    """Which runs hold which content, for the runs of ``store``.

    A store without ``ContentIndexedRunLogStore`` is answered by reading every record (slow, right).
    """

    def __init__(self, store: RunLogStore) -> None:
        self.store = store
        self._entries: dict[str, dict[str, Any]] | None = None
        self._by_key: dict[str, list[tuple[str, str, int, bool]]] | None = None
        self._records: dict[str, RunRecord | None] = {}
        self.reread = 0  # entries (or records) read on the last load, for tests and benchmarks

    # -- writing --------------------------------------------------------------------------------
    def add(self, record: RunRecord) -> None:
        """Index a finished run; call after its record is written (the record commits the run)."""
        if record.status == RUNNING or not isinstance(self.store, ContentIndexedRunLogStore):
            return
        self.store.write_content(record.run_id, _encode(entry_of(record)))
        self._entries = self._by_key = None

    def drop(self, run_id: str) -> None:
        """Forget a deleted run (``gc``); call after its record is deleted."""
        if isinstance(self.store, ContentIndexedRunLogStore):
            self.store.delete_content(run_id)
        self._entries = self._by_key = None

    def rebuild(self) -> int:
        """Write every finished run's entry again from its record, drop entries of runs that are
        gone; return the number of runs indexed."""
        store = self.store
        if not isinstance(store, ContentIndexedRunLogStore):
            return 0
        ids = set(store.iter_ids())
        count = 0
        for run_id in ids:
            record = self._read(run_id)
            if record is not None and record.status != RUNNING:
                store.write_content(run_id, _encode(entry_of(record)))
                count += 1
        for run_id, _stamp in list(store.iter_content_stamps()):
            if run_id not in ids:
                store.delete_content(run_id)
        self._entries = self._by_key = None
        return count

    # -- reading --------------------------------------------------------------------------------
    def _read(self, run_id: str) -> RunRecord | None:
        if run_id not in self._records:
            try:
                self._records[run_id] = self.store.get(run_id)
            except (RunNotFoundError, RecordError):
                self._records[run_id] = None
        return self._records[run_id]

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is not None:
            return self._entries
        store = self.store
        if not isinstance(store, ContentIndexedRunLogStore):
            entries = {}
            for run_id in store.iter_ids():
                record = self._read(run_id)
                if record is not None and record.status != RUNNING:
                    entries[run_id] = entry_of(record)
            self.reread = len(entries)
            self._entries = entries
            return entries
        cached = _parse_snapshot(store.read_content_snapshot())
        stamps = dict(store.iter_content_stamps())
        result: dict[str, dict[str, Any]] = {}
        fresh: dict[str, tuple[str, dict[str, Any]]] = {}
        damaged: set[str] = set()
        for run_id, stamp in stamps.items():
            hit = cached.get(run_id)
            if hit is not None and hit[0] == stamp:
                result[run_id] = hit[1]
                continue
            entry = _parse_entry(store.read_content(run_id), run_id)
            if entry is not None:
                result[run_id] = entry
                fresh[run_id] = (stamp, entry)
            else:
                damaged.add(run_id)
        # Finished runs with no entry: written by an older runnable, or their writer crashed
        # between the record and the entry. Indexed now, from their records.
        missing = {rid for rid in store.iter_ids() if rid not in stamps or rid in damaged}
        for run_id in missing:
            record = self._read(run_id)
            if record is None or record.status == RUNNING:
                continue
            entry = entry_of(record)
            try:
                store.write_content(run_id, _encode(entry))
            except OSError:
                pass  # a read-only store is still answered, from the record
            result[run_id] = entry
            fresh[run_id] = ("", entry)  # no stamp known yet: re-read next time
        self.reread = len(fresh)
        if fresh or len(cached) != len(result) or any(rid not in stamps for rid in cached):
            runs = {rid: [stamps[rid], entry] for rid, entry in result.items()
                    if rid in stamps and rid not in damaged and rid not in missing}
            try:
                store.write_content_snapshot(_encode({"version": SNAPSHOT_VERSION, "runs": runs}))
            except OSError:
                pass  # only a cache
        self._entries = result
        return result

    def _keys(self) -> dict[str, list[tuple[str, str, int, bool]]]:
        if self._by_key is None:
            by_key: dict[str, list[tuple[str, str, int, bool]]] = {}
            for run_id, entry in self._load().items():
                for key, path, size, stored in entry["files"]:
                    by_key.setdefault(key, []).append((run_id, path, size, stored))
            self._by_key = by_key
        return self._by_key

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """Every indexed content key whose digest starts with ``prefix`` (any algorithm)."""
        return sorted(k for k in self._keys() if k.split(":", 1)[1].startswith(prefix))

    def readers(self) -> dict[str, list[tuple[str, str]]]:
        """content key -> ``(run_id, path)`` of every finished run that read it as an input."""
        out: dict[str, list[tuple[str, str]]] = {}
        for run_id, entry in self._load().items():
            for key, path in entry.get("inputs", []):
                out.setdefault(key, []).append((run_id, path))
        return out

    def holders(self, key: str, exclude: Iterable[str] = ()) -> list[Holder]:
        """The runs holding content ``key``, oldest first; each checked against its record."""
        skip = set(exclude)
        algorithm, digest = key.split(":", 1)
        found: list[Holder] = []
        for run_id, path, _size, _stored in self._keys().get(key, []):
            if run_id in skip:
                continue
            record = self._read(run_id)
            if record is None:
                continue  # deleted since it was indexed (or unreadable now): not an answer
            for f in record.files:
                if f.path == path and f.hash.get(algorithm) == digest:
                    found.append(Holder(run_id, path, f.size, f.stored, record.status,
                                        str(record.job.get("name", "")), record.start))
                    break
        found.sort(key=lambda h: (h.start, h.run_id, h.path))
        return found


def source_of(holders: list[Holder]) -> dict[str, Any] | None:
    """The ``source`` of an input: the earliest successful holder, and how many other runs hold it.

    >>> source_of([Holder("b", "x", 1, True, "SUCCESS", "j", "2"), Holder("a", "y", 1, True, "FAIL", "j", "1")])
    {'run_id': 'b', 'path': 'x', 'others': 1}
    """
    good = [h for h in holders if h.status == SUCCESS]
    if not good:
        return None
    first = min(good, key=lambda h: (h.start, h.run_id, h.path))
    others = len({h.run_id for h in holders} - {first.run_id})
    return {"run_id": first.run_id, "path": first.path, "others": others}


def _parse_snapshot(raw: bytes | None) -> dict[str, tuple[str, dict[str, Any]]]:
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
        if data.get("version") != SNAPSHOT_VERSION:
            return {}
        return {rid: (str(item[0]), dict(item[1])) for rid, item in data["runs"].items()}
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}  # a damaged snapshot is rebuilt, never trusted


def _parse_entry(raw: bytes | None, run_id: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        if entry.get("version") != ENTRY_VERSION or entry.get("run_id") != run_id:
            return None
        files = [[str(k), str(p), int(s), bool(st)] for k, p, s, st in entry["files"]]
        inputs = [[str(k), str(p)] for k, p in entry.get("inputs", [])]
        return {**entry, "files": files, "inputs": inputs}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # damaged: the record is read instead (see holders)
