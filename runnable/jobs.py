"""The kinds of work runnable tracks: a Python function, a shell command, a Jupyter notebook.

A job says *what* runs; ``execute()`` runs it once as a tracked run (see ``runner.JobRunner``)::

    from runnable import Catalog, PythonJob

    def train(epochs: int = 3) -> dict:
        ...

    PythonJob(function=train, catalog=Catalog(put=["model.pkl"])).execute()
"""

from __future__ import annotations

import errno
import inspect
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from runnable import params as _params
from runnable.catalog import Catalog
from runnable.errors import ConfigurationError, JobFailedError, ParameterError, RunnableError
from runnable.jobchecks import MAX_NAME_BYTES as MAX_NAME_BYTES  # re-exported: importable from here as before
from runnable.jobchecks import check_name, check_notebook
from runnable.jobchecks import names_list as names_list
from runnable.kernel import kernel_manager
from runnable.returns import Return, collect, declared

if TYPE_CHECKING:
    from runnable.record import RunRecord


@dataclass
class JobContext:
    """What a running job receives from the runner."""

    parameters: dict[str, Any]
    environment: dict[str, str]  # extra variables for the job (secrets); already set in os.environ
    working_folder: Path
    scratch: Path  # a private folder for files runnable itself produces (an executed notebook)
    extra_outputs: list[tuple[str, Path]] = field(default_factory=list)  # (catalog path, file) to store
    # Parameters as the job received them, after conversion; the runner records these.
    resolved_parameters: dict[str, Any] = field(default_factory=dict)
    # Set by the job just before it calls the function, the command or the notebook. A run that
    # fails before (a missing parameter) stores no put patterns: whatever files match them were
    # left by something else, not written by this run.
    started: bool = False
    # Set by a job whose function returned a value it did not declare in ``returns``: how to keep
    # it, said once in the summary (the record's ``returns`` is empty, which tells nobody).
    returns_hint: str | None = None
    # Returned metric histories ({name: [[step, value], ...]}) and pickled returns (name, pickle file
    # in scratch): the runner records the first and stores the second in the catalog.
    metrics: dict[str, list[list[float]]] = field(default_factory=dict)
    objects: list[tuple[str, Path]] = field(default_factory=list)


#: Linux's limit for one argument or environment variable of a command (MAX_ARG_STRLEN).
_ONE_ARGUMENT = 128 * 1024


class BaseJob:
    """Common options of every job kind: a catalog, a name, secrets."""

    kind: ClassVar[str] = "job"

    def __init__(
        self,
        catalog: Catalog | None = None,
        name: str | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        if catalog is not None and not isinstance(catalog, Catalog):
            raise TypeError(f"catalog must be a runnable.Catalog, not {type(catalog).__name__}")
        self.catalog = catalog
        self._name = check_name(name)
        self.secrets = names_list(secrets, f"{type(self).__name__}(secrets=...)")

    @property
    def name(self) -> str:
        """The job's name: the execution log is ``{name}.execution.log``."""
        return self._name or self.default_name()

    def default_name(self) -> str:
        return self.kind

    def describe(self) -> dict[str, Any]:
        """What ran, for the run record."""
        return {"kind": self.kind, "name": self.name}

    def run(self, context: JobContext) -> dict[str, Any]:
        """Do the work; return the values to record as ``returns``. Raise on failure."""
        raise NotImplementedError

    def execute(
        self,
        configuration_file: str | os.PathLike[str] | None = None,
        parameters_file: str | os.PathLike[str] | None = None,
        job_id: str | None = None,
        tags: Sequence[str] | str | None = (),
    ) -> RunRecord | None:
        """Run the job once as a tracked run and return its record (None for a dry run).

        ``job_id`` (or ``$RUNNABLE_RUN_ID``) names the run instead of a generated id. Parameters come
        from ``parameters_file`` (YAML) and ``RUNNABLE_PRM_<name>`` variables. Prints a JSON summary;
        raises ``JobFailedError`` if the job failed (after recording everything).
        """
        from runnable.run.execute import execute_job

        try:
            return execute_job(self, configuration_file, parameters_file, job_id, tags)
        except JobFailedError as exc:
            # runnable's own frames say nothing about why the job failed: an uncaught failure shows
            # the caller's line and the one-line reason (the job's traceback is printed above it).
            raise exc.with_traceback(None) from None
        except RunnableError as exc:
            # Refused before the job ran (a file where the catalog must be, a taken run id, ...):
            # the message says what to do; runnable's frames would only bury it. The cause is kept.
            raise exc.with_traceback(None) from exc.__cause__


class PythonJob(BaseJob):
    """Run a Python function in this process, passing parameters by argument name.

    >>> job = PythonJob(function=print, returns=[])
    >>> job.describe()["function"]
    'print'
    """

    kind = "python"
    # Warn about a parameter that looks like a misspelled argument. A pipeline's step does not: the
    # run's parameters and every earlier step's returns reach every step, most meant for others.
    checks_spelling: ClassVar[bool] = True

    def __init__(
        self,
        function: Callable[..., Any],
        catalog: Catalog | None = None,
        returns: Sequence[str | Return] = (),
        name: str | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        if not callable(function):
            raise TypeError(f"PythonJob(function=...) must be callable, not {function!r}")
        super().__init__(catalog=catalog, name=name, secrets=secrets)
        self.function = function
        self.declared_returns = declared(returns, "PythonJob(returns=...)")
        self.returns = [r.name for r in self.declared_returns]
        twice = sorted({n for n in self.returns if self.returns.count(n) > 1})
        if twice:
            raise ConfigurationError(
                f"PythonJob(returns={self.returns!r}) names {', '.join(map(repr, twice))} more than once; "
                "each returned value needs its own name, or one of them would be lost from the record"
            )

    def default_name(self) -> str:
        return str(getattr(self.function, "__name__", "function"))

    def describe(self) -> dict[str, Any]:
        function = self.function
        described = {
            **super().describe(),
            "module": getattr(function, "__module__", None),
            "function": getattr(function, "__qualname__", repr(function)),
        }
        try:
            described["file"] = inspect.getsourcefile(function)
        except TypeError:
            pass
        return described

    def run(self, context: JobContext) -> dict[str, Any]:
        kwargs = _params.bind(self.function, context.parameters)
        function = getattr(self.function, "__qualname__", self.name)
        for given, argument in _params.misspelled(self.function, context.parameters) if self.checks_spelling else []:
            sys.stderr.write(f"runnable: warning: parameter {given!r} was not passed: {function}() takes no "
                             f"argument of that name (did you mean {argument!r}?)\n")
        context.resolved_parameters = {name: _params.jsonable(v) for name, v in kwargs.items()}
        # Plain defaults too (numbers, booleans): the record says what the function ran with.
        context.resolved_parameters.update(_params.plain_defaults(self.function, context.parameters))
        context.started = True
        value = self.function(**kwargs)
        if not self.returns:
            if value is not None:
                context.returns_hint = _returns_hint(self.name, value)
            return {}
        if len(self.returns) == 1:
            values: Sequence[Any] = [value]
        elif not isinstance(value, (tuple, list)) or len(value) != len(self.returns):
            raise ParameterError(
                f"{self.name}() was declared with returns={self.returns} but returned {type(value).__name__}"
                f" {_short(value)}; return a tuple of {len(self.returns)} values"
            )
        else:
            values = value
        collected = collect(self.declared_returns, values, context.scratch)
        context.metrics.update(collected.metrics)
        context.objects.extend(collected.objects)
        return collected.values


def _returns_hint(name: str, value: Any) -> str:
    """How to keep a returned value: named after its key when it is a dict of one ('total_sales')."""
    keys = list(value) if isinstance(value, dict) else []
    label = keys[0] if len(keys) == 1 and isinstance(keys[0], str) and keys[0].isidentifier() else "result"
    return (f"{name}() returned a {type(value).__name__} that was not recorded; to keep it, declare "
            f"PythonJob(..., returns=[{label!r}])")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


class ShellJob(BaseJob):
    """Run a shell command; parameters and secrets are exported as environment variables.

    >>> ShellJob(command="echo hi").describe()["command"]
    'echo hi'
    """

    kind = "shell"

    def __init__(
        self,
        command: str,
        catalog: Catalog | None = None,
        name: str | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        if not isinstance(command, str) or not command.strip():
            raise TypeError(f"ShellJob(command=...) must be a non-empty string, not {command!r}")
        super().__init__(catalog=catalog, name=name, secrets=secrets)
        self.command = command

    def default_name(self) -> str:
        return "shell"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "command": self.command}

    def run(self, context: JobContext) -> dict[str, Any]:
        exported = _params.to_environment(context.parameters)
        _params.check_environment(exported)
        env = {**os.environ, **exported}
        # Inherit fds 1 and 2: the runner's capture tees them to the console and the log.
        import subprocess  # here: only a shell job starts one, and the import costs every run ~4 ms

        context.started = True
        try:
            done = subprocess.run(self.command, shell=True, cwd=context.working_folder, env=env, check=False)
        except OSError as exc:
            if exc.errno != errno.E2BIG:
                raise
            # Linux refuses any one argument or variable over 128 KiB, and all of them together over
            # a limit of its own: say which of the job's parts is the large one.
            if len(self.command.encode()) > _ONE_ARGUMENT or not exported:
                raise JobFailedError(
                    f"the command could not start: it is {len(self.command.encode())} bytes long, more than "
                    f"the system takes ({exc.strerror}); put it in a script file and run that"
                ) from exc
            largest = max(exported, key=lambda k: len(exported[k]))
            raise ParameterError(
                f"the command could not start: its environment is too large ({exc.strerror}); the largest "
                f"parameter is {largest!r} ({len(exported[largest])} characters): pass large values in a file"
            ) from exc
        if done.returncode < 0:
            try:
                name = signal.Signals(-done.returncode).name
            except ValueError:
                name = str(-done.returncode)
            raise JobFailedError(f"command was killed by signal {name}: {self.command}", exit_code=done.returncode)
        if done.returncode != 0:
            raise JobFailedError(
                f"command exited with code {done.returncode}: {self.command}", exit_code=done.returncode
            )
        return {"exit_code": 0}


class NotebookJob(BaseJob):
    """Execute a Jupyter notebook with a Python kernel (needs ``pip install 'runnable[notebook]'``).

    Parameters are injected as in papermill (into the cell tagged ``parameters``, or at the top); the
    executed notebook, outputs included, is stored in the run's catalog as ``{stem}.executed.ipynb``.
    """

    kind = "notebook"

    def __init__(
        self,
        notebook: str | os.PathLike[str],
        catalog: Catalog | None = None,
        name: str | None = None,
        secrets: Sequence[str] = (),
        kernel: str | None = None,
    ) -> None:
        super().__init__(catalog=catalog, name=name, secrets=secrets)
        if not isinstance(notebook, (str, os.PathLike)):
            raise TypeError(f"NotebookJob(notebook=...) takes the path of a .ipynb file, not {notebook!r}")
        if kernel is not None and not isinstance(kernel, str):
            raise TypeError(f"NotebookJob(kernel=...) takes a kernel's name such as 'python3', not {kernel!r}")
        self.notebook = Path(notebook)
        self.kernel = kernel

    def default_name(self) -> str:
        return self.notebook.stem

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "notebook": str(self.notebook), "kernel": self.kernel}

    @property
    def output_name(self) -> str:
        return f"{self.notebook.stem}.executed.ipynb"

    def run(self, context: JobContext) -> dict[str, Any]:
        source = self.notebook if self.notebook.is_absolute() else context.working_folder / self.notebook
        if not source.is_file():
            raise FileNotFoundError(f"notebook {str(self.notebook)!r} does not exist in {context.working_folder}")
        check_notebook(source, self.notebook)
        try:
            import papermill
        except ImportError as exc:
            from runnable.errors import MissingExtraError

            raise MissingExtraError(
                "NotebookJob needs a notebook engine; install it with: pip install 'runnable[notebook]'"
            ) from exc
        output = context.scratch / self.output_name
        context.extra_outputs.append((self.output_name, output))
        parameters = _params.plain(context.parameters)
        engine_options: dict[str, Any] = {"kernel_manager_class": kernel_manager(this_interpreter=self.kernel is None)}
        if self.kernel is None:
            # The kernel is Python by construction: say so, for notebooks saved without kernel
            # metadata (nbformat's own), whose parameters papermill could not write otherwise.
            engine_options["language"] = "python"
        context.started = True
        try:
            papermill.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                kernel_name=self.kernel or "python3",
                cwd=str(context.working_folder),
                log_output=False,
                stdout_file=sys.stdout,
                stderr_file=sys.stderr,
                progress_bar=False,
                **engine_options,
            )
        except papermill.PapermillExecutionError as exc:
            # Named by its first line: the execution count also counts the injected parameters cell.
            first = next((line.strip() for line in str(exc.source).splitlines() if line.strip()), "")
            raise JobFailedError(
                f"notebook {self.notebook} failed in the cell starting {first[:60]!r} (execution count "
                f"{exc.exec_count} in {self.output_name}): {exc.ename}: {exc.evalue}"
            ) from exc
        return {}
