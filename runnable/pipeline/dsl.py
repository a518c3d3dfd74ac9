"""The pipeline classes users write, with the names and arguments upstream runnable documents.

>>> from runnable import Pipeline, PythonTask, Stub
>>> pipeline = Pipeline(steps=[Stub(name="start"), PythonTask(name="count", function=len, returns=["n"])])
>>> [step.name for step in pipeline.steps]
['start', 'count']

Nothing is checked here beyond the types: ``runnable.pipeline.graph`` checks the whole pipeline
when it runs, before any step starts (scripts set ``task.on_failure = ...`` after construction).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from runnable.catalog import Catalog
from runnable.returns import Return, declared

if TYPE_CHECKING:
    from runnable.record import RunRecord


class BaseStep:
    """What every step has: a name, and what happens after it."""

    kind: ClassVar[str] = "step"

    def __init__(self, name: str, terminate_with_success: bool = False, terminate_with_failure: bool = False,
                 on_failure: Pipeline | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}(name=...) must be a string, not {name!r}")
        self.name = name
        self.terminate_with_success = bool(terminate_with_success)
        self.terminate_with_failure = bool(terminate_with_failure)
        self.on_failure = on_failure

    def as_pipeline(self) -> Pipeline:
        """A pipeline of this one step.

        >>> Stub(name="only").as_pipeline().steps[0].name
        'only'
        """
        return Pipeline(steps=[self])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BaseTask(BaseStep):
    """A step that runs code: its returns become parameters of every later step."""

    def __init__(self, name: str, returns: Sequence[str | Return] = (), catalog: Catalog | None = None,
                 secrets: Sequence[str] = (), overrides: Mapping[str, Any] | None = None,
                 terminate_with_success: bool = False, terminate_with_failure: bool = False,
                 on_failure: Pipeline | None = None) -> None:
        super().__init__(name, terminate_with_success, terminate_with_failure, on_failure)
        if catalog is not None and not isinstance(catalog, Catalog):
            raise TypeError(f"{type(self).__name__}(catalog=...) must be a runnable.Catalog, not {catalog!r}")
        self.returns = declared(returns, f"{type(self).__name__}(returns=...)")
        self.catalog = catalog
        self.secrets = list(secrets)
        # Per-executor settings (an image, resources): kept for the executors that read them.
        self.overrides = dict(overrides or {})


class PythonTask(BaseTask):
    """Call ``function`` with the parameters its arguments name; ``returns`` names what it returns.

    >>> PythonTask(name="train", function=len, returns=["n"]).kind
    'python'
    """

    kind = "python"

    def __init__(self, name: str, function: Callable[..., Any], **kwargs: Any) -> None:
        if not callable(function):
            raise TypeError(f"PythonTask(function=...) must be callable, not {function!r}")
        super().__init__(name, **kwargs)
        self.function = function


class ShellTask(BaseTask):
    """Run ``command`` in a shell: parameters arrive as environment variables, and each name in
    ``returns`` is read back from the variables the command exported."""

    kind = "shell"

    def __init__(self, name: str, command: str, **kwargs: Any) -> None:
        if not isinstance(command, str) or not command.strip():
            raise TypeError(f"ShellTask(command=...) must be a non-empty string, not {command!r}")
        super().__init__(name, **kwargs)
        self.command = command


class NotebookTask(BaseTask):
    """Execute a notebook with papermill: parameters are injected, each name in ``returns`` is read
    from the notebook's variables, and the executed notebook is stored in the run's catalog."""

    kind = "notebook"

    def __init__(self, name: str, notebook: str | os.PathLike[str], kernel: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.notebook = os.fspath(notebook)
        self.kernel = kernel


class Stub(BaseStep):
    """A placeholder that succeeds without running anything; extra arguments are accepted and kept
    (a stub stands in for a task not written yet)."""

    kind = "stub"

    def __init__(self, name: str, terminate_with_success: bool = False, terminate_with_failure: bool = False,
                 on_failure: Pipeline | None = None, **kwargs: Any) -> None:
        super().__init__(name, terminate_with_success, terminate_with_failure, on_failure)
        self.extra = kwargs


class Parallel(BaseStep):
    """Run every branch at the same time (processes, on the local executor); the step fails if one
    fails, after the others finish. Returns of every branch become parameters after it."""

    kind = "parallel"

    def __init__(self, name: str, branches: Mapping[str, Pipeline], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.branches = dict(branches)


class Map(BaseStep):
    """Run ``branch`` once per item of the list parameter ``iterate_on``, the item given as
    ``iterate_as``, concurrently. Each return of the branch becomes a list (one value per item, in
    the items' order), or ``reducer(*values)`` when a reducer is given (a function, or the text of a
    lambda as upstream writes it: ``"lambda *x: max(x)"``)."""

    kind = "map"

    def __init__(self, name: str, branch: Pipeline, iterate_on: str, iterate_as: str,
                 reducer: Callable[..., Any] | str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.branch = branch
        self.iterate_on = iterate_on
        self.iterate_as = iterate_as
        self.reducer = reducer


class Conditional(BaseStep):
    """Run the one branch whose name is the value of ``parameter``."""

    kind = "conditional"

    def __init__(self, name: str, branches: Mapping[str, Pipeline], parameter: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.branches = dict(branches)
        self.parameter = parameter


class Loop(BaseStep):
    """Run ``branch`` again and again (the iteration number given as ``index_as``, from 0) until its
    boolean return ``break_on`` is true, or ``max_iterations`` times."""

    kind = "loop"

    def __init__(self, name: str, branch: Pipeline, max_iterations: int, break_on: str, index_as: str = "index",
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.branch = branch
        self.max_iterations = max_iterations
        self.break_on = break_on
        self.index_as = index_as


class Pipeline:
    """Steps that run in order as one run.

    ``execute()`` runs it: one run id, one catalog folder, one record with the step tree. Prints a
    JSON summary; raises ``JobFailedError`` naming the failed step if the pipeline failed.
    """

    def __init__(self, steps: Sequence[BaseStep], name: str = "pipeline", description: str = "") -> None:
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
            raise TypeError(f"Pipeline(steps=...) takes a list of steps, not {steps!r}")
        self.steps = list(steps)
        self.name = name
        self.description = description

    def execute(self, configuration_file: str | os.PathLike[str] | None = None,
                parameters_file: str | os.PathLike[str] | None = None, run_id: str | None = None,
                tag: Sequence[str] | str | None = None, tags: Sequence[str] | str | None = None,
                **ignored: Any) -> RunRecord | None:
        """Run the pipeline once as a tracked run and return its record.

        ``run_id`` (or ``$RUNNABLE_RUN_ID``) names the run; parameters come from ``parameters_file``
        and ``RUNNABLE_PRM_<name>`` variables, as for jobs; ``$RUNNABLE_RETRY_RUN_ID`` re-runs a
        failed run from its failed steps (``runnable retry``).
        """
        from runnable.errors import JobFailedError, RunnableError
        from runnable.pipeline.engine import execute_pipeline

        if CAPTURED is not None:  # ``runnable execute-step`` loads the script only to find the pipeline
            CAPTURED.append(self)
            return None

        all_tags = [*_as_list(tag), *_as_list(tags)]
        try:
            return execute_pipeline(self, configuration_file, parameters_file, run_id, all_tags)
        except JobFailedError as exc:
            raise exc.with_traceback(None) from None
        except RunnableError as exc:
            from runnable.run.report import report_uncaught_failures_in_one_line

            exc.refused_before_run = True  # (a failed run is a JobFailedError, above)
            report_uncaught_failures_in_one_line()  # then it ends the script in its one line
            raise exc.with_traceback(None) from exc.__cause__


# Set by ``runnable execute-step`` (and a branch's fresh interpreter) while it loads a script:
# ``execute()`` then records the pipeline here instead of running it, wherever the script calls it.
CAPTURED: list[Pipeline] | None = None


def _as_list(value: Sequence[str] | str | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


Step = BaseStep
__all__ = ["BaseStep", "BaseTask", "Conditional", "Loop", "Map", "NotebookTask", "Parallel", "Pipeline",
           "PythonTask", "ShellTask", "Step", "Stub"]
