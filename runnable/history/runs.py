"""Run history: find past runs and read what they recorded and stored.

``History`` is the explicit core (a run-log store and a storage, passed in); ``runs()`` and
``get_run()`` build one from the configuration, as ``job.execute()`` does::

    import runnable

    for run in runnable.runs(status="SUCCESS", since="7d", limit=5):   # newest first
        print(run.run_id, run.start, run.parameters)

    run = runnable.get_run("unsolvable-ramanujan-0634")
    for f in run.files:                       # path, size, md5, stored
        print(f.path, f.size, f.md5, f.stored)
    with run.open("df.csv") as handle:        # the stored copy, checked against its hash
        print(handle.read()[:100])

A RUNNING record whose owner process has died (same host, process gone or its id reused) is a run
that will never finish: it is reported, and rewritten, as FAIL with the error "owner process died"
(reported as FAIL without being rewritten when the store cannot be written: read-only, or full).
``History(storage, store, read_only=True)`` reads without writing anything: such a run is reported
as FAIL and left as it is, and the listing and content indexes are refreshed in memory only
(``runnable.history.readonly``; the run browser reads this way).
"""

from __future__ import annotations

import difflib
import io
import os
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from runnable.backends.protocols import RunFolders, RunLogStore, Storage, local_folder
from runnable.errors import RecordError, RestoreError, RunNotFoundError
from runnable.history.index import RunIndex, RunSummary
from runnable.history.readonly import read_only_view
from runnable.history.verify import VerifiedReader, iter_entries, open_stored
from runnable.history.when import parse_moment, parse_record_time
from runnable.record import (
    FAIL,
    RUNNING,
    FileEntry,
    InputEntry,
    RunRecord,
    check_run_id,
    own_folder_prefixes,
    refuse_paths_into,
)
from runnable.run import scratch as _scratch
from runnable.run.liveness import owner_alive

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.history.lineage import WhichResult
    from runnable.history.restore import RestoreReport
    from runnable.history.verify import RunCheck

OWNER_DIED = "owner process died"


class Run:
    """One run: its summary at hand, its full record read on first use.

    >>> # run = runnable.get_run("unsolvable-ramanujan-0634"); run.status, run.files[0].md5
    """

    def __init__(self, history: History, summary: RunSummary, record: RunRecord | None = None) -> None:
        self._history = history
        self._summary = summary
        self._record = record

    def __repr__(self) -> str:
        return f"<Run {self.run_id} {self.status} {self._summary.start}>"

    # -- from the summary (no record read) ----------------------------------------------------
    @property
    def run_id(self) -> str:
        return self._summary.run_id

    @property
    def status(self) -> str:
        """RUNNING, SUCCESS or FAIL."""
        return self._summary.status

    @property
    def start(self) -> datetime | None:
        """When the run started (timezone-aware, UTC)."""
        return parse_record_time(self._summary.start)

    @property
    def end(self) -> datetime | None:
        """When the run ended; None while it runs (or if its owner died)."""
        return parse_record_time(self._summary.end)

    @property
    def duration_seconds(self) -> float | None:
        return self._summary.duration_seconds

    @property
    def job(self) -> str:
        """The job's name."""
        return self._summary.job

    @property
    def tags(self) -> list[str]:
        return list(self._summary.tags)

    @property
    def summary(self) -> RunSummary:
        return self._summary

    # -- from the record --------------------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        """The full run record (read from the run-log store once)."""
        if self._record is None:
            self._record = self._history.record(self.run_id)
        return self._record

    @property
    def parameters(self) -> dict[str, Any]:
        return self.record.parameters

    @property
    def returns(self) -> dict[str, Any]:
        return self.record.returns

    @property
    def files(self) -> list[FileEntry]:
        """The cataloged files: each has ``.path``, ``.size``, ``.md5`` (or ``.hash``), ``.stored``,
        and ``.stale`` (True if the run did not change it: it was in the working folder before)."""
        return self.record.files

    @property
    def error(self) -> dict[str, Any] | None:
        return self.record.error

    @property
    def inputs(self) -> list[InputEntry]:
        """The files the job read (``Catalog(get=...)``): each has ``.path``, ``.size``, ``.hash`` and
        ``.source`` (``{"run_id", "path", "others"}`` of the run that stored that content, or None)."""
        return self.record.inputs

    def upstream(self) -> list[Run]:
        """The runs this one was made from: its inputs' sources, theirs, and so on (nearest first).

        >>> # [r.job for r in runnable.get_run("evaluate-run").upstream()] -> ["train", "prepare"]
        """
        return self._lineage(down=False)

    def downstream(self) -> list[Run]:
        """The runs that read any of this run's outputs, and the runs that read theirs (nearest first)."""
        return self._lineage(down=True)

    def _lineage(self, down: bool) -> list[Run]:
        from runnable.history.lineage import tree

        found: list[Run] = []
        level = tree(self._history, self.run_id, down=down).children
        seen = {self.run_id}
        while level:
            following = []
            for node in level:
                if node.run_id not in seen:
                    seen.add(node.run_id)
                    found.append(self._history.get(node.run_id))
                following.extend(node.children)
            level = following
        return found

    def unstored_log(self) -> Path | None:
        """The execution log this run is writing, or left behind, on this machine without storing it.

        None once the run stored its log, or when it ran on another machine. A run in progress is
        writing it now; a run whose process was killed left it in its scratch folder
        (``runnable.run.scratch``), named in its record.
        """
        if self.record.execution_log is not None:
            return None
        return _scratch.log_left_by(self.record.environment)

    def file(self, path: str) -> FileEntry:
        """The entry for ``path`` (as recorded, e.g. ``data_folder/data.txt``)."""
        for entry in self.record.files:
            if entry.path == path:
                return entry
        log = self.record.execution_log
        if log is not None and log.path == path:
            return log
        known = [f.path for f in self.record.files]
        close = difflib.get_close_matches(path, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; it has: {', '.join(known) or 'no files'}"
        raise RestoreError(f"run {self.run_id} has no file {path!r}{hint}")

    def open(self, path: str) -> BinaryIO:
        """Read a stored file without restoring it; IntegrityError at its end if the bytes are corrupt.

        >>> # with run.open("df.csv") as handle: data = handle.read()
        """
        entry = self.file(path)
        if not entry.stored:
            raise RestoreError(
                f"{path!r} of run {self.run_id} was recorded by hash only ({entry.algorithm} {entry.digest}); "
                "no copy is stored, so it cannot be read from the catalog"
            )
        try:
            stream = open_stored(self._history.storage, self.run_id, entry)
        except FileNotFoundError:
            raise RestoreError(
                f"the stored copy of {path!r} of run {self.run_id} is missing from {self._history.storage.location}"
            ) from None
        return io.BufferedReader(VerifiedReader(stream, entry))

    @property
    def metrics(self) -> dict[str, list[list[float]]]:
        """Each metric's history, ``{name: [[step, value], ...]}``."""
        return self.record.metrics

    def load(self, name: str) -> Any:
        """The object the job returned as ``pickled(name)``, read from the catalog and checked
        against its recorded hash before it is unpickled (IntegrityError if the bytes changed).

        Unpickling runs code: load objects only from catalogs you trust.

        >>> # model = runnable.get_run("unsolvable-ramanujan-0634").load("model")
        """
        import pickle

        entry = self.record.objects.get(name)
        if entry is None:
            known = sorted(self.record.objects)
            close = difflib.get_close_matches(name, known, n=3)
            hint = (f"; did you mean {', '.join(map(repr, close))}?" if close else
                    f"; it has: {', '.join(map(repr, known))}" if known else
                    "; it returned none (declare returns=[pickled(name)] to keep one)")
            raise RestoreError(f"run {self.run_id} has no pickled return {name!r}{hint}")
        try:
            stream = open_stored(self._history.storage, self.run_id, entry)
        except FileNotFoundError:
            raise RestoreError(
                f"the stored pickled return {name!r} of run {self.run_id} is missing from "
                f"{self._history.storage.location}"
            ) from None
        with io.BufferedReader(VerifiedReader(stream, entry)) as handle:
            data = handle.read()  # all of it: the hash is checked at the end, before any unpickling
        return pickle.loads(data)  # noqa: S301 - documented: only for catalogs the user trusts

    def log(self) -> str:
        """The execution log's text ('' if the run stored none)."""
        entry = self.record.execution_log
        if entry is None:
            return ""
        with self.open(entry.path) as handle:
            return handle.read().decode("utf-8", errors="replace")

    def verify(self, working_folder: str | os.PathLike[str] | None = None) -> RunCheck:
        """Re-hash this run's stored copies (and hash-only files in ``working_folder``, default cwd)."""
        from runnable.history.verify import verify_record

        return verify_record(self.record, self._history.storage, Path(working_folder or Path.cwd()))

    def restore(self, patterns: Iterable[str] = (), to: str | os.PathLike[str] | None = None,
                force: bool = False) -> RestoreReport:
        """Restore files (all, or those ``patterns`` select) into ``to`` (default: cwd).

        ``to`` may not be in the catalog nor in a local run-log store folder (RestoreError): the one
        place that rule is made, for this method and ``runnable catalog get``.

        >>> # report = run.restore(["data_folder/"], to="restored"); report.ok
        """
        from runnable.history.restore import restore

        store = self._history.store
        root = local_folder(store)  # a local run-log store (restore() protects the catalog itself)
        protected = [("run-log store", store.location, root)] if root is not None else []
        return restore(self.record, self._history.storage, list(patterns), Path(to or Path.cwd()), force, protected)


class History:
    """The runs of one run-log store and their stored files.

    >>> # History(storage, run_log_store).runs(limit=3)
    """

    def __init__(self, storage: Storage, store: RunLogStore, read_only: bool = False) -> None:
        self.storage = storage
        # runnable's own local folders, which no recorded file path may lead into (see check()).
        self.own_folders = [(what, service.location, root) for what, service in
                            (("catalog", storage), ("run-log store", store))
                            if (root := local_folder(service)) is not None]
        self.read_only = read_only
        # Read-only: a view whose writes fail as on a read-only file system, which every writer
        # below already survives; the indexes' refreshes kept in memory.
        self.store = read_only_view(store) if read_only else store

    def check(self, record: RunRecord) -> RunRecord:
        """``record`` if none of its file paths leads into the catalog or the run-log store, else
        RecordError: a record edited so that restoring it would overwrite another run's stored copy,
        or write a forged record, reads as unreadable everywhere (listing, verify, gc, restore)."""
        working = record.environment.get("working_folder")
        folders = [(what, location, own_folder_prefixes(str(root), location, working if isinstance(working, str)
                                                        else None))
                   for what, location, root in self.own_folders]
        try:
            refuse_paths_into([e.path for e in iter_entries(record)], folders)
        except RecordError as exc:
            raise RecordError(f"run record of {record.run_id} in {self.store.location}: {exc}") from None
        return record

    @classmethod
    def from_config(cls, config: str | os.PathLike[str] | Configuration | None = None,
                    read_only: bool = False) -> History:
        """Build the services the configuration names (``None``: $RUNNABLE_CONFIGURATION_FILE or defaults)."""
        from runnable.config import loading as _config
        configuration = config if isinstance(config, _config.Configuration) else _config.load(config)
        return cls(configuration.storage_service().build(), configuration["run-log-store"].build(), read_only)

    def reading_only(self) -> History:
        """This history over the same services, read-only (see the module's docstring)."""
        if self.read_only:
            return self
        return History(self.storage, self.store, read_only=True)

    # -- owners that died -------------------------------------------------------------------
    def _settle(self, record: RunRecord) -> RunRecord:
        """Rewrite a RUNNING record whose owner died as FAIL (the truth); return it as FAIL even
        when the store cannot be written."""
        if record.status != RUNNING:
            return record
        if owner_alive(record.environment, parse_record_time(record.start)) is not False:
            return record
        # The owner is dead, so it writes nothing more; but it may have finished between our read
        # and the check above: read again so a final record is never overwritten.
        try:
            record = self.check(self.store.get(record.run_id))
        except (RunNotFoundError, RecordError):
            return record
        if record.status != RUNNING:
            return record
        record.status = FAIL
        env = record.environment
        # What the job logged up to its last second is in its scratch folder, if on this machine.
        left = _scratch.left_by(env)
        if left is not None:
            from runnable.run import metrics as _metrics
            _metrics.merge(record.metrics, _metrics.read(left / _metrics.METRICS_NAME))
        record.error = {
            "type": "OwnerDied",
            "message": f"{OWNER_DIED} (pid {env.get('pid')} on {env.get('host')}) before the run finished",
            "traceback": "",
        }
        try:
            self.store.put(record)
        except OSError:
            # A read-only or full store: the run is shown as FAIL all the same, and written so by the
            # next reader that can write. Reading never depends on writing.
            pass
        return record

    def _settle_summary(self, summary: RunSummary) -> RunSummary:
        if summary.status != RUNNING:
            return summary
        environment = {"host": summary.host, "pid": summary.pid}
        if owner_alive(environment, parse_record_time(summary.start)) is not False:
            return summary
        try:
            return RunSummary.of(self._settle(self.check(self.store.get(summary.run_id))))
        except (RunNotFoundError, RecordError):
            return summary

    # -- finding runs -----------------------------------------------------------------------
    def summaries(self) -> list[RunSummary]:
        """Every run's summary, newest first (dead owners settled)."""
        found = [self._settle_summary(s) for s in RunIndex(self.store, check=self.check).summaries()]
        found.sort(key=lambda s: (s.start, s.run_id), reverse=True)
        return found

    def ids(self) -> list[str]:
        return list(self.store.iter_ids())

    def runs(
        self,
        status: str | Iterable[str] | None = None,
        since: str | date | datetime | None = None,
        tag: str | Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs newest first, filtered by status, start time and tag (a run must have every tag)."""
        statuses = {status.upper()} if isinstance(status, str) else {s.upper() for s in status or ()}
        tags = {tag} if isinstance(tag, str) else set(tag or ())
        moment = parse_moment(since) if since is not None else None
        out: list[Run] = []
        for summary in self.summaries():
            if statuses and summary.status not in statuses:
                continue
            if tags and not tags.issubset(summary.tags):
                continue
            if moment is not None:
                started = parse_record_time(summary.start)
                if started is None or started < moment:
                    continue
            out.append(Run(self, summary))
            if limit is not None and len(out) >= limit:
                break
        return out

    def record(self, run_id: str) -> RunRecord:
        """The record of ``run_id`` (dead owner settled); RunNotFoundError suggests close ids."""
        try:
            check_run_id(run_id)
            record = self.check(self.store.get(run_id))
        except RunNotFoundError:
            raise RunNotFoundError(self.not_found_message(run_id)) from None
        except RecordError:
            if not _valid_id(run_id):  # a malformed id names no run; still suggest the closest
                raise RunNotFoundError(self.not_found_message(run_id)) from None
            raise
        return self._settle(record)

    def get(self, run_id: str) -> Run:
        """The run ``run_id``; RunNotFoundError (a KeyError) naming the closest ids if there is none."""
        record = self.record(run_id)
        return Run(self, RunSummary.of(record), record)

    def orphan_run_folders(self) -> list[str]:
        """Run folders in the catalog with no record: left by a gc killed after deleting a run's
        record (deleted first, so no record points at deleted content) and before its folder, or by
        a hand. A run reserves its record before it makes its folder, so the folders are listed
        first, then the records; callers check again (``store.exists``) right before acting on one.
        Empty for a storage whose run folders cannot be listed (see ``storage.RunFolders``)."""
        if not isinstance(self.storage, RunFolders):
            return []
        folders = list(self.storage.iter_run_ids())
        records = set(self.ids())
        return [run_id for run_id in folders if run_id not in records]

    def which(self, path_or_hash: str, rehash: bool = False) -> WhichResult:
        """Every run that stored the content of a file, or of a hash (full or 8+ characters);
        ``rehash`` reads the file even when the hash cache knows it unchanged."""
        from runnable.files.hashcache import HashCache
        from runnable.history.lineage import which

        return which(self, path_or_hash, cache=HashCache.default(rehash))

    def suggest(self, run_id: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(run_id, self.ids(), n=n, cutoff=0.5)

    def not_found_message(self, run_id: str) -> str:
        close = self.suggest(run_id)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; `runnable runs list` shows every run"
        return f"no run {run_id!r} in the run-log store {self.store.location}{hint}"


def _valid_id(run_id: str) -> bool:
    try:
        check_run_id(run_id)
    except RecordError:
        return False
    return True


def runs(
    status: str | Iterable[str] | None = None,
    since: str | date | datetime | None = None,
    tag: str | Iterable[str] | None = None,
    limit: int | None = None,
    config: str | os.PathLike[str] | Configuration | None = None,
) -> list[Run]:
    """Past runs, newest first.

    ``status``: "SUCCESS", "FAIL" or "RUNNING" (or several); ``since``: a datetime, a date, an ISO
    text or a time ago like "7d"; ``tag``: runs carrying this tag (or all these tags); ``config``: a
    configuration file (default: $RUNNABLE_CONFIGURATION_FILE, else the default folders).

    >>> # [r.run_id for r in runnable.runs(status="FAIL", since="2024-05-01", limit=10)]
    """
    return History.from_config(config).runs(status=status, since=since, tag=tag, limit=limit)


def get_run(run_id: str, config: str | os.PathLike[str] | Configuration | None = None) -> Run:
    """The run ``run_id``. Raises RunNotFoundError (a KeyError) suggesting the closest ids.

    >>> # run = runnable.get_run("unsolvable-ramanujan-0634"); run.parameters
    """
    return History.from_config(config).get(run_id)


def which(path_or_hash: str, config: str | os.PathLike[str] | Configuration | None = None) -> WhichResult:
    """Which runs stored this content? ``path_or_hash``: a local file (hashed), or a hash, full or a
    unique prefix of at least 8 hex characters. ``.holders`` lists the runs, oldest first (empty
    when none did); UsageError when a prefix matches several contents.

    >>> # [(h.run_id, h.path, h.job) for h in runnable.which("model.pkl").holders]
    """
    return History.from_config(config).which(path_or_hash)
