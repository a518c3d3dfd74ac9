"""runnable: run a Python function, a shell command or a notebook as a tracked job, and keep the
files it writes in a per-run catalog with the hash of every file.

>>> from runnable import Catalog, PythonJob
>>> job = PythonJob(function=len, catalog=Catalog(put=["df.csv"]))
"""

from runnable.catalog import Catalog
from runnable.errors import (
    CatalogError,
    ConfigurationError,
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
from runnable.history import Run, get_run, runs
from runnable.jobs import NotebookJob, PythonJob, ShellJob
from runnable.version import __version__

__all__ = [
    "Catalog",
    "CatalogError",
    "ConfigurationError",
    "IntegrityError",
    "JobFailedError",
    "MissingExtraError",
    "NotebookJob",
    "ParameterError",
    "PatternError",
    "PythonJob",
    "RecordError",
    "RestoreError",
    "Run",
    "RunIdError",
    "RunNotFoundError",
    "RunnableError",
    "SecretError",
    "ShellJob",
    "UsageError",
    "__version__",
    "get_run",
    "runs",
]
