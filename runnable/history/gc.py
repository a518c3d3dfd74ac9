"""Garbage collection: delete whole runs, then the stored content no remaining run refers to.

The decision is made from the records themselves (never the listing index), in this order:

1. choose runs to delete: those matching every filter given (``statuses``, ``older_than``), minus
   the ``keep_last`` newest of them. A RUNNING run whose owner is alive, or cannot be checked, is
   never chosen; one whose owner died is first settled as FAIL. No filter at all deletes no run.
2. delete each chosen run: record first (so no record ever points at deleted content), then its
   run folder; then finish every run folder whose record is gone (a gc killed between the two
   deletions left it), unless its record reappeared (a run reserves its record before its folder);
3. delete every object no remaining record refers to -- unless a record could not be read (its
   references are unknown) or a run is in progress (it stores objects before its record names them),
   or new runs appeared meanwhile (looked for before deleting, and every ``RECHECK_SECONDS`` while
   deleting, which then stops); then objects are kept and the report says why. A run-log store
   with no record at all beside a catalog holding content is refused outright: that is what a
   mistyped run-log location looks like, and every object would look unreferenced;
4. remove temporary files abandoned by crashed writers: all of them when no run is in progress,
   else only those older than a day (a live run may be writing the younger ones).

>>> # collect(History.from_config(), Policy(statuses=("FAIL",)), dry_run=True).bytes_freed
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from runnable.backends.protocols import CleanableRunLogStore
from runnable.errors import RecordError, RunNotFoundError, UnsafeStoredFileError, UsageError
from runnable.history.contentindex import ContentIndex
from runnable.history.runs import History
from runnable.history.verify import iter_entries
from runnable.history.when import parse_record_time
from runnable.record import RUNNING, STATUSES, RunRecord
from runnable.run import scratch as _scratch

# Runs whose files gc looks for in the catalog before trusting a run-log store (see
# _refuse_records_of_another_catalog).
_SAMPLE = 20
# While deleting objects, gc looks for runs started meanwhile at least this often.
RECHECK_SECONDS = 0.2
# Temporaries younger than this may belong to a copy in progress.
TEMPORARY_GRACE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Policy:
    """Which runs to delete. Empty policy: none (only unreferenced content is collected)."""

    keep_last: int | None = None
    older_than: timedelta | None = None
    statuses: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()  # only runs of these jobs (by name); keep_last then counts among them
    tags: tuple[str, ...] = ()  # only runs carrying every one of these tags

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 0:
            raise UsageError(f"keep_last must be 0 or more, not {self.keep_last}")
        bad = [s for s in self.statuses if s not in STATUSES]
        if bad:
            raise UsageError(f"status {bad[0]!r} is not one of {', '.join(STATUSES)}")

    @property
    def selects_runs(self) -> bool:
        return (self.keep_last is not None or self.older_than is not None or bool(self.statuses)
                or bool(self.jobs) or bool(self.tags))


@dataclass
class DeletedRun:
    run_id: str
    status: str
    start: str
    bytes: int  # stored bytes the run referred to (freed only where no other run shares them)


@dataclass
class Report:
    """What gc deleted (or, in a dry run, would delete)."""

    dry_run: bool
    runs: list[DeletedRun] = field(default_factory=list)
    objects: list[tuple[str, str, int]] = field(default_factory=list)  # (algorithm, digest, size)
    objects_kept_because: str | None = None
    temporaries_bytes: int = 0
    kept_running: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # run folders with no record, removed
    failures: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    @property
    def bytes_freed(self) -> int:
        return sum(size for _, _, size in self.objects) + self.temporaries_bytes


def _read_all(history: History) -> tuple[dict[str, RunRecord], list[str]]:
    records: dict[str, RunRecord] = {}
    unreadable: list[str] = []
    for run_id in history.ids():
        try:
            records[run_id] = history.record(run_id)  # settles dead owners as FAIL
        except RunNotFoundError:
            continue  # deleted meanwhile
        except RecordError:
            unreadable.append(run_id)
    return records, unreadable


def _refuse_without_records(history: History) -> None:
    """Stop gc when the run-log store names no run at all but the catalog holds content.

    Every object would then look unreferenced and be deleted: what a mistyped run-log location in a
    configuration looks like. For an S3 catalog, whose run folders only point at that content, it
    would lose every run's files.
    """
    if next(iter(history.storage.iter_objects()), None) is None:
        return  # nothing stored: nothing to lose, nothing to do
    raise UsageError(
        f"the run-log store {history.store.location} holds no run record, yet the catalog "
        f"{history.storage.location} holds stored content: gc would delete all of it. If the run-log "
        "store is the wrong one, fix its location in the configuration (--config); if every run was "
        f"removed on purpose, delete {history.storage.location} yourself"
    )


def _refuse_records_of_another_catalog(history: History, records: dict[str, RunRecord]) -> None:
    """Stop gc when none of the newest runs that stored files has them in this catalog.

    Their run-log store then belongs to another catalog (a configuration mixing two projects'
    locations): gc would delete that store's runs by its filters, and take every object here for
    garbage. A run's files are looked for through the storage itself (one small read each, at most
    ``_SAMPLE`` runs), so a catalog seen through another path (a container's mount) still matches.
    """
    tried = 0
    for record in sorted(records.values(), key=lambda r: (r.start, r.run_id), reverse=True):
        entry = next((e for e in iter_entries(record) if e.stored), None)
        if entry is None:
            continue  # stored nothing (killed early): says nothing about where it stored
        try:
            with history.storage.open_run_file(record.run_id, entry.path):
                return  # this store's runs are this catalog's
        except UnsafeStoredFileError:
            return  # a link where its file should be: not read, but the run's folder is here
        except FileNotFoundError:
            tried += 1
        if tried >= _SAMPLE:
            break
    if tried:
        raise UsageError(
            f"none of the {tried} newest runs in the run-log store {history.store.location} has its files in "
            f"the catalog {history.storage.location}: they were stored in another catalog, and gc would take "
            "everything stored here for garbage. Point the configuration (--config) at this catalog's "
            "run-log store, then run gc again"
        )


def choose(records: dict[str, RunRecord], policy: Policy, now: datetime) -> tuple[list[RunRecord], list[str]]:
    """(runs to delete, running runs spared), from the records."""
    newest_first = sorted(records.values(), key=lambda r: (r.start, r.run_id), reverse=True)
    running = [r.run_id for r in newest_first if r.status == RUNNING]
    if not policy.selects_runs:
        return [], running
    cutoff = None
    if policy.older_than is not None:
        try:
            cutoff = now - policy.older_than
        except OverflowError:  # an age reaching back before the year 1: no run is that old
            return [], running
    candidates = []
    for record in newest_first:
        if record.status == RUNNING:
            continue  # alive or unknown: _read_all already settled the dead ones
        if policy.statuses and record.status not in policy.statuses:
            continue
        if policy.jobs and record.job.get("name") not in policy.jobs:
            continue
        if not set(policy.tags) <= set(record.tags):
            continue
        if cutoff is not None:
            started = parse_record_time(record.start)
            if started is None or started > cutoff:
                continue
        candidates.append(record)
    if policy.keep_last:
        candidates = candidates[policy.keep_last :]
    return candidates, running


def _finish_orphans(history: History, report: Report) -> None:
    """Delete run folders whose record is gone (a gc killed between the two deletions of a run):
    before objects are collected, so the bytes their hard links hold are freed in the same gc. A
    run reserves its record before it makes its folder, and each folder's record is looked for
    again just before it is deleted: a run starting meanwhile is never taken for an orphan."""
    for run_id in history.orphan_run_folders():
        if history.store.exists(run_id):
            continue  # a run that started since the listing
        if not report.dry_run:
            try:
                history.storage.delete_run(run_id)
                ContentIndex(history.store).drop(run_id)
            except OSError as exc:
                report.failures.append((f"run folder {run_id}", exc.strerror or str(exc)))
                continue
        report.orphans.append(run_id)


def collect(history: History, policy: Policy, dry_run: bool = False, now: datetime | None = None) -> Report:
    """Apply ``policy``; with ``dry_run`` only report what would be deleted."""
    now = now or datetime.now(UTC)
    report = Report(dry_run)
    records, unreadable = _read_all(history)
    if not records and not unreadable:
        _refuse_without_records(history)
    _refuse_records_of_another_catalog(history, records)
    doomed, running = choose(records, policy, now)
    report.kept_running = running
    for record in doomed:
        size = sum(e.size for e in iter_entries(record) if e.stored)
        if not dry_run:
            try:
                history.store.delete(record.run_id)  # the record first: nothing may point at deleted data
                history.storage.delete_run(record.run_id)
                # Last: an entry left by a gc killed before this is harmless (entries are checked
                # against the records they name), and the next gc drops it with the orphan folder.
                ContentIndex(history.store).drop(record.run_id)
                _scratch.remove_left_by(record.environment)  # the log a killed run left, if here
            except OSError as exc:
                report.failures.append((f"run {record.run_id}", exc.strerror or str(exc)))
                continue
        report.runs.append(DeletedRun(record.run_id, record.status, record.start, size))
        del records[record.run_id]
    _finish_orphans(history, report)

    if unreadable:
        report.objects_kept_because = (
            f"the record of {', '.join(sorted(unreadable))} cannot be read, so what it refers to is unknown; "
            "fix or delete it, then run gc again"
        )
    elif running:
        report.objects_kept_because = (
            f"{len(running)} run(s) are in progress ({', '.join(running[:3])}) and may be storing content "
            "their records do not name yet; run gc again when they finish"
        )
    else:
        referenced = {(e.algorithm, e.digest) for r in records.values() for e in iter_entries(r) if e.stored}
        unreferenced = [o for o in history.storage.iter_objects() if (o[0], o[1]) not in referenced]
        # A run that started while we read would have reserved a record: look again before deleting,
        # and again every RECHECK_SECONDS while deleting (a run reserves its record before it stores
        # anything, and may reuse content gc is about to delete).
        known = set(records) | ({r.run_id for r in doomed} if dry_run else set())
        if set(history.ids()) - known:
            report.objects_kept_because = "new runs appeared while gc was reading; run gc again"
        else:
            checked = time.monotonic()
            for algorithm, digest, size in unreferenced:
                if time.monotonic() - checked >= RECHECK_SECONDS:
                    if set(history.ids()) - known:
                        report.objects_kept_because = (
                            "new runs appeared while gc was deleting, so it stopped; run gc again when they finish")
                        break
                    checked = time.monotonic()
                if not dry_run:
                    try:
                        size = history.storage.delete_object(algorithm, digest)
                    except OSError as exc:
                        report.failures.append((f"object {algorithm}:{digest}", exc.strerror or str(exc)))
                        continue
                report.objects.append((algorithm, digest, size))
    if not dry_run:
        grace = TEMPORARY_GRACE_SECONDS if running or set(history.ids()) != set(records) else 0.0
        try:
            report.temporaries_bytes = history.storage.clean_temporaries(grace)
            if isinstance(history.store, CleanableRunLogStore):
                report.temporaries_bytes += history.store.clean_temporaries(grace)
        except OSError as exc:
            report.failures.append(("temporary files", exc.strerror or str(exc)))
    return report
