"""One attempt: a job's code run once under output capture, with its inputs read before and its
files stored after. The machinery a job's run and every step of a pipeline share.

``JobRunner`` (``runner.py``) wraps one attempt in a run: it reserves the run id, then writes the
record last. A pipeline (``runnable.pipeline.engine``) makes one attempt per step inside one run,
each into a step-sized ``RunRecord`` whose fields it then folds into the run's record. In the
attempt, in this order:

1. ``before`` (the run's own preparation, such as the storage making the run's folder);
2. the job's declared inputs are fetched (``get_from``, or the pipeline's own catalog) and hashed
   [a missing input fails the attempt before the code starts];
3. the code runs (``job.run``, or ``work`` given by the caller);
4. its returns are checked, its metrics merged, and its files and pickled returns stored
   [a job that failed before its code started stores none: files matching the patterns are not
   this run's].

Storing the execution log and writing the record are the caller's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable import params as _params
from runnable.backends.protocols import PreparedRuns, RunLogStore, Storage, file_clock_ns
from runnable.errors import CatalogError, InputError, JobFailedError, ParameterError, PatternError, RunnableError
from runnable.files import progress as _progress
from runnable.files.patterns import Selection, expand, matches
from runnable.files.put import put_files, store_single
from runnable.record import FileEntry, RunRecord, stale_message
from runnable.returns import object_path
from runnable.run import metrics as _metrics
from runnable.run.capture import FilterFactory, OutputCapture
from runnable.run.report import (
    NOT_COLLECTED,
    NOT_COLLECTED_KEY,
    Terminated,
    reason,
    sigterm_as_exception,
    user_traceback,
)

if TYPE_CHECKING:
    from runnable.catalog import Catalog
    from runnable.jobs import BaseJob, JobContext


# Inputs of a pipeline's step come from an earlier step; the caller fetches them (``fetch``) and
# names each one's source (``sources``: {path: source}).
Fetch = Callable[["Catalog"], dict[str, dict[str, Any]]]


@dataclass
class Outcome:
    """How an attempt ended: ``failure`` (None if it succeeded), ``interrupt`` (Ctrl-C or SIGTERM,
    also in ``failure``), and the context the code ran with."""

    context: JobContext
    failure: BaseException | None = None
    interrupt: BaseException | None = None


@dataclass
class Attempt:
    """Runs a job's code once with explicit services; see the module docstring.

    >>> # Attempt(storage, run_log_store, "md5", Path.cwd()).execute(job, record, context, log_path)
    """

    storage: Storage
    run_log_store: RunLogStore
    algorithm: str
    working_folder: Path
    secrets: dict[str, str] = field(default_factory=dict)
    make_filter: FilterFactory | None = None
    run_folder_refused: bool = False  # the storage refused the run's folder: store nothing
    _terminal: int | None = None  # stderr's terminal during a run, for the progress bar
    _job_started_ns: int | None = None  # file_clock_ns() as the job's code was about to run

    def execute(self, job: BaseJob, record: RunRecord, context: JobContext, log_path: Path,
                metrics_file: Path, before: Callable[[], None] | None = None,
                work: Callable[[JobContext], dict[str, Any]] | None = None,
                fetch: Fetch | None = None) -> Outcome:
        outcome = Outcome(context)
        saved = os.environ.get(_metrics.ENV_METRICS_FILE)
        # Every process of the job (a notebook's kernel, a shell job's programs) appends here.
        os.environ[_metrics.ENV_METRICS_FILE] = str(metrics_file)
        try:
            # The progress bar's terminal is taken before capture turns fd 2 into a pipe.
            with _progress.terminal() as self._terminal, sigterm_as_exception(), \
                    OutputCapture(log_path, self.make_filter) as capture:
                self._run_code(job, record, context, metrics_file, outcome, before, work, fetch)
                sys.stdout.flush()
                sys.stderr.flush()
        finally:
            if saved is None:
                os.environ.pop(_metrics.ENV_METRICS_FILE, None)
            else:
                os.environ[_metrics.ENV_METRICS_FILE] = saved
        if capture.log_error is not None:
            outcome.failure = outcome.failure or CatalogError(
                f"the execution log of run {record.run_id} could not be written completely "
                f"({capture.log_error.strerror or capture.log_error}); free space in {log_path.parent.parent}"
            )
        return outcome

    def _run_code(self, job: BaseJob, record: RunRecord, context: JobContext, metrics_file: Path,
                  outcome: Outcome, before: Callable[[], None] | None,
                  work: Callable[[JobContext], dict[str, Any]] | None, fetch: Fetch | None) -> None:
        failure: BaseException | None = None
        try:
            if before is not None:
                before()
            self._read_inputs(job.catalog, record, fetch)  # before the job: a missing input fails it unstarted
            # Files that last changed before this moment were not written by the run: their
            # entries are marked stale (put_files). The file system's clock, not time.time_ns().
            self._job_started_ns = file_clock_ns()
            returns = (work or job.run)(context)
            _params.check_nesting(returns, "return value")  # before anything walks it recursively
            returns, warnings = _params.finite_returns(returns)
            record.returns = returns
            for warning in warnings:  # JSON has no NaN: kept as null, said once per value
                sys.stderr.write(f"runnable: warning: {warning}\n")
        except BaseException as exc:  # noqa: BLE001 - recorded by the caller, re-raised by it
            failure = exc
            if isinstance(exc, (JobFailedError, ParameterError, InputError)) or self.run_folder_refused:
                # A failed command, a bad parameter or a refused run folder: runnable's own
                # stack would only distract. The reason, once, into the log too (unless it was
                # printed already: a pipeline's failed step).
                if not getattr(exc, "reported", False):
                    sys.stderr.write(f"runnable: error: {reason(exc)}\n")
            elif not isinstance(exc, (KeyboardInterrupt, Terminated)):
                sys.stderr.write(user_traceback(exc))
            else:
                outcome.interrupt = exc
                sys.stderr.write(f"runnable: run {record.run_id} interrupted ({type(exc).__name__})\n")
            sys.stderr.flush()
        record.parameters.update(context.resolved_parameters)  # as the job received them
        _metrics.flush()  # what this process logged; other processes of the job have ended
        record.metrics = dict(context.metrics)
        _metrics.merge(record.metrics, _metrics.read(metrics_file))
        catalog = job.catalog
        if self.run_folder_refused:
            pass  # nothing is stored into a folder that was refused, not even the log
        elif failure is not None and not context.started and catalog and catalog.put:
            record.catalog[NOT_COLLECTED_KEY] = NOT_COLLECTED
            sys.stderr.write(f"runnable: {NOT_COLLECTED}\n")
        else:  # a job that started and failed still keeps its outputs
            try:
                self._catalog_files(catalog, record, context)
            except (RunnableError, OSError) as exc:
                if not getattr(exc, "reported", False):  # else its lines are in the log already
                    sys.stderr.write(f"runnable: error: {exc}\n")
                failure = failure or exc
            except BaseException as exc:  # noqa: BLE001 - an interrupt while storing
                outcome.interrupt = outcome.interrupt or exc
                failure = failure or exc
        outcome.failure = failure

    def begin_run(self, run_id: str) -> None:
        """Let the storage prepare the run before the job starts: a local catalog makes the run's
        folder, new, and refuses one left from an earlier run of this id (it could hold links out of
        the catalog). Then nothing, not even the log, is stored, and the id is given back."""
        if isinstance(self.storage, PreparedRuns):
            try:
                self.storage.begin_run(run_id)
            except CatalogError:
                self.run_folder_refused = True
                raise

    # -- before the code: inputs ------------------------------------------------------------
    def own_folders(self) -> list[Path]:
        return [Path(self.storage.location).absolute(), Path(self.run_log_store.location).absolute()]

    def _read_inputs(self, catalog: Catalog | None, record: RunRecord, fetch: Fetch | None) -> None:
        """Fetch (``get_from``, or ``fetch`` for a pipeline's step) and hash the declared inputs
        (``runnable.run.inputs``)."""
        if catalog is None or not catalog.get:
            return
        from runnable.backends.protocols import local_folder
        from runnable.files.hashcache import HashCache
        from runnable.history.contentindex import ContentIndex
        from runnable.run.inputs import collect, resolve_run
        from runnable.run.inputs import fetch as fetch_run

        index = ContentIndex(self.run_log_store)
        fetched = None
        sources: dict[str, dict[str, Any]] = {}
        if catalog.get_from is not None:
            from runnable.history.runs import History  # only here: ~30 ms of imports a run otherwise

            fetched = resolve_run(catalog.get_from, History(self.storage, self.run_log_store))
            root = local_folder(self.run_log_store)
            protected = [("run-log store", self.run_log_store.location, root)] if root is not None else []
            fetch_run(fetched, self.storage, catalog.get, self.working_folder, protected)
        elif fetch is not None:
            sources = fetch(catalog)
        cache = HashCache.default()
        record.inputs = collect(catalog.get, self.working_folder, self.algorithm, index,
                                self.own_folders(), fetched, skip_runs=[record.run_id], cache=cache)
        cache.save()
        for entry in record.inputs:
            if entry.path in sources:
                entry.source = sources[entry.path]

    # -- after the code: files ----------------------------------------------------------------
    def _catalog_files(self, catalog: Catalog | None, record: RunRecord, context: JobContext) -> None:
        errors: list[str] = []
        if catalog is not None and catalog.put:
            selection = expand(catalog.put, self.working_folder, self.own_folders())
            for skip in selection.skipped:
                sys.stderr.write(f"runnable: warning: not storing {skip.rel!r}: {skip.reason}\n")
            record.skipped = [{"path": s.rel, "reason": s.reason} for s in selection.skipped]
            errors.extend(self._refuse_secret_names(selection, catalog.put))
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
                    if self.secrets:  # runnable wrote it (an executed notebook): no value in it
                        from runnable.backends.secrets import mask_file

                        mask_file(path, self.secrets.values())
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

    def _refuse_secret_names(self, selection: Selection, patterns: Sequence[str]) -> list[str]:
        """Take out of ``selection`` every file whose path holds a secret's value; one error each.

        A stored file's path is in the record, the catalog folder, the summary and ``runs show``:
        masked there it would name a file that does not exist, unmasked it would leak the value.
        So such a file is not stored and the run fails, naming the pattern and the secret's name.
        """
        values = [(name, value) for name, value in self.secrets.items() if len(value) >= MIN_SECRET_IN_NAME]
        if not values:
            return []
        errors: list[str] = []
        kept = []
        for match in selection.files:
            name = next((n for n, v in values if v in match.rel), None)
            if name is None:
                kept.append(match)
                continue
            pattern = next((p for p in patterns if matches(p, match.rel)), patterns[0])
            errors.append(f"not storing a file put pattern {pattern!r} selected: its name holds the value of "
                          f"secret {name!r}; name the files without secret values")
        selection.files = kept
        return errors

    def store_log(self, name: str, run_id: str, cataloged: Sequence[str], log_path: Path) -> FileEntry | None:
        """Store the execution log as the first free ``{name}.execution.log`` (see ``log_name``)."""
        if not log_path.exists() or self.run_folder_refused:
            return None
        return store_single(self.storage, run_id, log_name(name, cataloged), log_path, self.algorithm)


# From this many files failing for one reason on, they are told in one line with a count: a full disk
# fails every file after it, and 300 lines saying the same hide the summary. Fewer are each named.
_FAILURES_NAMED = 10


#: The shortest secret value looked for in file names. A shorter one turns up in names by chance
#: (a secret 'x', a '2024'): refusing those files would fail runs for nothing, and such a value's
#: masking elsewhere cannot hide it anyway.
MIN_SECRET_IN_NAME = 6


def _store_failures(failures: Sequence[tuple[str, str]]) -> list[str]:
    """The lines telling which files could not be stored: one per file, unless many failed for one
    reason: ``could not store 'a' and 311 more files: No space left on device``.

    >>> _store_failures([(f"f{i}", f"No space left on device: /c/t{i}") for i in range(12)])
    ["could not store 'f0' and 11 more files: No space left on device: /c/t0"]
    """
    by_reason: dict[str, list[tuple[str, str]]] = {}
    for rel, why in failures:
        # The reason without the file it names (each file's temporary differs): "No space left on device".
        by_reason.setdefault(why.split(": /", 1)[0], []).append((rel, why))
    lines: list[str] = []
    for group in by_reason.values():
        if len(group) < _FAILURES_NAMED:
            lines.extend(f"could not store {rel!r}: {why}" for rel, why in group)
        else:
            rel, why = group[0]
            lines.append(f"could not store {rel!r} and {len(group) - 1} more files: {why}")
    return lines


def log_name(job_name: str, cataloged: Sequence[str]) -> str:
    """The execution log's name in the run folder: the first of ``{name}.execution.log``,
    ``{name}.runnable-execution.log``, ``{name}.runnable-execution-2.log``, ... that no cataloged
    file uses, as its own path or as a folder above it (a cataloged ``x/y`` takes ``x``).

    Never hides a user's file, and never aims at a folder the user's files made.

    >>> log_name("shell", ["shell.execution.log", "shell.runnable-execution.log/a.txt"])
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
