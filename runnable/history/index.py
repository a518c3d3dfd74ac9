"""A listing index: one small summary per run, kept beside the records, rebuilt from them.

Listing 10,000 runs by reading 10,000 records costs seconds; reading one index costs milliseconds.
The records stay the source of truth: every listing asks the store for each record's *stamp* (it
changes whenever the record is written) and re-reads only the records whose stamp differs from the
index, then drops runs that are gone. A stale, missing or corrupt index is therefore always repaired,
never believed. Stores without index support (see ``protocols.IndexedRunLogStore``) are listed by
reading every record.

>>> # RunIndex(store).summaries() -> [RunSummary(run_id=..., status=..., ...), ...]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from runnable.backends.protocols import IndexedRunLogStore, RunLogStore
from runnable.errors import RecordError, RunNotFoundError
from runnable.record import RunRecord

# 2: summaries are made after the history's checks (``check``), and carry parameters, last metric
# values, returns and short file hashes (for compare); a version-1 index is rebuilt once.
INDEX_VERSION = 2
#: A summary keeps the short hash of at most this many files; compare reads the record of a run
#: with more (a run of 10,000 files would make the index as large as its record).
SUMMARY_FILES = 64
SHORT_HASH = 8
UNREADABLE = "UNREADABLE"

# Reading stale records on a few threads: on object stores each read is a network round trip.
_WORKERS = 8


@dataclass
class RunSummary:
    """What a listing shows about one run; built from its record."""

    run_id: str
    status: str  # RUNNING / SUCCESS / FAIL, or UNREADABLE when the record cannot be read
    start: str = ""
    end: str | None = None
    duration_seconds: float | None = None
    job: str = ""
    kind: str = ""
    tags: list[str] = field(default_factory=list)
    files: int = 0
    bytes_stored: int = 0
    host: str | None = None
    pid: int | None = None
    error: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # the last value of each history
    returns: dict[str, Any] = field(default_factory=dict)
    # {path: first SHORT_HASH characters of its digest}; empty when the run has over SUMMARY_FILES
    file_hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, record: RunRecord) -> RunSummary:
        error = None
        if record.error:
            error = f"{record.error.get('type', 'Error')}: {record.error.get('message', '')}"
        pid = record.environment.get("pid")
        return cls(
            run_id=record.run_id,
            status=record.status,
            start=record.start,
            end=record.end,
            duration_seconds=record.duration_seconds,
            job=str(record.job.get("name", "")),
            kind=str(record.job.get("kind", "")),
            tags=list(record.tags),
            files=len(record.files),
            bytes_stored=sum(f.size for f in record.files if f.stored),
            host=record.environment.get("host"),
            pid=pid if isinstance(pid, int) else None,
            error=error,
            parameters=dict(record.parameters),
            metrics={name: history[-1][1] for name, history in record.metrics.items() if history},
            returns=dict(record.returns),
            file_hashes={f.path: f.digest[:SHORT_HASH] for f in record.files} if len(record.files) <= SUMMARY_FILES
            else {},
        )

    @classmethod
    def unreadable(cls, run_id: str, reason: str) -> RunSummary:
        return cls(run_id=run_id, status=UNREADABLE, error=reason)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(store: RunLogStore, run_id: str, check: Callable[[RunRecord], RunRecord]) -> RunSummary | None:
    try:
        return RunSummary.of(check(store.get(run_id)))
    except RunNotFoundError:
        return None  # deleted while we listed
    except RecordError as exc:
        return RunSummary.unreadable(run_id, str(exc))


def _read_many(store: RunLogStore, run_ids: Iterable[str],
               check: Callable[[RunRecord], RunRecord]) -> dict[str, RunSummary]:
    ids = list(run_ids)
    if len(ids) > 32:
        with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="runnable-index") as pool:
            found = list(pool.map(lambda rid: _read(store, rid, check), ids))
    else:
        found = [_read(store, rid, check) for rid in ids]
    return {s.run_id: s for s in found if s is not None}


class RunIndex:
    """Summaries of every run in ``store``, served from the index where it is still valid."""

    def __init__(self, store: RunLogStore, check: Callable[[RunRecord], RunRecord] = lambda r: r) -> None:
        self.store = store
        # What the history checks beyond the record's own rules (RecordError: UNREADABLE), such as
        # file paths leading into the catalog; see History.check.
        self.check = check
        self.reread = 0  # records read on the last refresh (for tests and benchmarks)

    def _load(self, store: IndexedRunLogStore) -> dict[str, tuple[str, dict[str, Any]]]:
        try:
            raw = store.read_index()
            if raw is None:
                return {}
            data = json.loads(raw)
            if data.get("version") != INDEX_VERSION:
                return {}
            return {rid: (entry[0], entry[1]) for rid, entry in data["runs"].items()}
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError):
            return {}  # a damaged index is rebuilt, never trusted

    def summaries(self) -> list[RunSummary]:
        """Every run's summary, in no particular order; repairs the index as a side effect."""
        store = self.store
        if not isinstance(store, IndexedRunLogStore):
            found = _read_many(store, store.iter_ids(), self.check)
            self.reread = len(found)
            return list(found.values())
        cached = self._load(store)
        stamps = dict(store.iter_stamps())
        result: dict[str, RunSummary] = {}
        stale: list[str] = []
        for run_id, stamp in stamps.items():
            hit = cached.get(run_id)
            if hit is not None and hit[0] == stamp:
                try:
                    result[run_id] = RunSummary(**hit[1])
                    continue
                except TypeError:
                    pass  # an entry from an older layout: read the record again
            stale.append(run_id)
        fresh = _read_many(store, stale, self.check)
        result.update(fresh)
        self.reread = len(stale)
        if stale or len(cached) != len(stamps) or any(rid not in stamps for rid in cached):
            entries = {rid: [stamps[rid], s.to_dict()] for rid, s in result.items() if rid in stamps}
            payload = json.dumps({"version": INDEX_VERSION, "runs": entries}, separators=(",", ":"))
            try:
                store.write_index(payload.encode())
            except OSError:
                pass  # a read-only store can still be listed; the index is only a cache
        return list(result.values())
