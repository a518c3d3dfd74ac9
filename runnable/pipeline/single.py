"""One step of a pipeline as part of a run: what ``runnable execute-step RUN_ID FILE STEP`` does.

Independent of how it is launched (a container of the local-container executor, an Argo pod): the
step reads everything from the run's record and catalog, never from the launcher.

1. the run's record is read, or made (RUNNING, exclusively) by the first step to arrive;
2. the step's parameters are the run's, plus the returns of every step that succeeded before it
   (pickled ones read back from the catalog, checked by hash); its ``get`` files come from the
   run's catalog as in a local run;
3. the step runs as one attempt (``steps.run_task``), storing its files and log;
4. the record is rewritten with the step's entry: RUNNING while steps remain, FAIL if it failed,
   SUCCESS after the last top-level step.

Known gap: two steps of one run finishing at the same moment (parallel branches in separate
containers) each rewrite the record; the later write wins, so the orchestrator must run the steps
of one run one at a time until the record is made append-only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from runnable.backends import secrets as _secrets
from runnable.backends.protocols import RunLogStore, Storage
from runnable.config import loading as _config
from runnable.errors import JobFailedError, RunNotFoundError, UsageError
from runnable.pipeline import graph
from runnable.pipeline.dsl import BaseStep, BaseTask, Conditional, Parallel, Pipeline, Stub
from runnable.pipeline.job import PipelineJob
from runnable.pipeline.steps import fetch_inputs, run_task
from runnable.record import FAIL, RUNNING, SUCCESS, FileEntry, RunRecord
from runnable.run import environment as _environment
from runnable.run import metrics as _metrics
from runnable.run.attempt import Attempt
from runnable.run.runner import JobRunner, RunOptions, now


def find_step(pipeline: Pipeline, path: str) -> tuple[BaseStep, bool]:
    """The step at dotted ``path`` (through Parallel and Conditional branches and on_failure paths)
    and whether it is the last step of the top-level pipeline; UsageError naming the known steps."""
    parts = path.split(".")
    current, index, depth = pipeline, 0, 0
    while index < len(parts):
        step = next((s for s in current.steps if s.name == parts[index]), None)
        if step is None:
            break
        if index == len(parts) - 1:
            return step, depth == 0 and step is pipeline.steps[-1]
        following = parts[index + 1]
        if following == "on_failure" and step.on_failure is not None:
            current = step.on_failure
        elif isinstance(step, (Parallel, Conditional)) and following in step.branches:
            current = step.branches[following]
        else:
            break
        index, depth = index + 2, depth + 1  # the step's name, then its branch key
    known = ", ".join(s.split(":")[0] for s in graph.structure(pipeline) if "*" not in s)
    raise UsageError(f"the pipeline has no step {path!r}; its steps are: {known}")


def execute_one_step(pipeline: Pipeline, run_id: str, path: str, configuration_file: str | None) -> RunRecord:
    configuration = _config.load(configuration_file)
    storage: Storage = configuration.storage_service().build()
    store: RunLogStore = configuration["run-log-store"].build()
    step, last = find_step(pipeline, path)
    if isinstance(step, Stub):
        return _stub(pipeline, run_id, path, step, last, store, storage, configuration)
    if not isinstance(step, BaseTask):
        raise UsageError(f"step {path!r} is a {step.kind} step; execute-step runs tasks (run its branches' tasks)")
    record = _record(pipeline, run_id, store, storage, configuration)
    parameters, produced = _state(record, storage, store)
    graph.check(pipeline, set(record.parameters))
    # This step's secrets only: its container is given those, by name, and no others.
    secrets = _secrets.resolve(configuration.secrets_backend(), step.secrets)
    attempt = Attempt(storage, store, configuration.hash_algorithm, Path.cwd().absolute(), secrets=secrets)
    scratch = Path(tempfile.mkdtemp(prefix="runnable-step-"))
    saved = _environment.saved(secrets)
    os.environ.update(secrets)
    try:
        shell = RunRecord(run_id=run_id, status=SUCCESS, job={}, start="")
        prefix = path[: -len(step.name)]
        outcome = run_task(attempt, step, path, run_id, parameters, prefix,
                           lambda catalog: fetch_inputs(shell, produced, attempt, catalog),
                           [f.path for f in record.files], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _environment.restore(saved)
    record = store.get(run_id)  # again: another step may have written it meanwhile
    place(pipeline, record.steps, path, outcome.entry)
    files = {f.path: f for f in record.files}
    files.update({f.path: f for f in outcome.record.files})
    if outcome.record.execution_log is not None:
        files[outcome.record.execution_log.path] = outcome.record.execution_log
    record.files = list(files.values())
    record.objects.update(outcome.record.objects)
    _metrics.merge(record.metrics, outcome.record.metrics)
    failed = outcome.failure is not None and step.on_failure is None
    if failed or last or step.terminate_with_success or step.terminate_with_failure:
        record.status = FAIL if failed or step.terminate_with_failure else SUCCESS
        record.end = now()
        if failed:
            record.error = {"type": "PipelineFailed", "message": f"step {path!r} failed: {outcome.entry['error']['message']}"}
    JobRunner(PipelineJob(pipeline), storage, store, options=RunOptions(secrets=secrets))._mask(record)
    store.put(record)
    if outcome.failure is not None:
        raise JobFailedError(f"step {path!r} of run {run_id} failed: {outcome.entry['error']['message']}")
    return record


def place(pipeline: Pipeline, steps: list[dict[str, Any]], path: str, entry: dict[str, Any]) -> None:
    """Put ``entry`` where a local run would have it in the step tree ``steps``: under its Parallel or
    Conditional step's branch, or its step's on_failure list (made when missing), replacing an
    earlier entry of the same step. A composite step's status follows its branches: FAIL once one of
    their steps failed, SUCCESS once every step of a branch (a Conditional: of one) succeeded."""
    from runnable.pipeline.steps import new_entry

    parts = path.split(".")
    current: Pipeline = pipeline
    siblings, prefix, index = steps, "", 0
    parents: list[tuple[dict[str, Any], BaseStep]] = []
    while index < len(parts) - 1:
        step = next(s for s in current.steps if s.name == parts[index])
        step_path = prefix + step.name
        holder = next((e for e in siblings if e.get("path") == step_path), None)
        if holder is None:
            holder = new_entry(step_path, step.kind)
            siblings.append(holder)
        key = parts[index + 1]
        if key == "on_failure" and step.on_failure is not None:
            siblings = holder.setdefault("on_failure", [])
            current = step.on_failure
        else:
            assert isinstance(step, (Parallel, Conditional))
            siblings = holder.setdefault("branches", {}).setdefault(key, [])
            current = step.branches[key]
            parents.append((holder, step))
        prefix, index = f"{step_path}.{key}.", index + 2
    siblings[:] = [e for e in siblings if e.get("path") != path] + [entry]
    for holder, step in reversed(parents):  # innermost first: an outer status reads the inner ones
        _settle(holder, step)


def _settle(holder: dict[str, Any], step: Parallel | Conditional) -> None:
    branches: dict[str, list[dict[str, Any]]] = holder.get("branches") or {}
    statuses = [e.get("status") for entries in branches.values() for e in entries]
    done = [key for key, branch in step.branches.items()
            if len(branches.get(key, [])) == len(branch.steps) and all(e.get("status") == SUCCESS
                                                                     for e in branches.get(key, []))]
    finished = len(done) == len(step.branches) if isinstance(step, Parallel) else bool(done)
    if FAIL in statuses:
        holder["status"] = FAIL
    elif finished:
        holder["status"] = SUCCESS
    else:
        return
    holder["end"] = now()


def _stub(pipeline: Pipeline, run_id: str, path: str, step: Stub, last: bool, store: RunLogStore,
          storage: Storage, configuration: Any) -> RunRecord:
    """A stub step: an entry that succeeded, nothing run."""
    from runnable.pipeline.steps import finish, new_entry

    _record(pipeline, run_id, store, storage, configuration)
    entry = new_entry(path, step.kind)
    finish(entry, None, time.perf_counter())
    record = store.get(run_id)
    place(pipeline, record.steps, path, entry)
    if last or step.terminate_with_success or step.terminate_with_failure:
        record.status = FAIL if step.terminate_with_failure else SUCCESS
        record.end = now()
    store.put(record)
    return record


def _record(pipeline: Pipeline, run_id: str, store: RunLogStore, storage: Storage, configuration: Any) -> RunRecord:
    try:
        return store.get(run_id)
    except RunNotFoundError:
        pass
    from runnable import params as _params

    runner = JobRunner(PipelineJob(pipeline), storage, store, algorithm=configuration.hash_algorithm,
                       options=RunOptions(run_id=run_id, parameters=_params.collect(
                           _environment.job_settings().parameters_file)))
    record = runner._new_record()
    record.run_id = run_id
    if not store.create(record):  # another step made it first
        return store.get(run_id)
    runner.attempt.begin_run(run_id)
    record.catalog["run_folder"] = storage.run_location(run_id)
    store.put(record)
    return record


def _state(record: RunRecord, storage: Storage, store: RunLogStore) -> tuple[dict[str, Any], dict[str, tuple[str, FileEntry]]]:
    """The parameters after the steps that succeeded so far, and the files they put (by path)."""
    from runnable.history.runs import History

    parameters: dict[str, Any] = dict(record.parameters)
    produced: dict[str, tuple[str, FileEntry]] = {}
    by_path = {f.path: f for f in record.files}
    run = None
    for entry in _flat(record.steps):
        if entry.get("status") != SUCCESS:
            continue
        parameters.update(entry.get("returns") or {})
        for name, history in (entry.get("metrics") or {}).items():
            values = [point[1] for point in history]
            parameters[name] = values[0] if len(values) == 1 else values
        for qualified in entry.get("objects") or []:
            run = run or History(storage, store).get(record.run_id)
            parameters[qualified.rsplit(".", 1)[-1] if "." in qualified else qualified] = run.load(qualified)
        for rel in entry.get("outputs") or []:
            if rel in by_path:
                produced[rel] = (str(entry["path"]), by_path[rel])
    return parameters, produced


def _flat(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        out.append(entry)
        for branch in (entry.get("branches") or {}).values():
            out += _flat(branch)
    return out


__all__ = ["RUNNING", "execute_one_step", "find_step"]
