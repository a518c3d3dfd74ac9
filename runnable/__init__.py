"""runnable: run a Python function, a shell command or a notebook as a tracked job, and keep the
files it writes in a per-run catalog with the hash of every file.

>>> from runnable import Catalog, PythonJob
>>> job = PythonJob(function=len, catalog=Catalog(put=["df.csv"]))
"""

from typing import TYPE_CHECKING, Any

from runnable.catalog import Catalog
from runnable.errors import (
    CatalogError,
    ConfigurationError,
    DefinitionError,
    InputError,
    IntegrityError,
    JobFailedError,
    MissingExtraError,
    ParameterError,
    PatternError,
    RecordError,
    RestoreError,
    RunIdError,
    RunnableError,
    RunNotFoundError,
    SecretError,
    UsageError,
)
from runnable.jobs import NotebookJob, PythonJob, ShellJob
from runnable.returns import json, metric, pickled
from runnable.run.metrics import log_metric
from runnable.version import __version__

if TYPE_CHECKING:
    from runnable.history.comparison import compare
    from runnable.history.runs import Run, get_run, runs, which
    from runnable.pipeline.dsl import (
        Conditional,
        Loop,
        Map,
        NotebookTask,
        Parallel,
        Pipeline,
        PythonTask,
        ShellTask,
        Stub,
    )


# Pipelines are imported on first use: a job does not pay for them.
_PIPELINE_NAMES = ("Conditional", "Loop", "Map", "NotebookTask", "Parallel", "Pipeline", "PythonTask", "ShellTask",
                   "Stub")


def __getattr__(name: str) -> Any:
    if name in _PIPELINE_NAMES:
        from runnable.pipeline import dsl

        return getattr(dsl, name)
    # The history API is imported on first use: a job that never lists runs does not pay for it.
    if name in ("Run", "get_run", "runs", "which"):
        from runnable.history import runs as history
        return getattr(history, name)
    if name == "compare":
        from runnable.history.comparison import compare

        return compare
    raise AttributeError(f"module 'runnable' has no attribute {name!r}")

__all__ = [
    "Catalog",
    "CatalogError",
    "Conditional",
    "ConfigurationError",
    "DefinitionError",
    "InputError",
    "IntegrityError",
    "JobFailedError",
    "Loop",
    "Map",
    "MissingExtraError",
    "NotebookJob",
    "NotebookTask",
    "Parallel",
    "ParameterError",
    "PatternError",
    "Pipeline",
    "PythonJob",
    "PythonTask",
    "RecordError",
    "RestoreError",
    "Run",
    "RunIdError",
    "RunNotFoundError",
    "RunnableError",
    "SecretError",
    "ShellJob",
    "ShellTask",
    "Stub",
    "UsageError",
    "__version__",
    "compare",
    "get_run",
    "json",
    "log_metric",
    "metric",
    "pickled",
    "runs",
    "which",
]
