"""The public surface of ``runnable``: changes only on purpose, and importing it does nothing visible."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import runnable
from tests.conftest import run_python

PUBLIC = [
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


def test_all_is_pinned() -> None:
    assert sorted(runnable.__all__) == sorted(PUBLIC)
    for name in runnable.__all__:
        assert hasattr(runnable, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in runnable.__all__:
        if name != "__version__":
            assert (getattr(runnable, name).__doc__ or "").strip(), f"{name} has no docstring"


def test_errors_share_one_root() -> None:
    for name in runnable.__all__:
        value = getattr(runnable, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, runnable.RunnableError), name


def test_import_is_quiet_and_lazy(tmp_path: Path) -> None:
    code = (
        "import json, os, sys\n"
        "env = dict(os.environ)\n"
        "import runnable\n"
        "heavy = {'papermill', 'pydantic', 'obstore', 'kubernetes', 'boto3', 'nbformat', 'jupyter_client'}\n"
        "print(json.dumps({'loaded': sorted(m for m in sys.modules if m.split('.')[0] in heavy),\n"
        "                  'env_changed': env != dict(os.environ)}))\n"
    )
    done = run_python(code, tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout) == {"loaded": [], "env_changed": False}
    assert sys.modules["runnable"] is runnable
