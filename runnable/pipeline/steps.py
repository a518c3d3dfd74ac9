"""One task step = one attempt (``runnable.run.attempt``) of the job the task stands for.

A ``PythonTask`` runs as a ``PythonJob``, a ``ShellTask`` as a ``ShellJob`` whose exported variables
are read back as its returns, a ``NotebookTask`` as a ``NotebookJob``. The attempt writes into a
step-sized ``RunRecord`` (inputs, files, objects, metrics, returns); ``run_task`` turns it into the
step's entry and the values later steps receive as parameters.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable import params as _params
from runnable.errors import InputError, JobFailedError, ParameterError, RunnableError
from runnable.jobs import JobContext, NotebookJob, PythonJob, ShellJob
from runnable.pipeline.dsl import BaseTask, NotebookTask, PythonTask
from runnable.pipeline.state import jsonable
from runnable.record import FAIL, RUNNING, SUCCESS, FileEntry, RunRecord
from runnable.run.report import user_traceback

if TYPE_CHECKING:
    from runnable.catalog import Catalog
    from runnable.jobs import BaseJob
    from runnable.run.attempt import Attempt


class _ShellStep(ShellJob):
    """A shell job whose returns are the variables its command exported."""

    def __init__(self, task: BaseTask, command: str) -> None:
        super().__init__(command=command, catalog=task.catalog, name=task.name, secrets=task.secrets)
        self.declared_returns = task.returns
        self.returns = [r.name for r in task.returns]

    def run(self, context: JobContext) -> dict[str, Any]:
        if not self.returns:
            super().run(context)
            return {}
        exported = context.scratch / "exported.env"
        original = self.command
        # The returns as the command left them, written by an EXIT trap set before it runs: an
        # explicit `exit N` (or `set -e`) ends the command early and still writes them, with the
        # command's own status kept. Only the names in `returns` are written: a dump of the whole
        # environment would put every secret the step sees into a file.
        dump = "".join(f'if [ -n "${{{name}+set}}" ]; then printf "%s=%s\\0" {name} "${name}"; fi; '
                       for name in self.returns)
        trap = f"__runnable_rc=$?; {{ {dump}}} > {shlex.quote(str(exported))}; exit $__runnable_rc"
        self.command = f"trap {shlex.quote(trap)} EXIT\n{original}"
        try:
            super().run(context)
        except JobFailedError as exc:
            raise JobFailedError(str(exc).replace(self.command, original), exit_code=exc.exit_code) from None
        finally:
            self.command = original
        try:
            text = exported.read_bytes().decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            raise ParameterError("the command ended without giving back its returns: it replaced the shell "
                                 "(exec) or set an EXIT trap of its own; export the returns from a command "
                                 "that ends normally") from None
        variables = dict(item.split("=", 1) for item in text.split("\0") if "=" in item)
        missing = [name for name in self.returns if name not in variables]
        if missing:
            raise ParameterError(f"the command did not export {missing[0]!r}, which the task declares in returns; "
                                 f"add 'export {missing[0]}=...' to it")
        # Read as upstream reads them: JSON where the text is JSON ("3.14", "true", '{"x": 1}'),
        # else the text itself; a metric(...) return is kept in the metrics as well.
        from runnable.returns import collect

        collected = collect(self.declared_returns, [_params.guess(variables[name]) for name in self.returns],
                            context.scratch)
        context.metrics.update(collected.metrics)
        return collected.values


class _NotebookStep(NotebookJob):
    """A notebook job whose returns are read from the notebook's variables once it ran: a last cell,
    added to a copy of the notebook, pickles them into the step's scratch folder."""

    def __init__(self, task: NotebookTask, path: str) -> None:
        super().__init__(notebook=task.notebook, catalog=task.catalog, name=task.name, secrets=task.secrets,
                         kernel=task.kernel)
        self.declared_returns = task.returns
        self.path = path

    @property
    def output_name(self) -> str:  # one per step: two steps may run the same notebook
        return f"{self.path}.executed.ipynb"

    def run(self, context: JobContext) -> dict[str, Any]:
        if not self.declared_returns:
            return super().run(context)
        source = self.notebook if self.notebook.is_absolute() else context.working_folder / self.notebook
        if not source.is_file():
            raise FileNotFoundError(f"notebook {str(self.notebook)!r} does not exist in {context.working_folder}")
        content = json.loads(source.read_bytes())
        values_file = context.scratch / "notebook-returns.pickle"
        names = [r.name for r in self.declared_returns]
        code = (f"import pickle as _runnable_pickle\n"
                f"with open({str(values_file)!r}, 'wb') as _runnable_file:\n"
                f"    _runnable_pickle.dump({{_n: globals()[_n] for _n in {names!r} if _n in globals()}}, _runnable_file)\n")
        content.setdefault("cells", []).append({"cell_type": "code", "execution_count": None, "id": "runnable-returns",
                                                "metadata": {"tags": ["runnable-returns"]}, "outputs": [],
                                                "source": code})
        copy = context.scratch / "notebook" / source.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(json.dumps(content))
        original = self.notebook
        self.notebook = copy
        try:
            super().run(context)
        finally:
            self.notebook = original
        found = pickle.loads(values_file.read_bytes())  # noqa: S301 - written by the notebook just run
        missing = [name for name in names if name not in found]
        if missing:
            raise ParameterError(f"the notebook has no variable {missing[0]!r}, which the task declares in returns; "
                                 "assign it in a cell")
        from runnable.returns import collect

        collected = collect(self.declared_returns, [found[name] for name in names], context.scratch)
        context.metrics.update(collected.metrics)
        context.objects.extend(collected.objects)
        return collected.values


class _PythonStep(PythonJob):
    checks_spelling = False


def job_of(task: BaseTask, path: str) -> BaseJob:
    """The job a task runs as (``path``: the step's dotted name)."""
    if isinstance(task, PythonTask):
        return _PythonStep(function=task.function, catalog=task.catalog, returns=task.returns, name=task.name,
                           secrets=task.secrets)
    if isinstance(task, NotebookTask):
        return _NotebookStep(task, path)
    return _ShellStep(task, getattr(task, "command", ""))


@dataclass
class StepOutcome:
    """A step's entry for the record, its step-sized record, and its returns as parameters."""

    entry: dict[str, Any]
    record: RunRecord
    values: dict[str, Any] = field(default_factory=dict)
    failure: BaseException | None = None
    interrupt: BaseException | None = None


def now() -> str:
    from runnable.run.runner import now as _now

    return _now()


def new_entry(path: str, kind: str) -> dict[str, Any]:
    return {"name": path.rsplit(".", 1)[-1], "path": path, "kind": kind, "status": RUNNING, "attempts": 1,
            "start": now(), "end": None}


def finish(entry: dict[str, Any], failure: dict[str, Any] | None, started: float) -> None:
    entry["status"] = FAIL if failure is not None else SUCCESS
    entry["end"] = now()
    entry["duration_seconds"] = round(time.perf_counter() - started, 6)
    if failure is not None:
        entry["error"] = failure


def run_task(attempt: Attempt, task: BaseTask, path: str, run_id: str, parameters: dict[str, Any],
             object_prefix: str, fetch: Any, cataloged: list[str], scratch_root: Path) -> StepOutcome:
    """Run ``task`` once as the step ``path`` of run ``run_id`` (see the module docstring).

    ``fetch(catalog)`` brings the step's ``get`` files from this run's catalog and names their
    sources; ``cataloged`` is every path the run stored so far (the step's log is named clear of them).
    """
    started = time.perf_counter()
    entry = new_entry(path, task.kind)
    job = job_of(task, path)
    scratch = Path(tempfile.mkdtemp(prefix="step-", dir=scratch_root))
    given = parameters if isinstance(job, PythonJob) else jsonable(parameters)  # a pickled object cannot be a variable
    context = JobContext(parameters=dict(given), environment={}, working_folder=attempt.working_folder,
                         scratch=scratch)
    record = RunRecord(run_id=run_id, status=RUNNING, job=job.describe(), start=entry["start"])
    outcome = StepOutcome(entry, record)

    def work(ctx: JobContext) -> dict[str, Any]:
        returned = job.run(ctx)
        if object_prefix:  # inside a branch: named after it, so that branches never share a name
            ctx.objects[:] = [(object_prefix + name, file) for name, file in ctx.objects]
        return returned

    # Each task sees only the secrets it declares, as it does in its own container (execute-step):
    # the run holds every task's in its environment; the others are out of it while this one runs.
    hidden = {name: os.environ.pop(name) for name in attempt.secrets if name not in task.secrets and name in os.environ}
    try:
        result = attempt.execute(job, record, context, scratch / "execution.log", scratch / "metrics.jsonl",
                                 work=work, fetch=fetch)
    finally:
        os.environ.update(hidden)
    outcome.failure, outcome.interrupt = result.failure, result.interrupt
    try:
        record.execution_log = attempt.store_log(path, run_id, cataloged + record.catalog_content,
                                                 scratch / "execution.log")
    except (OSError, RunnableError) as exc:
        outcome.failure = outcome.failure or exc
    if outcome.failure is None:
        try:
            outcome.values = _values(task, record, context, object_prefix)
        except (OSError, pickle.UnpicklingError) as exc:
            outcome.failure = exc
    # What the code received: a function's arguments; a command or a notebook gets them all.
    entry["parameters"] = record.parameters if isinstance(task, PythonTask) else \
        {k: _params.jsonable(v) for k, v in given.items()}
    entry["returns"] = record.returns
    if record.metrics:
        entry["metrics"] = record.metrics
    entry["inputs"] = [i.to_dict() for i in record.inputs]
    entry["outputs"] = [f.path for f in record.files]
    # The versions themselves (hash, size, copy): the run's ``files`` keep only the last version of
    # a path, and a retry, a later get, gc and verify need the one this step stored.
    entry["stored"] = [f.to_dict() for f in record.files] + \
        ([record.execution_log.to_dict()] if record.execution_log else [])
    if record.objects:
        entry["objects"] = sorted(record.objects)
        entry["stored_objects"] = {name: record.objects[name].to_dict() for name in sorted(record.objects)}
    entry["execution_log"] = record.execution_log.path if record.execution_log else None
    error = None
    if outcome.failure is not None:
        error = {"type": type(outcome.failure).__name__, "message": str(outcome.failure),
                 "traceback": user_traceback(outcome.failure)}
    finish(entry, error, started)
    shutil.rmtree(scratch, ignore_errors=True)
    return outcome


def _values(task: BaseTask, record: RunRecord, context: JobContext, object_prefix: str) -> dict[str, Any]:
    """The step's returns as later steps receive them: JSON returns as recorded, metrics as their
    value (a list for a history), pickled objects unpickled from the bytes stored in the catalog."""
    values: dict[str, Any] = dict(record.returns)
    for name, history in record.metrics.items():
        if any(r.name == name and r.kind == "metric" for r in task.returns):
            numbers = [point[1] for point in history]
            values[name] = numbers[0] if len(numbers) == 1 else numbers
    for qualified, file in context.objects:
        name = qualified[len(object_prefix):]
        values[name] = pickle.loads(file.read_bytes())  # noqa: S301 - the step's own object, just made
    if isinstance(task, (PythonTask, NotebookTask)):
        return {r.name: values[r.name] for r in task.returns if r.name in values}
    return values


def fetch_inputs(storage_run: RunRecord, produced: dict[str, tuple[str, FileEntry]], attempt: Attempt,
                 catalog: Catalog) -> dict[str, dict[str, Any]]:
    """Bring the files ``catalog.get`` selects from this run's catalog (what earlier steps put) into
    the working folder, verified by hash; return each one's source (the run and the producing step)."""
    from runnable.backends.protocols import local_folder
    from runnable.run.inputs import fetch

    storage_run.files = [entry for _step, entry in produced.values()]
    root = local_folder(attempt.run_log_store)
    protected = [("run-log store", attempt.run_log_store.location, root)] if root is not None else []
    try:
        fetch(storage_run, attempt.storage, catalog.get, attempt.working_folder, protected)
    except InputError as exc:
        text = str(exc).replace(f"get_from={storage_run.run_id!r}: ", "")
        raise InputError(f"get from this run's catalog: {text}") from None
    return {rel: {"run_id": storage_run.run_id, "path": rel, "step": step, "others": 0}
            for rel, (step, _entry) in produced.items()}


__all__ = ["StepOutcome", "fetch_inputs", "finish", "job_of", "new_entry", "run_task"]
