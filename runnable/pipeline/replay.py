"""The steps of one run in separate processes at the same time (Argo's pods): each step writes its own
partial entry, and the record is assembled from them at the end.

``runnable execute-step RUN_ID FILE STEP --partial`` (what every pod of an Argo workflow runs) never
rewrites the run's record, so concurrent steps (Parallel branches, Map items) cannot overwrite each
other: each task's outcome (its entry, its step-sized record: files, objects, metrics, inputs) is
stored as its own run file ``.steps/{dotted path}.json`` in the run's catalog, written atomically by
the catalog (a temporary name, then a rename or a single PUT), and never by a sibling.

Every process walks the pipeline with the local engine's own traversal (``Traversal``), in which a
task is *replayed* from its partial entry instead of run, except the tasks this process owns: so
parameters, files a later ``get`` fetches, Map reducers, Conditional choices, ``on_failure`` paths
and ``terminate_with_*`` follow exactly the local rules, and the final record is built by the same
code as a local run's. The modes (``Mode``):

* ``run``: run the target (a step's dotted path, or ``COMPOSITE.KEY`` for one Parallel branch or
  Map item), replaying what came before; exit status 1 when it failed;
* ``plan``: the value a composite step fans out over: a Map's item keys as a JSON list (``withParam``),
  a Conditional's branch name (``when``); written to a file Argo reads as an output parameter;
* ``collect``: the fan-in of a composite step: its branches replayed, the reducer run, exit status 1
  when the composite failed (so that Argo's ``depends`` on ``.Failed`` takes the on_failure path);
* ``finish``: the exit handler: the whole pipeline replayed and the final record written, last.
  A step whose partial entry is missing then (its pod never started, or was killed) is a failed step.

The first process to arrive creates the RUNNING record (exclusively, as a local run reserves its id);
only ``finish`` writes it again.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable.backends.protocols import RunLogStore, Storage
from runnable.errors import JobFailedError, RunNotFoundError, UsageError
from runnable.jobs import JobContext
from runnable.pipeline import graph
from runnable.pipeline.branches import Died
from runnable.pipeline.dsl import BaseStep, BaseTask, Conditional, Map, NotebookTask, Pipeline, PythonTask
from runnable.pipeline.engine import PipelineRunner, Traversal
from runnable.pipeline.state import Branch, Produced, parameter_value
from runnable.pipeline.steps import StepOutcome, finish, new_entry
from runnable.record import FAIL, RUNNING, SUCCESS, RunRecord
from runnable.run import environment as _environment
from runnable.run.runner import RunOptions, now

if TYPE_CHECKING:
    from runnable.catalog import Catalog
    from runnable.config.loading import Configuration

PARTIALS = ".steps"
FORMAT = 1
MISSING = "its process did not report an outcome: it never started, or it was stopped"


class Mode(StrEnum):
    RUN = "run"
    PLAN = "plan"
    COLLECT = "collect"
    FINISH = "finish"


class ReportedFailure(JobFailedError):
    """A step's failure as its own process reported it (the text of the reason only)."""


class _Done(Exception):  # noqa: N818 - control flow: the target was reached
    def __init__(self, ok: bool, value: Any = None) -> None:
        super().__init__("done")
        self.ok, self.value = ok, value


def partial_name(path: str) -> str:
    """The run file that holds the partial entry of the task at ``path``.

    >>> partial_name("squares.2.square")
    '.steps/squares.2.square.json'
    """
    return f"{PARTIALS}/{path}.json"


def read_partial(storage: Storage, run_id: str, path: str) -> dict[str, Any] | None:
    try:
        with storage.open_run_file(run_id, partial_name(path)) as handle:
            data: dict[str, Any] = json.loads(handle.read())
    except FileNotFoundError:
        return None
    return data


class ReplayRunner(PipelineRunner):
    """A pipeline runner whose record is written only by ``finish`` (no checkpoints from a step)."""

    def checkpoint(self, record: RunRecord) -> None:
        return None


class Replay(Traversal):
    """The local traversal, with every task not owned by this process replayed from its partial entry."""

    def __init__(self, runner: ReplayRunner, record: RunRecord, context: JobContext, target: str | None,
                 mode: Mode) -> None:
        super().__init__(runner, record, context)
        self.forkable = False  # branches this process runs (nested in its target) run one by one
        self.target, self.mode = target, mode
        self.ran: list[bool] = []

    def _owned(self, path: str) -> bool:
        return self.mode is Mode.RUN and self.target is not None and (
            path == self.target or path.startswith(self.target + "."))

    def step(self, step: BaseStep, path: str, prefix: str, parameters: dict[str, Any],
             produced: Produced) -> tuple[dict[str, Any], dict[str, Any], bool, str]:
        if path == self.target and self.mode is Mode.PLAN:
            raise _Done(True, plan_value(step, path, parameters))
        result = super().step(step, path, prefix, parameters, produced)
        if path == self.target:
            raise _Done(result[2], result[3])
        return result

    def run_task(self, task: BaseTask, path: str, prefix: str, parameters: dict[str, Any],
                 fetch: Callable[[Catalog], dict[str, dict[str, Any]]], cataloged: list[str]) -> StepOutcome:
        if self._owned(path):
            outcome = super().run_task(task, path, prefix, parameters, fetch, cataloged)
            self._save(path, outcome)
            self.ran.append(outcome.failure is None)
            return outcome
        partial = read_partial(self.runner.storage, self.record.run_id, path)
        if partial is None:
            if self.mode in (Mode.COLLECT, Mode.FINISH):
                return _missing(task, path)
            if self.ran:  # past this process's target: the rest is other processes' work
                raise _Done(all(self.ran))
            raise UsageError(f"step {path!r} of run {self.record.run_id} has not run yet, and step "
                             f"{self.target!r} needs its outcome; run the steps in the pipeline's order")
        return self._replayed(task, prefix, partial)

    def run_branches(self, path: str, keys: list[str], inputs: list[dict[str, Any]],
                     work: list[Callable[[], Branch]], known: dict[str, Any]) -> list[Branch | Died]:
        if self.mode is Mode.RUN and self.target is not None and self.target.startswith(path + "."):
            key = self.target[len(path) + 1:]
            if key in keys:  # this process is one branch (one Map item) of the composite
                result = work[keys.index(key)]()
                raise _Done(result.status == SUCCESS, result.failed)
        return [branch() for branch in work]

    # -- partial entries ----------------------------------------------------------------------
    def _save(self, path: str, outcome: StepOutcome) -> None:
        from runnable.run.report import reason

        record = RunRecord.from_dict(outcome.record.to_dict())
        shell = RunRecord(run_id=record.run_id, status=RUNNING, job={}, start="", steps=[dict(outcome.entry)])
        self.runner._mask(record)
        self.runner._mask(shell)
        data = {"format": FORMAT, "path": path, "entry": shell.steps[0], "record": record.to_dict(),
                "why": reason(outcome.failure) if outcome.failure is not None else None}
        file = Path(tempfile.mkdtemp(prefix="partial-", dir=self.scratch)) / "entry.json"
        file.write_text(json.dumps(data), encoding="utf-8")
        self.runner.storage.store(self.record.run_id, partial_name(path), file, self.runner.algorithm)

    def _replayed(self, task: BaseTask, prefix: str, partial: dict[str, Any]) -> StepOutcome:
        record = RunRecord.from_dict(partial["record"])
        entry: dict[str, Any] = partial["entry"]
        if partial.get("why") is not None:
            return StepOutcome(entry, record, failure=ReportedFailure(str(partial["why"])))
        return StepOutcome(entry, record, values=self._values(task, record, prefix))

    def _values(self, task: BaseTask, record: RunRecord, prefix: str) -> dict[str, Any]:
        """The step's returns as later steps receive them (``steps._values``), pickled objects read
        back from the catalog by hash."""
        values: dict[str, Any] = dict(record.returns)
        for name, history in record.metrics.items():
            if any(r.name == name and r.kind == "metric" for r in task.returns):
                numbers = [point[1] for point in history]
                values[name] = numbers[0] if len(numbers) == 1 else numbers
        for qualified, file in record.objects.items():
            algorithm, digest = next(iter(file.hash.items()))
            with self.runner.storage.open_object(algorithm, digest) as handle:
                values[qualified[len(prefix):]] = pickle.loads(handle.read())  # noqa: S301 - this run's own object
        if isinstance(task, (PythonTask, NotebookTask)):
            return {r.name: values[r.name] for r in task.returns if r.name in values}
        return values


def _missing(task: BaseTask, path: str) -> StepOutcome:
    entry = new_entry(path, task.kind)
    failure = ReportedFailure(f"step {path!r}: {MISSING}")
    finish(entry, {"type": "StepMissing", "message": str(failure)}, time.perf_counter())
    return StepOutcome(entry, RunRecord(run_id="-", status=FAIL, job={}, start=entry["start"]), failure=failure)


def plan_value(step: BaseStep, path: str, parameters: dict[str, Any]) -> Any:
    """What a composite fans out over: a Map's item keys (``["0", "1", ...]``), a Conditional's branch."""
    if isinstance(step, Map):
        items = parameter_value(parameters, step.iterate_on)
        # Not a list: no item runs, and the fan-in fails with the local engine's own reason.
        return [str(i) for i in range(len(items))] if isinstance(items, (list, tuple)) else []
    if isinstance(step, Conditional):
        value = parameter_value(parameters, step.parameter)
        return str(value).lower() if isinstance(value, bool) else str(value)
    raise UsageError(f"step {path!r} is a {step.kind} step: only Map and Conditional steps have a plan")


# -- the processes ----------------------------------------------------------------------------
def _open(pipeline: Pipeline, run_id: str, configuration: Configuration,
          secrets: dict[str, str]) -> tuple[ReplayRunner, RunRecord]:
    """The runner for this process, and the run's record (made, RUNNING, by the first to arrive)."""
    from runnable import params as _params
    from runnable.pipeline.retry import check_same_structure, original_run

    storage: Storage = configuration.storage_service().build()
    store: RunLogStore = configuration["run-log-store"].build()
    settings = _environment.job_settings()
    retry_of_id = _environment.text(_environment.ENV_RETRY_RUN_ID)
    original = original_run(retry_of_id, store) if retry_of_id else None
    options = RunOptions(run_id=run_id, secrets=secrets, print_summary=False,
                         parameters_file=settings.parameters_file,
                         configuration_file=str(configuration.path) if configuration.path else None)
    make_filter = None
    if secrets:
        from runnable.backends import secrets as _secrets

        values = list(secrets.values())
        make_filter = lambda: _secrets.Masker(values)  # noqa: E731
    runner = ReplayRunner(pipeline, storage, store, algorithm=configuration.hash_algorithm, options=options,
                          catalog_type=configuration["catalog"].type, make_filter=make_filter, retry_of=original)
    try:
        record = store.get(run_id)
    except RunNotFoundError:
        runner.options.parameters = _params.collect(settings.parameters_file)
        graph.check(pipeline, set(runner.options.parameters))
        if original is not None:
            check_same_structure(original, pipeline)
        record = runner._new_record()
        record.run_id = run_id
        runner._mask(record)
        if store.create(record):
            runner.attempt.begin_run(run_id)
            record.catalog["run_folder"] = storage.run_location(run_id)
            store.put(record)
        else:  # another step made it first
            record = store.get(run_id)
    runner.options.parameters = dict(record.parameters)
    return runner, record


def _context(runner: ReplayRunner, record: RunRecord, scratch: Path) -> JobContext:
    return JobContext(parameters=dict(record.parameters), environment=dict(runner.options.secrets),
                      working_folder=runner.working_folder, scratch=scratch)


def run_step(pipeline: Pipeline, run_id: str, target: str, configuration: Configuration, mode: Mode,
             secrets: dict[str, str], plan_file: str | None = None, outcome_file: str | None = None) -> bool:
    """Run (``run``), plan (``plan``) or collect (``collect``) the step ``target`` of run ``run_id``
    (module docstring); True when it succeeded. A plan is written to ``plan_file`` as JSON; with
    ``outcome_file``, ``Succeeded`` or ``Failed`` is written there and True returned either way."""
    runner, record = _open(pipeline, run_id, configuration, secrets)
    graph.check(pipeline, set(record.parameters))
    shell = RunRecord(run_id=run_id, status=RUNNING, job={}, start=record.start, parameters=dict(record.parameters))
    scratch = Path(tempfile.mkdtemp(prefix="runnable-step-"))
    saved = _environment.saved(secrets)
    os.environ.update(secrets)
    try:
        traversal = Replay(runner, shell, _context(runner, record, scratch), target, mode)
        try:
            traversal.steps(pipeline, "", dict(record.parameters), [])
            done = _Done(all(traversal.ran), None)  # the target was not reached: its branch was not taken
            if mode is not Mode.RUN or not traversal.ran:
                sys.stderr.write(f"runnable: note: step {target!r} is not reached in run {run_id} (a branch not "
                                 "taken, or after the step that ended the pipeline); nothing to do\n")
        except _Done as reached:
            done = reached
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _environment.restore(saved)
    if mode is Mode.PLAN and plan_file is not None:
        # A Map's item keys as JSON (withParam reads a JSON list); a Conditional's branch as text (when).
        plan: Any = done.value if done.value is not None else []
        _write_atomically(Path(plan_file), plan if isinstance(plan, str) else json.dumps(plan))
    elif mode is not Mode.RUN and not done.ok and done.value:
        sys.stderr.write(f"runnable: step {target!r} failed: {done.value}\n")
    if outcome_file is not None:  # a step with an on_failure path: Argo's when reads this
        _write_atomically(Path(outcome_file), "Succeeded" if done.ok else "Failed")
        return True
    return done.ok


def finish_run(pipeline: Pipeline, run_id: str, configuration: Configuration) -> RunRecord:
    """Assemble the run's record from every step's partial entry and write it: the record, last."""
    from runnable.pipeline.engine import PipelineFailed
    from runnable.run import scratch as _scratch
    from runnable.run.report import user_traceback

    runner, record = _open(pipeline, run_id, configuration, {})
    if record.status != RUNNING:  # the exit handler ran before (a retried pod): the record stands
        return record
    scratch = _scratch.make()
    log_path = scratch / _scratch.LOG_NAME
    context = _context(runner, record, scratch)
    outcome = runner.attempt.execute(runner.job, record, context, log_path, scratch / "metrics.jsonl",
                                     work=lambda ctx: Replay(runner, record, ctx, None, Mode.FINISH).run())
    failure = outcome.failure
    record.execution_log = runner.attempt.store_log(runner.job.name, run_id, record.catalog_content, log_path)
    shutil.rmtree(scratch, ignore_errors=True)
    record.end = now()
    record.duration_seconds = round((datetime.fromisoformat(record.end) - datetime.fromisoformat(record.start))
                                    .total_seconds(), 6)
    record.status = FAIL if failure is not None else SUCCESS
    if failure is not None:
        record.error = {"type": type(failure).__name__, "message": str(failure),
                        "traceback": "" if isinstance(failure, PipelineFailed) else user_traceback(failure)}
    runner._mask(record)
    runner._write_final(record, failure)
    runner._index_content(record)
    return record


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)


__all__ = ["Mode", "finish_run", "partial_name", "plan_value", "read_partial", "run_step"]
