"""Retry a failed pipeline run: a new run, linked to the original, that starts from its failed steps.

``runnable retry RUN_ID`` (or ``RUNNABLE_RETRY_RUN_ID=RUN_ID python pipeline.py``) runs the pipeline
again as a new run whose record's ``job.retry_of`` names the original. Each top-level step that
succeeded in the original is not run again: its returns become parameters again (pickled ones read
back from the original's catalog, checked against their hash), its files are stored into the new
run's catalog from the original's, and its entry is copied with ``reused_from``. A composite step
(Parallel, Map, ...) is reused whole or run again whole.

The pipeline's structure (every step's dotted name and kind) must be the one the original ran;
otherwise the retry is refused before anything runs, naming the first difference. The code inside
a function may change: that is the point of a retry.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable.errors import DefinitionError, RunNotFoundError, UsageError
from runnable.files.put import store_single
from runnable.pipeline import graph
from runnable.pipeline.dsl import BaseTask
from runnable.record import RUNNING, SUCCESS, FileEntry, RunRecord

if TYPE_CHECKING:
    from runnable.backends.protocols import RunLogStore
    from runnable.pipeline.dsl import BaseStep, Pipeline
    from runnable.pipeline.engine import PipelineRunner
    from runnable.pipeline.state import Produced


def original_run(run_id: str, store: RunLogStore) -> RunRecord:
    """The record of the run to retry; UsageError in one line if it cannot be retried."""
    try:
        record = store.get(run_id)
    except RunNotFoundError as exc:
        raise UsageError(f"cannot retry: {exc.args[0]}") from None
    if record.job.get("kind") != "pipeline":
        raise UsageError(f"cannot retry run {run_id}: it ran a {record.job.get('kind')} job, not a pipeline; "
                         "run the job again instead")
    if record.status == SUCCESS:
        raise UsageError(f"cannot retry run {run_id}: it succeeded, so there is nothing to run again")
    if record.status == RUNNING:
        from datetime import datetime

        from runnable.run.liveness import owner_alive

        try:
            started = datetime.fromisoformat(record.start)
        except ValueError:
            started = None
        if owner_alive(record.environment, started) is not False:  # alive, or on another machine
            raise UsageError(f"cannot retry run {run_id}: it is still running (or its machine cannot tell); "
                             "wait for it to end, or retry once `runnable runs list` shows it failed")
    return record


def initial_parameters(original: RunRecord, given: dict[str, Any]) -> dict[str, Any]:
    """The parameters a retry starts with: the original run's initial ones (its record's
    ``parameters``), so that the steps run again see what the reused steps saw.

    A parameter given again (``RUNNABLE_PRM_*``, a parameters file) must have the original's value
    (it is then taken as given: an environment text keeps being converted by the function's
    annotation); a different or a new one is refused in one line: a retry mixing new parameters
    with steps reused from the old ones would record a run that never happened.
    """
    from runnable import params as _params

    before = original.parameters
    for name, value in _params.plain(given).items():
        if name not in before:
            raise UsageError(f"cannot retry run {original.run_id}: parameter {name!r} is given now, but the original "
                             "ran without it; a retry reuses the original's parameters: drop it, or run the "
                             "pipeline as a new run")
        if before[name] != value:
            raise UsageError(f"cannot retry run {original.run_id}: parameter {name!r} is {value!r} now, but was "
                             f"{before[name]!r} in the original; a retry reuses the original's parameters: give "
                             "the same value or none, or run the pipeline as a new run")
    return {**before, **given}


def check_same_structure(original: RunRecord, pipeline: Pipeline) -> None:
    """DefinitionError naming the first difference between the original's steps and ``pipeline``'s."""
    before = [str(s) for s in original.job.get("structure") or []]
    now = graph.structure(pipeline)
    if before == now:
        _check_same_returns(original, pipeline)
        return
    for index, (old, new) in enumerate(zip(before, now, strict=False)):
        if old != new:
            raise DefinitionError(f"cannot retry run {original.run_id}: the pipeline changed since: step "
                                     f"{index + 1} was {old!r} and is now {new!r}; run it as a new run instead")
    longer, which = (before, "had") if len(before) > len(now) else (now, "now has")
    raise DefinitionError(f"cannot retry run {original.run_id}: the pipeline {which} the step "
                             f"{longer[min(len(before), len(now))]!r} the other lacks; run it as a new run instead")


def _check_same_returns(original: RunRecord, pipeline: Pipeline) -> None:
    """DefinitionError naming the first step whose declared returns changed since the original ran:
    a reused step gives back what it returned then, not what it declares now. Records written
    before ``job.step_returns`` existed cannot tell, and are not checked."""
    if not isinstance(original.job.get("step_returns"), dict):
        return
    before: dict[str, Any] = original.job["step_returns"]
    now = graph.declared_returns(pipeline)
    for path in sorted(set(before) | set(now)):
        if list(before.get(path) or []) != now.get(path, []):
            was = ", ".join(before.get(path) or []) or "nothing"
            raise DefinitionError(f"cannot retry run {original.run_id}: the returns of step {path!r} changed since: "
                                  f"it returned {was} and now returns {', '.join(now.get(path, [])) or 'nothing'}; "
                                  "run it as a new run instead")


def succeeded_steps(original: RunRecord) -> dict[str, dict[str, Any]]:
    """The original's top-level steps that succeeded, by name, up to its first one that did not."""
    out = {}
    for entry in original.steps:
        if entry.get("status") != SUCCESS:
            break
        out[str(entry["path"])] = entry
    return out


def _all_outputs(entry: dict[str, Any]) -> list[str]:
    paths = list(entry.get("outputs") or [])
    if entry.get("execution_log"):
        paths.append(entry["execution_log"])
    for branch in (entry.get("branches") or {}).values():
        for child in branch:
            paths += _all_outputs(child)
    for child in entry.get("on_failure") or []:
        paths += _all_outputs(child)
    return paths


def _all_objects(entry: dict[str, Any]) -> list[str]:
    names = list(entry.get("objects") or [])
    for branch in (entry.get("branches") or {}).values():
        for child in branch:
            names += _all_objects(child)
    return names


def _versions(original: RunRecord, entry: dict[str, Any]) -> list[tuple[str, FileEntry]]:
    """(producing step, version) of every file the step (and its branches) stored, in the order they
    were stored: the versions its entries name by hash. A record written before entries held them
    has only paths: then the run's version of each path (the only one it knew)."""
    from runnable.pipeline.record import stored_versions

    found = list(stored_versions([entry], objects=False))
    if found or not _all_outputs(entry):
        return found
    by_path = {f.path: f for f in original.files}
    return [(str(entry["path"]), by_path[rel]) for rel in _all_outputs(entry) if rel in by_path]


def reuse_step(runner: PipelineRunner, record: RunRecord, entry: dict[str, Any], step: BaseStep,
               scratch: Path) -> tuple[dict[str, Any], dict[str, Any], Produced]:
    """Copy a succeeded step of the original into this run: (entry, returned values, produced files).

    The files are the versions the step itself stored (by hash), not the run's last version of each
    path: a later step that failed may have put the same path again."""
    from runnable.pipeline.state import Produced

    original = runner.retry_of
    assert original is not None  # only called for a retry
    produced = Produced()
    folder = Path(tempfile.mkdtemp(prefix="reuse-", dir=scratch))
    for producer, stored in _versions(original, entry):
        if stored.stored:  # a hash-only entry has no copy to bring: it stays hash-only
            stored = _copy(runner, record.run_id, stored, original.run_id, folder / "file")
        produced.files[stored.path] = stored
        if not stored.path.endswith(".execution.log"):
            produced.by_path[stored.path] = (producer, stored)
    values: dict[str, Any] = dict(entry.get("returns") or {})
    if isinstance(step, BaseTask):  # a task's metric returns are recorded as metrics, not returns
        for spec in step.returns:
            history = (entry.get("metrics") or {}).get(spec.name)
            if spec.kind == "metric" and history:
                numbers = [point[1] for point in history]
                values[spec.name] = numbers[0] if len(numbers) == 1 else numbers
    stored_objects = _stored_objects(entry)
    copies: dict[tuple[str, str], FileEntry] = {(f.path, f.digest): f for f in produced.files.values()}
    if not isinstance(step, BaseTask):  # a composite's returns JSON cannot hold: kept as `{path}.{name}`
        for qualified, data in (entry.get("stored_objects") or {}).items():
            name = qualified[len(str(entry["path"])) + 1:]
            if qualified.startswith(f"{entry['path']}.") and "." not in name and name not in values:
                version = FileEntry.from_dict(data)
                values[name] = _load(runner, original, version)
                new = _copy(runner, record.run_id, version, original.run_id, folder / "object")
                copies[(new.path, new.digest)] = new
    for qualified in _all_objects(entry):
        version = stored_objects.get(qualified) or original.objects[qualified]
        value = _load(runner, original, version)
        produced.objects[qualified] = _copy(runner, record.run_id, version, original.run_id, folder / "object")
        copies[(version.path, version.digest)] = produced.objects[qualified]
        if "." not in qualified:  # a top-level step's return: a parameter again
            values[qualified] = value
    reused = copy.deepcopy(entry)
    _relocate([reused], copies)  # the entry names this run's copies, not the original's
    reused["reused_from"] = original.run_id
    return reused, values, produced


def _relocate(entries: list[dict[str, Any]], copies: dict[tuple[str, str], FileEntry]) -> None:
    """Point the versions the entries name at this run's copies (same path and hash, new location)."""
    for entry in entries:
        for data in entry.get("stored") or []:
            new = copies.get((data.get("path"), next(iter((data.get("hash") or {"": ""}).values()))))
            if new is not None:
                data["location"] = new.location
        for data in (entry.get("stored_objects") or {}).values():
            new = copies.get((data.get("path"), next(iter((data.get("hash") or {"": ""}).values()))))
            if new is not None:
                data["location"] = new.location
        _relocate([c for branch in (entry.get("branches") or {}).values() for c in branch], copies)
        _relocate(entry.get("on_failure") or [], copies)


def _stored_objects(entry: dict[str, Any]) -> dict[str, FileEntry]:
    """The pickled returns the step (and its branches) stored, by qualified name, with their hashes."""
    out = {name: FileEntry.from_dict(data) for name, data in (entry.get("stored_objects") or {}).items()}
    for branch in (entry.get("branches") or {}).values():
        for child in branch:
            out.update(_stored_objects(child))
    return out


def _load(runner: PipelineRunner, original: RunRecord, version: FileEntry) -> Any:
    """Unpickle a pickled return the original stored, checked against its hash as it is read."""
    import io
    import pickle

    from runnable.history.verify import VerifiedReader, open_stored

    stream = open_stored(runner.storage, original.run_id, version)
    with io.BufferedReader(VerifiedReader(stream, version)) as source:
        return pickle.loads(source.read())  # noqa: S301 - the run's own object, verified by hash


def _copy(runner: PipelineRunner, run_id: str, entry: FileEntry, source_run: str, local: Path) -> FileEntry:
    """Store the original's copy of ``entry`` into run ``run_id``, checked against its hash as it is read."""
    import io
    import shutil

    from runnable.history.verify import VerifiedReader, open_stored

    stream = open_stored(runner.storage, source_run, entry)
    with io.BufferedReader(VerifiedReader(stream, entry)) as source, open(local, "wb") as target:
        shutil.copyfileobj(source, target)
    return store_single(runner.storage, run_id, entry.path, local, runner.algorithm)


def keep_composite_returns(runner: PipelineRunner, run_id: str, scratch: Path, path: str, values: dict[str, Any],
                           entry: dict[str, Any]) -> None:
    """Store a top-level composite step's returns that JSON cannot hold (a Map's list of pickled
    objects) as objects ``{path}.{name}`` named in its entry's ``stored_objects``, so that a
    retry reusing the step gives them back as parameters. Stored like a task's pickled return."""
    import pickle
    import sys

    from runnable.errors import RunnableError
    from runnable.returns import object_path

    others = {name: value for name, value in values.items() if name not in entry["returns"]}
    if not others:
        return
    folder = Path(tempfile.mkdtemp(prefix="returns-", dir=scratch))
    kept: dict[str, Any] = {}
    for name, value in others.items():
        local = folder / "value.pickle"
        try:
            local.write_bytes(pickle.dumps(value))
            stored = store_single(runner.storage, run_id, object_path(f"{path}.{name}"), local,
                                  runner.algorithm)
        except (pickle.PicklingError, TypeError, AttributeError, OSError, RunnableError) as exc:
            sys.stderr.write(f"runnable: warning: the return {name!r} of step {path!r} could not be kept for a "
                             f"retry ({type(exc).__name__}: {exc}); a retry reusing the step cannot give it back\n")
            continue
        kept[f"{path}.{name}"] = stored.to_dict()
    if kept:
        entry["stored_objects"] = kept
