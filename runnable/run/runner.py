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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable import params as _params
from runnable.backends.protocols import CheckedLocation, RunLogStore, Storage
from runnable.errors import CatalogError, JobFailedError, RunIdError, RunnableError
from runnable.record import FAIL, RUNNING, SUCCESS, RunRecord, check_run_id
from runnable.run import environment as _environment
from runnable.run import metrics as _metrics
from runnable.run import runid
from runnable.run import scratch as _scratch
from runnable.run.attempt import Attempt, log_name
from runnable.run.capture import FilterFactory
from runnable.run.codeinfo import git_identity
from runnable.run.folderclaim import FolderClaim
from runnable.run.liveness import host_name
from runnable.run.report import (
    exit_code,
    failure_line,
    reason,
    report_uncaught_failures_in_one_line,
    signals_held,
    summary,
    user_traceback,
    where_kept,
)
from runnable.version import __version__

if TYPE_CHECKING:
    from runnable.jobs import BaseJob, JobContext

def _concurrent(runs: set[str] | list[str]) -> str:
    names = sorted(runs)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"run {shown}" if len(names) == 1 else f"runs {shown}"


# The name the execution log was known by here before ``attempt.py`` took it.
_log_name = log_name


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
        self.attempt = Attempt(storage, run_log_store, algorithm, self.working_folder,
                               secrets=self.options.secrets, make_filter=make_filter)


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
        claim = FolderClaim(self.working_folder, record.run_id)
        if claim.seen:
            sys.stderr.write(f"runnable: warning: {_concurrent(claim.seen)} already running in this working folder: a "
                             "file both write may be stored with the other's bytes; run them in separate folders\n")
        started = time.perf_counter()
        log_path = scratch / _scratch.LOG_NAME
        failure: BaseException | None = None
        interrupt: BaseException | None = None
        self.attempt.secrets = self.options.secrets  # resolved by the executor after construction
        saved_env = _environment.saved([*self.options.secrets, _metrics.ENV_SECRET_NAMES])
        context = JobContext(
            parameters=dict(self.options.parameters),
            environment=dict(self.options.secrets),
            working_folder=self.working_folder,
            scratch=scratch,
        )
        try:
            os.environ.update(self.options.secrets)
            os.environ[_metrics.ENV_SECRET_NAMES] = ",".join(self.options.secrets)
            outcome = self.attempt.execute(self.job, record, context, log_path, scratch / _metrics.METRICS_NAME,
                                           before=lambda: self.attempt.begin_run(record.run_id),
                                           work=self._work(record))
            failure, interrupt = outcome.failure, outcome.interrupt
        finally:
            with signals_held():  # a Ctrl-C or SIGTERM now waits until the record is written
                _environment.restore(saved_env)
                try:
                    record.execution_log = self.attempt.store_log(self.job.name, record.run_id,
                                                                  record.catalog_content, log_path)
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
                    if (code := exit_code(failure)) is not None:  # a failed command's code
                        record.error["exit_code"] = code
                self._mask(record)  # secret values never reach the record or the summary
                if self.attempt.run_folder_refused:
                    # No run happened, as for a catalog location that is a file: the id is given
                    # back, so that once the old folder is removed the same id can be run again.
                    with contextlib.suppress(OSError, RunnableError):
                        self.run_log_store.delete(record.run_id)
                else:
                    others = claim.others()
                    if others:  # said in the record: its files may hold the other runs' bytes
                        record.environment["concurrent_runs"] = others
                    if set(others) - claim.seen:  # started after this one: not warned about yet
                        sys.stderr.write(f"runnable: warning: {_concurrent(set(others) - claim.seen)} started in this "
                                         f"working folder while run {record.run_id} was running: a file both wrote "
                                         "may be recorded with the other's bytes (the record lists them in "
                                         "environment.concurrent_runs)\n")
                    failure = self._write_final(record, failure)  # last: the record commits the run
                    self._index_content(record)
                claim.release()
        if self.attempt.run_folder_refused and failure is not None and interrupt is None:
            raise failure.with_traceback(None)
        if self.options.print_summary:
            hint = context.returns_hint if failure is None else None
            sys.stdout.write(json.dumps(self._summary(record, hint), indent=4) + "\n")
            sys.stdout.flush()
        if interrupt is not None:
            raise interrupt
        if failure is not None:
            # Not chained: the job's traceback was printed once already (console and log), and a
            # chained exception would print it a second time. ``error`` keeps the exception itself.
            code = exit_code(failure)
            where = where_kept(record, self.run_log_store.location)
            report_uncaught_failures_in_one_line()
            if self.options.secrets:  # the exception's text could hold a secret's value
                error = record.error or {}
                why = error.get("message") if error.get("type") == JobFailedError.__name__ else \
                    f"{error.get('type')}: {error.get('message')}"
                raise JobFailedError(f"run {record.run_id} failed: {why}; {where}", record, code) from None
            from runnable.run.report import _user_frames

            raise JobFailedError(
                f"run {record.run_id} failed: {reason(failure)}; {where}", record, code,
                error=failure.with_traceback(_user_frames(failure)),
            ) from None
        return record

    def _work(self, record: RunRecord) -> Callable[[JobContext], dict[str, Any]] | None:
        """What runs inside the attempt instead of ``job.run`` (None: the job itself); a pipeline's
        runner runs its steps here."""
        return None

    def _summary(self, record: RunRecord, hint: str | None) -> dict[str, Any]:
        return summary(record, self.run_log_store.location, hint)


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


# ``summary`` and ``failure_line`` moved to ``report.py``; the executors and the CLI import them from here.
__all__ = ["JobRunner", "RunOptions", "failure_line", "now", "platform_name", "summary"]
