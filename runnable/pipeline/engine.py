"""Run a pipeline as one run: ``PipelineRunner`` is a ``JobRunner`` whose work is the traversal.

The run is reserved, captured, and its record written last exactly as a job's (``runner.py``); inside,
``Traversal`` runs the steps in order, each task as one attempt (``steps.py``), composite steps by
their rule (module docstring of ``runnable.pipeline``). After each top-level step the record is
rewritten RUNNING with the steps so far: their files are stored before, so a killed run's record
lists only steps whose files exist, and ``retry`` starts after the last step that succeeded.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable.backends.protocols import local_folder
from runnable.errors import JobFailedError, RunnableError
from runnable.files.globs import has_glob, normalize
from runnable.jobs import JobContext
from runnable.pipeline import graph
from runnable.pipeline.branches import MAX_WORKERS_DEFAULT, Died, run_concurrently
from runnable.pipeline.dsl import BaseStep, BaseTask, Conditional, Loop, Map, Parallel, Pipeline, Stub
from runnable.pipeline.job import PipelineJob
from runnable.pipeline.shared import settle
from runnable.pipeline.state import Branch, Produced, jsonable, keep, parameter_value
from runnable.pipeline.steps import StepOutcome, fetch_inputs, finish, new_entry, run_task
from runnable.record import FAIL, SUCCESS, RunRecord
from runnable.run import metrics as _metrics
from runnable.run.runner import JobRunner

if TYPE_CHECKING:
    from runnable.catalog import Catalog

class PipelineFailed(JobFailedError):
    """A step failed and no ``on_failure`` took over (or one ended with terminate_with_failure)."""

    # The failed step printed its own error (its traceback or its reason) already, and the run's
    # final line names the step: the run's attempt does not print it a third time.
    reported = True


class PipelineRunner(JobRunner):
    """``JobRunner`` for a pipeline: ``PipelineRunner(pipeline, storage, store, ...).run()``."""

    def __init__(self, pipeline: Pipeline, *args: Any, retry_of: RunRecord | None = None,
                 max_workers: int = MAX_WORKERS_DEFAULT, **kwargs: Any) -> None:
        super().__init__(PipelineJob(pipeline, retry_of.run_id if retry_of else None), *args, **kwargs)
        self.pipeline = pipeline
        self.retry_of = retry_of
        self.max_workers = max_workers

    def run(self) -> RunRecord:
        # Every definition error, before the run is reserved: nothing runs, nothing is recorded.
        graph.check(self.pipeline, set(self.options.parameters), self.working_folder)
        if self.retry_of is not None:
            from runnable.pipeline.retry import check_same_structure

            check_same_structure(self.retry_of, self.pipeline)
        return super().run()

    def _work(self, record: RunRecord) -> Callable[[JobContext], dict[str, Any]] | None:
        return lambda context: Traversal(self, record, context).run()

    def checkpoint(self, record: RunRecord) -> None:
        """Rewrite the RUNNING record with the steps so far (their files are stored already).

        A copy is masked: masking rebuilds the record's fields, and the traversal keeps appending
        to the lists it holds."""
        copy = RunRecord.from_dict(record.to_dict())
        self._mask(copy)
        try:
            self.run_log_store.put(copy)
        except (OSError, RunnableError) as exc:  # the final record is what counts; say it, go on
            sys.stderr.write(f"runnable: warning: the record of run {record.run_id} could not be updated "
                             f"after a step ({exc})\n")


class Traversal:
    """Runs the steps of one pipeline run (see the module docstring)."""

    def __init__(self, runner: PipelineRunner, record: RunRecord, context: JobContext) -> None:
        self.runner = runner
        self.attempt = runner.attempt
        self.record = record
        self.scratch = context.scratch
        self.context = context
        self.parameters = dict(context.parameters)
        self.produced = Produced()
        self.in_child = False
        # Branches are forked only with local folders: the S3 client's runtime (obstore's threads)
        # does not survive a fork, and a child's first request would wait for ever. With S3 the
        # branches run one after another in this process.
        self.forkable = local_folder(runner.storage) is not None and local_folder(runner.run_log_store) is not None
        self.reused: dict[str, dict[str, Any]] = {}
        if runner.retry_of is not None:
            from runnable.pipeline.retry import succeeded_steps

            self.reused = succeeded_steps(runner.retry_of)

    def run(self) -> dict[str, Any]:
        self.record.steps = []
        result = self.steps(self.runner.pipeline, "", dict(self.parameters), self.record.steps)
        self.fold(result.produced)
        # The attempt records the context's metrics as the run's: every step's, merged.
        self.context.metrics = dict(self.record.metrics)
        if result.status != SUCCESS:
            raise PipelineFailed(result.failed or "the pipeline ended with terminate_with_failure")
        return result.recorded

    def fold(self, produced: Produced) -> None:
        """Put what the steps so far produced (``produced`` holds all of it) into the run's record;
        the files of a later step win on a path."""
        files = {f.path: f for f in self.record.files}
        for entry in produced.files.values():
            keep(files, entry)
        self.record.files = list(files.values())
        self.record.objects.update(produced.objects)
        self.record.metrics = {name: list(history) for name, history in produced.metrics.items()}
        known = {(i.path, i.digest) for i in self.record.inputs}
        self.record.inputs += [i for i in produced.inputs if (i.path, i.digest) not in known]

    # -- a sequence of steps ------------------------------------------------------------------
    def steps(self, pipeline: Pipeline, prefix: str, parameters: dict[str, Any],
              entries: list[dict[str, Any]]) -> Branch:
        branch = Branch(entries=entries)
        for step in pipeline.steps:
            path = prefix + step.name
            if path in self.reused:
                self._reuse(step, path, parameters, branch)
                continue
            entry, values, ok, why = self.step(step, path, prefix, parameters, branch.produced)
            entries.append(entry)
            if not prefix and not self.in_child:
                self.fold(branch.produced)
                self.runner.checkpoint(self.record)
            if ok:
                parameters.update(values)
                branch.returned.update(values)
                branch.recorded.update(entry.get("returns") or {})
                if step.terminate_with_failure:
                    branch.status, branch.failed = FAIL, f"step {path!r} ended the pipeline with terminate_with_failure"
                    return branch
                if step.terminate_with_success:
                    branch.terminated = True
                    return branch
                continue
            if step.on_failure is not None:
                entry["on_failure"] = []
                recovery = self.steps(step.on_failure, f"{path}.on_failure.", parameters, entry["on_failure"])
                branch.produced.add(recovery.produced)
                branch.returned.update(recovery.returned)
                branch.recorded.update(recovery.recorded)
                branch.status, branch.failed = recovery.status, recovery.failed
                return branch
            # A composite step's reason already names the inner step that failed.
            inner = not isinstance(step, (BaseTask, Stub)) and why.startswith("step '")
            branch.status, branch.failed = FAIL, why if inner else f"step {path!r} failed: {why}"
            return branch
        return branch

    def step(self, step: BaseStep, path: str, prefix: str, parameters: dict[str, Any],
             produced: Produced) -> tuple[dict[str, Any], dict[str, Any], bool, str]:
        """Run one step; (entry, values it returned, succeeded, why it failed)."""
        if isinstance(step, BaseTask):
            return self._task(step, path, prefix, parameters, produced)
        started = time.perf_counter()
        entry = new_entry(path, step.kind)
        values: dict[str, Any] = {}
        why = ""
        try:
            if isinstance(step, Stub):
                pass
            elif isinstance(step, (Parallel, Map)):
                values, why = self._concurrent(step, path, parameters, produced, entry)
            elif isinstance(step, Conditional):
                values, why = self._conditional(step, path, parameters, produced, entry)
            elif isinstance(step, Loop):
                values, why = self._loop(step, path, parameters, produced, entry)
        except RunnableError as exc:  # a bad value met at run time (a Map over a non-list, a reducer)
            why = str(exc)
        error = {"type": "StepFailed", "message": why} if why else None
        finish(entry, error, started)
        if values:
            entry["returns"] = jsonable(values)
            if not prefix and not self.in_child:
                from runnable.pipeline.retry import keep_composite_returns

                keep_composite_returns(self.runner, self.record.run_id, Path(self.scratch), path, values, entry)
        return entry, values, not why, why

    def _task(self, task: BaseTask, path: str, prefix: str, parameters: dict[str, Any],
              produced: Produced) -> tuple[dict[str, Any], dict[str, Any], bool, str]:
        known = self.produced.by_path | produced.by_path

        def fetch(catalog: Catalog) -> dict[str, dict[str, Any]]:
            shell = RunRecord(run_id=self.record.run_id, status=SUCCESS, job={}, start="")
            return fetch_inputs(shell, known, self.attempt, catalog)

        cataloged = [*(f.path for f in self.record.files), *produced.files]
        outcome = self.run_task(task, path, prefix, parameters, fetch, cataloged)
        if outcome.interrupt is not None:
            raise outcome.interrupt
        record = outcome.record
        if task.catalog is not None:
            named = {normalize(p) for p in task.catalog.put if not has_glob(p)}
            produced.named |= {f.path for f in record.files if f.path in named}
        for entry in record.files:
            keep(produced.files, entry)
            produced.by_path.setdefault(entry.path, (path, entry))
            if not entry.stale:  # the step that wrote it, not one whose glob only found it
                produced.by_path[entry.path] = (path, entry)
        if record.execution_log is not None:
            produced.files[record.execution_log.path] = record.execution_log
        produced.objects.update(record.objects)
        _metrics.merge(produced.metrics, record.metrics)
        produced.inputs += [i for i in record.inputs if not i.source or i.source.get("run_id") != self.record.run_id]
        why = ""
        if outcome.failure is not None:
            from runnable.run.report import reason

            why = reason(outcome.failure)
        return outcome.entry, outcome.values, outcome.failure is None, why

    # -- composite steps ------------------------------------------------------------------------
    def _concurrent(self, step: Parallel | Map, path: str, parameters: dict[str, Any], produced: Produced,
                    entry: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if isinstance(step, Parallel):
            keys = list(step.branches)
            pipelines = [step.branches[k] for k in keys]
            inputs = [dict(parameters) for _ in keys]
        else:
            items = parameter_value(parameters, step.iterate_on)
            if not isinstance(items, (list, tuple)):
                return {}, (f"iterate_on={step.iterate_on!r} must be a list, not the {type(items).__name__} "
                            f"{items!r}")
            keys = [str(i) for i in range(len(items))]
            pipelines = [step.branch] * len(items)
            inputs = [{**parameters, step.iterate_as: item} for item in items]
        entry["branches"] = {}
        known = self.produced.by_path | produced.by_path

        def branch_work(key: str, pipeline: Pipeline, given: dict[str, Any]) -> Callable[[], Branch]:
            def work() -> Branch:
                saved = self.in_child, self.produced  # put back when the branch ran in this process
                self.in_child = True
                self.produced = Produced(by_path=dict(known))
                try:
                    result = self.steps(pipeline, f"{path}.{key}.", given, [])
                finally:
                    self.in_child, self.produced = saved
                # What the branch stored itself, including a new version of a path known before
                # (a branch that got it, changed it and put it again): a later get brings that one.
                result.produced.by_path = {p: v for p, v in result.produced.by_path.items() if known.get(p) != v}
                return result
            return work

        work = [branch_work(k, p, g) for k, p, g in zip(keys, pipelines, inputs, strict=True)]
        results = self.run_branches(path, keys, inputs, work, known)
        failures: list[str] = []
        returned: dict[str, list[Any]] = {}
        if isinstance(step, Map) and not keys:
            # No item, no iteration: each return of the branch is still a list, the empty one (or
            # what the reducer makes of none), so that a later step gets it rather than no value.
            returned = {name: [] for name in sorted(graph.returned_names(step.branch) - {step.iterate_as})}
        merged: dict[str, Any] = {}
        ended = [(key, result) for key, result in zip(keys, results, strict=True) if not isinstance(result, Died)]
        failures += settle(self.runner, self.record.run_id, self.attempt.working_folder, path, ended)
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, Died):
                entry["branches"][key] = []
                failures.append(f"branch {key!r} failed: {result.why}")
                continue
            entry["branches"][key] = result.entries
            produced.add(result.produced)
            if result.status != SUCCESS:
                failures.append(result.failed or f"branch {key!r} failed")
            for name, value in result.returned.items():
                returned.setdefault(name, []).append(value)
                merged[name] = value
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            return {}, failures[0] + more
        if isinstance(step, Parallel):
            return merged, ""
        reducer = graph.reducer(step, path)
        if reducer is None:
            return returned, ""
        values = {}
        for name, collected in returned.items():
            try:
                values[name] = reducer(*collected)
            except Exception as exc:  # noqa: BLE001 - the user's reducer: its failure fails the step
                return {}, f"the reducer failed on {name!r}: {type(exc).__name__}: {exc}"
        return values, ""

    def run_task(self, task: BaseTask, path: str, prefix: str, parameters: dict[str, Any],
                 fetch: Callable[[Catalog], dict[str, dict[str, Any]]], cataloged: list[str]) -> StepOutcome:
        """Run one task as an attempt (a subclass may take its outcome from elsewhere: Argo's pods)."""
        return run_task(self.attempt, task, path, self.record.run_id, parameters, prefix, fetch, cataloged,
                        self.scratch)

    def run_branches(self, path: str, keys: list[str], inputs: list[dict[str, Any]],
                     work: list[Callable[[], Branch]], known: dict[str, Any]) -> list[Branch | Died]:
        """Run the branches of the Parallel or Map step ``path``: forked, spawned, or one by one."""
        script = _script()
        results: list[Branch | Died]
        if self.forkable:
            results = run_concurrently(work, self.runner.max_workers, self.scratch)
        elif script is not None and self.runner.options.configuration_file and len(work) > 1:
            from runnable.pipeline.spawned import run_spawned

            specs = [{"script": script, "config": self.runner.options.configuration_file, "run_id": self.record.run_id,
                      "composite": path, "key": key, "prefix": f"{path}.{key}.", "parameters": given,
                      "known": dict(known), "secret_names": sorted(self.runner.options.secrets),
                      "working_folder": str(self.attempt.working_folder)}
                     for key, given in zip(keys, inputs, strict=True)]
            results = run_spawned(specs, self.runner.max_workers, self.scratch)
        else:
            if len(work) > 1:
                sys.stderr.write(f"runnable: note: the {len(work)} branches of step {path!r} run one after another: "
                                 "with an S3 catalog or run-log store they cannot run as forked processes, "
                                 "and this pipeline has no script file to start them from\n")
            results = [branch() for branch in work]
        return results

    def _conditional(self, step: Conditional, path: str, parameters: dict[str, Any], produced: Produced,
                     entry: dict[str, Any]) -> tuple[dict[str, Any], str]:
        value = parameter_value(parameters, step.parameter)
        key = str(value).lower() if isinstance(value, bool) else str(value)
        if key not in step.branches:
            return {}, (f"parameter {step.parameter!r} is {value!r}, which names no branch; the branches are "
                        f"{', '.join(map(repr, step.branches))}")
        entry["branches"] = {key: []}
        result = self.steps(step.branches[key], f"{path}.{key}.", dict(parameters), entry["branches"][key])
        produced.add(result.produced)
        entry["taken"] = key
        return (result.returned, "") if result.status == SUCCESS else ({}, result.failed or "")

    def _loop(self, step: Loop, path: str, parameters: dict[str, Any], produced: Produced,
              entry: dict[str, Any]) -> tuple[dict[str, Any], str]:
        entry["branches"] = {}
        returned: dict[str, Any] = {}
        current = dict(parameters)
        before = os.environ.get(step.index_as)
        try:
            for index in range(step.max_iterations):
                # The iteration number as a parameter, and as the environment variable upstream's
                # loops read (os.environ["counter"]); a branch's commands and processes inherit it.
                current[step.index_as] = index
                os.environ[step.index_as] = str(index)
                entry["branches"][str(index)] = []
                result = self.steps(step.branch, f"{path}.{index}.", current, entry["branches"][str(index)])
                produced.add(result.produced)
                if result.status != SUCCESS:
                    return {}, result.failed or ""
                returned.update(result.returned)
                entry["iterations"] = index + 1
                if result.returned.get(step.break_on):
                    break
        finally:
            if before is None:
                os.environ.pop(step.index_as, None)
            else:
                os.environ[step.index_as] = before
        return returned, ""

    # -- retry -----------------------------------------------------------------------------------
    def _reuse(self, step: BaseStep, path: str, parameters: dict[str, Any], branch: Branch) -> None:
        from runnable.pipeline.retry import reuse_step

        entry, values, produced = reuse_step(self.runner, self.record, self.reused[path], step, Path(self.scratch))
        branch.entries.append(entry)
        branch.produced.add(produced)
        parameters.update(values)
        branch.returned.update(values)
        branch.recorded.update(entry.get("returns") or {})


def _script() -> str | None:
    """The pipeline's script, which a branch's fresh interpreter loads again; None for ``python -c``
    or a pipeline ``runnable execute`` got from ``main()`` after the script ran."""
    found = getattr(sys.modules.get("__main__"), "__file__", None)
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not found or os.path.abspath(found).startswith(package + os.sep) or not os.path.isfile(found):
        return None
    return str(os.path.abspath(found))


def execute_pipeline(pipeline: Pipeline, configuration_file: str | os.PathLike[str] | None,
                     parameters_file: str | os.PathLike[str] | None, run_id: str | None,
                     tags: list[str]) -> RunRecord | None:
    """``pipeline.execute()``: the configuration, parameters and options as for a job, then run."""
    from runnable.pipeline.local import run_pipeline

    return run_pipeline(pipeline, configuration_file, parameters_file, run_id, tags)
