"""Run one job as a tracked run: the explicit core behind ``job.execute()``.

The order of a run, each step's purpose in brackets:

0. check that the catalog and the run-log store can be made where configured [a file in the way
   fails the run before the job starts, not after it];
1. reserve the run id in the run-log store, exclusively, with a RUNNING record [ids never collide];
2. under output capture: bind parameters, run the job, then select and store the catalog files
   [the function's output, warnings and errors all reach the execution log]; a job that failed
   before its code started stores none [files matching the patterns are not this run's];
3. store the execution log, whatever happened [a failed run keeps its log];
4. write the final record last [the record is the commit marker: data first, record after];
5. print the JSON summary; raise ``JobFailedError`` if the run failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from runnable import params as _params
from runnable.backends.protocols import CheckedLocation, PreparedRuns, RunLogStore, Storage, file_clock_ns
from runnable.errors import (
    CatalogError,
    InputError,
    JobFailedError,
    ParameterError,
    PatternError,
    RunIdError,
    RunnableError,
)
from runnable.files import progress as _progress
from runnable.files.patterns import expand
from runnable.files.put import put_files, store_single
from runnable.record import FAIL, RUNNING, SUCCESS, FileEntry, RunRecord, check_run_id, stale_message
from runnable.returns import object_path
from runnable.run import metrics as _metrics
from runnable.run import runid
from runnable.run import scratch as _scratch
from runnable.run.capture import FilterFactory, OutputCapture
from runnable.run.codeinfo import git_identity
from runnable.run.liveness import host_name
from runnable.version import __version__

if TYPE_CHECKING:
    from runnable.jobs import BaseJob, JobContext


SUMMARY_CONTENT_KEY = "Output catalog content"
# Past this many files the summary lists the first ones and counts the rest under SUMMARY_MORE_KEY.
SUMMARY_FILES = 20
SUMMARY_MORE_KEY = "more_files"
SUMMARY_HINT_KEY = "hint"
# In the record's ``catalog`` and in the summary when the job failed before its code started.
NOT_COLLECTED_KEY = "not_collected"
NOT_COLLECTED = (
    "the job failed before its code started, so its put patterns were not collected (files that match "
    "them were not written by this run)"
)



class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM during a run."""


@dataclass
class RunOptions:
    """Per-run choices: explicit arguments, already merged with the environment."""

    run_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    print_summary: bool = True
    # The files the parameters and the configuration came from, as given: for the record.
    parameters_file: str | None = None
    configuration_file: str | None = None
    # ``runnable execute-job --dry-run``: a container or Kubernetes executor shows what it would start.
    dry_run: bool = False


# The whole package (this module is in runnable/run/): frames of runnable's own code are left out of
# the traceback a failed job shows.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _exit_code(failure: BaseException) -> int | None:
    """A failed command's exit code (JobFailedError); None for anything else, whatever it holds."""
    code = getattr(failure, "exit_code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without runnable's own frames at the top (they only distract).

    An error raised inside runnable itself keeps its full traceback.
    """
    import traceback  # only when a run fails: it costs ~2 ms of every start otherwise

    return "".join(traceback.format_exception(type(exc), exc, _user_frames(exc)))


def _user_frames(exc: BaseException) -> TracebackType | None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return tb if tb is not None else exc.__traceback__


def platform_name() -> str:
    """Like ``platform.platform(terse=True)`` ("Linux-6.1.0-x86_64-with-glibc2.36") on Linux, where
    that function runs ``uname -p`` in a subprocess and scans the Python binary for the libc version
    (about 7 ms of every run); here both come from the kernel and the C library directly."""
    if sys.platform != "linux":
        import platform

        return platform.platform(terse=True)
    system, _node, release, _version, machine = os.uname()
    libc = ""
    with contextlib.suppress(ValueError, OSError):
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"; absent with musl
    return "-".join(part for part in (system, release, machine, "with-" + libc.replace(" ", "") if libc else "") if part)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    """Turn SIGTERM into an exception so the run records FAIL itself (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"received signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while a run commits (log, then record), and deliver them after.

    Without this, a signal arriving while the execution log is stored kills the process (SIGTERM)
    or unwinds it (Ctrl-C) before the final record is written, leaving it RUNNING.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, hold) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for pending in dict.fromkeys(caught):
            signal.raise_signal(pending)


class JobRunner:
    """Runs ``job`` once with explicit services; ``run()`` returns the final record.

    >>> # JobRunner(job, storage, run_log_store, algorithm="md5", options=RunOptions()).run()
    """

    def __init__(
        self,
        job: BaseJob,
        storage: Storage,
        run_log_store: RunLogStore,
        algorithm: str = "md5",
        options: RunOptions | None = None,
        catalog_type: str = "file-system",
        working_folder: Path | None = None,
        make_filter: FilterFactory | None = None,
    ) -> None:
        self.job = job
        self.storage = storage
        self.run_log_store = run_log_store
        self.algorithm = algorithm
        self.options = options or RunOptions()
        self.catalog_type = catalog_type
        self.working_folder = (working_folder or Path.cwd()).absolute()
        self.make_filter = make_filter
        self._terminal: int | None = None  # stderr's terminal during a run, for the progress bar
        self._run_folder_refused = False  # the storage refused the run's folder: store nothing
        self._job_started_ns: int | None = None  # file_clock_ns() as the job's code was about to run

    # -- step 1 -----------------------------------------------------------------------------
    def reserve(self, record: RunRecord) -> RunRecord:
        if self.options.run_id:
            try:
                record.run_id = check_run_id(self.options.run_id)
            except RunnableError as exc:
                raise RunIdError(str(exc)) from None
            if not self._create(record):
                raise RunIdError(
                    f"run id {record.run_id!r} is already used in {self.run_log_store.location}; "
                    "choose another id or leave it out to get a generated one"
                )
            return record
        for _ in range(1000):
            record.run_id = runid.generate()
            if self._create(record):
                return record
        raise RunIdError("could not reserve a free run id after 1000 attempts")

    def _create(self, record: RunRecord) -> bool:
        try:
            return self.run_log_store.create(record)
        except CatalogError:
            raise  # the store's own words already (a missing bucket, a server that does not answer)
        except OSError as exc:  # a full disk or a read-only folder: say where, not only errno 28
            raise CatalogError(
                f"could not write the record of run {record.run_id} in the run-log store "
                f"{self.run_log_store.location}: {exc.strerror or exc}; free space or fix permissions "
                "there, then run again"
            ) from exc

    def _new_record(self) -> RunRecord:
        parameters = _params.plain(self.options.parameters)
        _params.check_nesting(parameters, "parameter")  # a record must be able to hold them
        catalog = self.job.catalog
        return RunRecord(
            run_id="pending",
            status=RUNNING,
            job=self.job.describe(),
            start=now(),
            parameters=parameters,
            code=git_identity(self.working_folder),
            runnable_version=__version__,
            environment={
                "python": ".".join(map(str, sys.version_info[:3])),
                "platform": platform_name(),
                "host": host_name(),
                "pid": os.getpid(),
                "working_folder": str(self.working_folder),
                "argv": list(sys.argv),
                **{key: value for key, value in (("parameters_file", self.options.parameters_file),
                                                 ("configuration_file", self.options.configuration_file)) if value},
            },
            catalog={
                "type": self.catalog_type,
                "location": self.storage.location,
                "algorithm": self.algorithm,
                "store_copy": catalog.store_copy if catalog else None,
                "put": list(catalog.put) if catalog else [],
                **({"get": list(catalog.get)} if catalog and catalog.get else {}),
                **({"get_from": catalog.get_from} if catalog and catalog.get_from else {}),
            },
            tags=list(self.options.tags),
        )

    # -- step 0 -----------------------------------------------------------------------------
    def check_locations(self) -> None:
        """Raise before the job runs if the catalog or the run-log store cannot be used, then make
        their folders (only once both passed: a refusal leaves nothing behind).

        Only a backend that can tell (a local folder) is a ``CheckedLocation``;
        an object store has nothing in the way of a folder.
        """
        services = (self.storage, self.run_log_store)
        for service in services:
            if isinstance(service, CheckedLocation):
                service.check_location(self.working_folder)
        for service in services:
            if isinstance(service, CheckedLocation):
                service.make_location()

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> RunRecord:
        from runnable.jobs import JobContext

        self.check_locations()
        # The scratch folder first: its path is in the record from the start, so the log of a run
        # that is killed can still be found (runnable.run.scratch).
        scratch = _scratch.make()
        try:
            record = self._new_record()
            record.environment["scratch"] = str(scratch)
            self._mask(record)  # the RUNNING record is written now: a command may spell a secret
            record = self.reserve(record)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        record.catalog["run_folder"] = self.storage.run_location(record.run_id)
        started = time.perf_counter()
        log_path = scratch / _scratch.LOG_NAME
        failure: BaseException | None = None
        interrupt: BaseException | None = None
        saved_env = {k: os.environ.get(k) for k in [*self.options.secrets, _metrics.ENV_METRICS_FILE,
                                                    _metrics.ENV_SECRET_NAMES]}
        metrics_file = scratch / _metrics.METRICS_NAME
        try:
            context = JobContext(
                parameters=dict(self.options.parameters),
                environment=dict(self.options.secrets),
                working_folder=self.working_folder,
                scratch=scratch,
            )
            os.environ.update(self.options.secrets)
            # Every process of the job (a notebook's kernel, a shell job's programs) appends here.
            os.environ[_metrics.ENV_METRICS_FILE] = str(metrics_file)
            os.environ[_metrics.ENV_SECRET_NAMES] = ",".join(self.options.secrets)
            # The progress bar's terminal is taken before capture turns fd 2 into a pipe.
            with _progress.terminal() as self._terminal, _sigterm_as_exception(), \
                    OutputCapture(log_path, self.make_filter) as capture:
                try:
                    self._begin_run(record.run_id)
                    self._read_inputs(record)  # before the job: a missing input fails it unstarted
                    # Files that last changed before this moment were not written by the run: their
                    # entries are marked stale (put_files). The file system's clock, not time.time_ns().
                    self._job_started_ns = file_clock_ns()
                    returns = self.job.run(context)
                    _params.check_nesting(returns, "return value")  # before anything walks it recursively
                    returns, warnings = _params.finite_returns(returns)
                    record.returns = returns
                    for warning in warnings:  # JSON has no NaN: kept as null, said once per value
                        sys.stderr.write(f"runnable: warning: {warning}\n")
                except BaseException as exc:  # noqa: BLE001 - recorded below, re-raised by the caller
                    failure = exc
                    if isinstance(exc, (JobFailedError, ParameterError, InputError)) or self._run_folder_refused:
                        # A failed command, a bad parameter or a refused run folder: runnable's own
                        # stack would only distract. The reason, once, into the log too.
                        sys.stderr.write(f"runnable: error: {_reason(exc)}\n")
                    elif not isinstance(exc, (KeyboardInterrupt, Terminated)):
                        sys.stderr.write(user_traceback(exc))
                    else:
                        interrupt = exc
                        sys.stderr.write(f"runnable: run {record.run_id} interrupted ({type(exc).__name__})\n")
                    sys.stderr.flush()
                record.parameters.update(context.resolved_parameters)  # as the job received them
                _metrics.flush()  # what this process logged; other processes of the job have ended
                record.metrics = dict(context.metrics)
                _metrics.merge(record.metrics, _metrics.read(metrics_file))
                if self._run_folder_refused:
                    pass  # nothing is stored into a folder that was refused, not even the log
                elif failure is not None and not context.started and self.job.catalog and self.job.catalog.put:
                    record.catalog[NOT_COLLECTED_KEY] = NOT_COLLECTED
                    sys.stderr.write(f"runnable: {NOT_COLLECTED}\n")
                else:  # a job that started and failed still keeps its outputs
                    try:
                        self._catalog_files(record, context)
                    except (RunnableError, OSError) as exc:
                        if not getattr(exc, "reported", False):  # else its lines are in the log already
                            sys.stderr.write(f"runnable: error: {exc}\n")
                        failure = failure or exc
                    except BaseException as exc:  # noqa: BLE001 - an interrupt while storing
                        interrupt = interrupt or exc
                        failure = failure or exc
                sys.stdout.flush()
                sys.stderr.flush()
            if capture.log_error is not None:
                failure = failure or CatalogError(
                    f"the execution log of run {record.run_id} could not be written completely "
                    f"({capture.log_error.strerror or capture.log_error}); free space in {scratch.parent}"
                )
        finally:
            with _signals_held():  # a Ctrl-C or SIGTERM now waits until the record is written
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                try:
                    record.execution_log = self._store_log(record, log_path)
                    shutil.rmtree(scratch, ignore_errors=True)
                except (OSError, RunnableError) as exc:
                    failure = failure or exc  # the scratch folder stays: it holds the only copy
                record.end = now()
                record.duration_seconds = round(time.perf_counter() - started, 6)
                record.status = FAIL if failure is not None else SUCCESS
                if failure is not None:
                    record.error = {
                        "type": type(failure).__name__,
                        "message": str(failure),
                        "traceback": user_traceback(failure),
                    }
                    if (code := _exit_code(failure)) is not None:  # a failed command's code
                        record.error["exit_code"] = code
                self._mask(record)  # secret values never reach the record or the summary
                if self._run_folder_refused:
                    # No run happened, as for a catalog location that is a file: the id is given
                    # back, so that once the old folder is removed the same id can be run again.
                    with contextlib.suppress(OSError, RunnableError):
                        self.run_log_store.delete(record.run_id)
                else:
                    failure = self._write_final(record, failure)  # last: the record commits the run
                    self._index_content(record)
        if self._run_folder_refused and failure is not None and interrupt is None:
            raise failure.with_traceback(None)
        if self.options.print_summary:
            hint = context.returns_hint if failure is None else None
            sys.stdout.write(json.dumps(summary(record, self.run_log_store.location, hint), indent=4) + "\n")
            sys.stdout.flush()
        if interrupt is not None:
            raise interrupt
        if failure is not None:
            # Not chained: the job's traceback was printed once already (console and log), and a
            # chained exception would print it a second time. ``error`` keeps the exception itself.
            exit_code = _exit_code(failure)
            where = _where_kept(record, self.run_log_store.location)
            _report_uncaught_failures_in_one_line()
            if self.options.secrets:  # the exception's text could hold a secret's value
                error = record.error or {}
                reason = error.get("message") if error.get("type") == JobFailedError.__name__ else \
                    f"{error.get('type')}: {error.get('message')}"
                raise JobFailedError(f"run {record.run_id} failed: {reason}; {where}", record, exit_code) from None
            raise JobFailedError(
                f"run {record.run_id} failed: {_reason(failure)}; {where}", record, exit_code,
                error=failure.with_traceback(_user_frames(failure)),
            ) from None
        return record

    def _write_final(self, record: RunRecord, failure: BaseException | None) -> BaseException | None:
        """Write the final record; return the run's failure (a new one if the record had to shrink).

        The store reserved the room a final record takes as the run's id was reserved (see
        ``runlog.RECORD_RESERVE``). A record that outgrew it on a full disk is written without its
        file list, as FAIL with that reason, rather than leaving the run RUNNING for ever.
        """
        try:
            self.run_log_store.put(record)
            return failure
        except OSError as exc:
            why = CatalogError(
                f"the record of run {record.run_id} could not be written in full in the run-log store "
                f"{self.run_log_store.location} ({exc.strerror or exc}), so it lists none of the "
                f"{len(record.files)} files stored; free space there and run the job again"
            )
        sys.stderr.write(f"runnable: error: {why}\n")
        record.status = FAIL
        record.files = []
        record.error = {"type": type(why).__name__, "message": str(why), "traceback": ""}
        try:
            self.run_log_store.put(record)
        except OSError as exc:
            raise CatalogError(
                f"the record of run {record.run_id} could not be written in the run-log store "
                f"{self.run_log_store.location} ({exc.strerror or exc}); it stays RUNNING until "
                "`runnable runs list` finds its process gone"
            ) from None
        return why

    def _mask(self, record: RunRecord) -> None:
        """Mask the run's secret values in every field of ``record`` before it is written (the record,
        and the summary and failure message made from it): the one place a record is masked."""
        if self.options.secrets:
            from runnable.backends.secrets import mask_record

            mask_record(record, self.options.secrets.values())

    def _begin_run(self, run_id: str) -> None:
        """Let the storage prepare the run before the job starts: a local catalog makes the run's
        folder, new, and refuses one left from an earlier run of this id (it could hold links out of
        the catalog). Then nothing, not even the log, is stored, and the id is given back."""
        if isinstance(self.storage, PreparedRuns):
            try:
                self.storage.begin_run(run_id)
            except CatalogError:
                self._run_folder_refused = True
                raise

    # -- step 2, before the job: inputs -----------------------------------------------------
    def _own_folders(self) -> list[Path]:
        return [Path(self.storage.location).absolute(), Path(self.run_log_store.location).absolute()]

    def _read_inputs(self, record: RunRecord) -> None:
        """Fetch (``get_from``) and hash the job's declared inputs (``runnable.run.inputs``)."""
        catalog = self.job.catalog
        if catalog is None or not catalog.get:
            return
        from runnable.backends.protocols import local_folder
        from runnable.files.hashcache import HashCache
        from runnable.history.contentindex import ContentIndex
        from runnable.run.inputs import collect, fetch, resolve_run

        index = ContentIndex(self.run_log_store)
        fetched = None
        if catalog.get_from is not None:
            from runnable.history.runs import History  # only here: ~30 ms of imports a run otherwise

            fetched = resolve_run(catalog.get_from, History(self.storage, self.run_log_store))
            root = local_folder(self.run_log_store)
            protected = [("run-log store", self.run_log_store.location, root)] if root is not None else []
            fetch(fetched, self.storage, catalog.get, self.working_folder, protected)
        cache = HashCache.default()
        record.inputs = collect(catalog.get, self.working_folder, self.algorithm, index,
                                self._own_folders(), fetched, skip_runs=[record.run_id], cache=cache)
        cache.save()

    def _index_content(self, record: RunRecord) -> None:
        """Add the finished run to the content index. A failure leaves the index stale, never
        wrong (the next reader indexes the run from its record), so it never fails the run."""
        from runnable.history.contentindex import ContentIndex

        try:
            ContentIndex(self.run_log_store).add(record)
        except (OSError, RunnableError) as exc:
            sys.stderr.write(f"runnable: warning: the content index was not updated ({exc}); "
                             "`runnable catalog reindex` rebuilds it\n")

    # -- step 2, after the job --------------------------------------------------------------
    def _catalog_files(self, record: RunRecord, context: JobContext) -> None:
        catalog = self.job.catalog
        errors: list[str] = []
        if catalog is not None and catalog.put:
            selection = expand(catalog.put, self.working_folder, self._own_folders())
            for skip in selection.skipped:
                sys.stderr.write(f"runnable: warning: not storing {skip.rel!r}: {skip.reason}\n")
            record.skipped = [{"path": s.rel, "reason": s.reason} for s in selection.skipped]
            with _progress.for_files(selection.files, self._terminal) as bar:
                result = put_files(selection.files, self.storage, record.run_id, self.algorithm,
                                   catalog.store_copy, progress=bar, started_ns=self._job_started_ns)
            record.files = result.entries
            if (stale := stale_message(result.entries)) is not None:
                sys.stderr.write(f"runnable: warning: {stale}\n")
            errors.extend(_store_failures(result.failures))
            for folder in selection.unlistable:  # as for a file that cannot be read: the run fails
                errors.append(f"could not store the files in {folder.rel!r}: the {folder.reason}; give it "
                              "read permission (chmod u+r) or leave it out of the put patterns")
            for pattern in selection.unmatched:
                errors.append(f"put pattern {pattern!r} matched no file in {self.working_folder}")
        for rel, path in context.extra_outputs:
            if path.exists():
                try:
                    if self.options.secrets:  # runnable wrote it (an executed notebook): no value in it
                        from runnable.backends.secrets import mask_file

                        mask_file(path, self.options.secrets.values())
                    record.files.append(store_single(self.storage, record.run_id, rel, path, self.algorithm))
                except (RunnableError, OSError) as exc:
                    errors.append(f"could not store {rel!r}: {exc}")
        for name, path in context.objects:
            rel = object_path(name)
            if rel in record.catalog_content:  # a put pattern took the reserved name: keep the user's file
                errors.append(f"could not store the pickled return {name!r}: a cataloged file already uses "
                              f"its place {rel!r}; rename that file")
                continue
            try:
                record.objects[name] = store_single(self.storage, record.run_id, rel, path, self.algorithm)
            except (RunnableError, OSError) as exc:
                errors.append(f"could not store the pickled return {name!r}: {exc}")
        if errors:
            for message in errors:
                sys.stderr.write(f"runnable: error: {message}\n")
            first = errors[0]
            others = len(errors) - 1
            more = f" (and {others} more: see above or in the execution log)" if others else ""
            kind = PatternError if "matched no file" in first else CatalogError
            error = kind(first + more)
            setattr(error, "reported", True)  # noqa: B010 - printed above, one line per problem
            raise error

    # -- step 3 -----------------------------------------------------------------------------
    def _store_log(self, record: RunRecord, log_path: Path) -> FileEntry | None:
        if not log_path.exists() or self._run_folder_refused:
            return None
        name = _log_name(self.job.name, record.catalog_content)
        return store_single(self.storage, record.run_id, name, log_path, self.algorithm)


# From this many files failing for one reason on, they are told in one line with a count: a full disk
# fails every file after it, and 300 lines saying the same hide the summary. Fewer are each named.
_FAILURES_NAMED = 10


def _store_failures(failures: Sequence[tuple[str, str]]) -> list[str]:
    """The lines telling which files could not be stored: one per file, unless many failed for one
    reason: ``could not store 'a' and 311 more files: No space left on device``.

    >>> _store_failures([(f"f{i}", f"No space left on device: /c/t{i}") for i in range(12)])
    ["could not store 'f0' and 11 more files: No space left on device: /c/t0"]
    """
    by_reason: dict[str, list[tuple[str, str]]] = {}
    for rel, reason in failures:
        # The reason without the file it names (each file's temporary differs): "No space left on device".
        by_reason.setdefault(reason.split(": /", 1)[0], []).append((rel, reason))
    lines: list[str] = []
    for group in by_reason.values():
        if len(group) < _FAILURES_NAMED:
            lines.extend(f"could not store {rel!r}: {reason}" for rel, reason in group)
        else:
            rel, reason = group[0]
            lines.append(f"could not store {rel!r} and {len(group) - 1} more files: {reason}")
    return lines


def _log_name(job_name: str, cataloged: Sequence[str]) -> str:
    """The execution log's name in the run folder: the first of ``{name}.execution.log``,
    ``{name}.runnable-execution.log``, ``{name}.runnable-execution-2.log``, ... that no cataloged
    file uses, as its own path or as a folder above it (a cataloged ``x/y`` takes ``x``).

    Never hides a user's file, and never aims at a folder the user's files made.

    >>> _log_name("shell", ["shell.execution.log", "shell.runnable-execution.log/a.txt"])
    'shell.runnable-execution-2.log'
    """
    files = set(cataloged)

    def taken(name: str) -> bool:
        # Checked per name tried (usually one), not by listing every folder of every cataloged file:
        # that set took 6 ms for 10,000 files.
        folder = f"{name}/"
        return name in files or any(rel.startswith(folder) for rel in cataloged)

    name = f"{job_name}.execution.log"
    attempt = 1
    while taken(name):  # ends: each attempt is a new name, and only finitely many are taken
        name = f"{job_name}.runnable-execution.log" if attempt == 1 else f"{job_name}.runnable-execution-{attempt}.log"
        attempt += 1
    return name


def _reason(failure: BaseException) -> str:
    """Why a run failed, naming the error once: 'ValueError: bad row', but 'command exited with
    code 3' for a job that failed on its own terms (a JobFailedError says that much by its name)."""
    return str(failure) if isinstance(failure, JobFailedError) else f"{type(failure).__name__}: {failure}"


def _where_kept(record: RunRecord, run_log_location: str) -> str:
    log = record.execution_log.location if record.execution_log else "none stored"
    return f"log {log}, record {_record_path(record, run_log_location)}"


def _record_path(record: RunRecord, run_log_location: str) -> str:
    return f"{run_log_location.rstrip('/')}/{record.run_id}.json"


def failure_line(error: JobFailedError, exit_code: int) -> str:
    """The one line that ends a failed run's console output, when the process exits because of it."""
    return f"{type(error).__name__}: {error}; exiting with code {exit_code}"


def _report_uncaught_failures_in_one_line() -> None:
    """Make an uncaught ``JobFailedError`` end the script with one line, not a second traceback: the
    job's own traceback and the summary are already on the console (``python job.py``). Installed by
    the first failed run, not at import; any other exception goes to the hook that was there."""
    global _previous_hook
    if sys.excepthook is not _one_line_hook:
        _previous_hook = sys.excepthook
        sys.excepthook = _one_line_hook


_previous_hook = sys.__excepthook__


def _one_line_hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if isinstance(value, JobFailedError) and value.record is not None:
        line = failure_line(value, 1)  # Python exits 1 after an uncaught exception
        if sys.stderr.isatty():  # broken at spaces only: the record's path stays whole, to copy
            import shutil

            line = _progress.wrap_at_spaces(line, shutil.get_terminal_size().columns, indent=4)
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    else:
        _previous_hook(kind, value, tb)


def summary(record: RunRecord, run_log_location: str, hint: str | None = None) -> dict[str, Any]:
    """The JSON summary printed at the end of a run.

    It lists the first ``SUMMARY_FILES`` stored files and says how many more there are (a job that
    stored 450 files printed 463 lines); ``runnable runs show`` lists them all. ``hint`` says how to
    keep what the job returned but did not declare.
    """
    content = record.catalog_content
    out: dict[str, Any] = {SUMMARY_CONTENT_KEY: content[:SUMMARY_FILES]}
    if len(content) > SUMMARY_FILES:
        out[SUMMARY_MORE_KEY] = f"... and {len(content) - SUMMARY_FILES} more (runnable runs show {record.run_id})"
    out |= {
        "status": record.status,
        "run_id": record.run_id,
        "catalog": record.catalog.get("run_folder"),
        "run_record": _record_path(record, run_log_location),
        "execution_log": record.execution_log.location if record.execution_log else None,
        "duration_seconds": record.duration_seconds,
    }
    if record.inputs:  # only for jobs that declare inputs: other summaries keep their shape
        out["inputs"] = [i.path for i in record.inputs]
    if NOT_COLLECTED_KEY in record.catalog:
        out[NOT_COLLECTED_KEY] = record.catalog[NOT_COLLECTED_KEY]
    if record.error:
        message = record.error["message"]  # empty for a bare KeyboardInterrupt: no dangling ': '
        out["error"] = f"{record.error['type']}: {message}" if message else record.error["type"]
    if hint is not None:
        out[SUMMARY_HINT_KEY] = hint
    return out
