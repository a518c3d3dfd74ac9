"""Shared fixtures: every test runs in its own empty working folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent

# Property tests explore new examples on every run on a developer's machine; in CI (CI=true, as
# .ci/run is run) they replay the same examples, so a submission's result does not depend on luck.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def private_temp_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$TMPDIR for the whole session, in pytest's own temporary folder (which pytest prunes).

    Runs keep their scratch folder there; a run a test kills on purpose leaves it behind, and it
    must not pile up in /tmp.
    """
    folder = tmp_path_factory.mktemp("tmpdir")
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(folder))
    patch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(autouse=True, scope="session")
def private_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The hash cache's folder for the whole session, never the real ``~/.cache/runnable``.

    ``RUNNABLE_CACHE_DIR`` for this process; ``XDG_CACHE_HOME`` as well, because ``run_python`` and
    ``run_cli`` hand subprocesses the environment without any ``RUNNABLE_*`` variable.
    """
    folder = tmp_path_factory.mktemp("cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("RUNNABLE_CACHE_DIR", str(folder / "runnable"))
    patch.setenv("XDG_CACHE_HOME", str(folder))
    yield folder
    patch.undo()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder, made the current directory, with no RUNNABLE_* variables set."""
    for key in list(os.environ):
        if key.startswith("RUNNABLE_"):
            monkeypatch.delenv(key)
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    yield folder


def run_python(code_or_file: str | Path, cwd: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a Python script (a path) or code (a string) in a real subprocess with this interpreter."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    full_env.update(env or {})
    if isinstance(code_or_file, Path):
        cmd = [sys.executable, str(code_or_file), *args]
    else:
        cmd = [sys.executable, "-c", code_or_file, *args]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``runnable`` command line in a real subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "runnable", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False, input=input)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four real runs, once per test module: alpha (3 rows), beta (5 rows), gamma (failed), delta
    (hash only); see tests/history_helpers.py. Modules with another kind of project define their own."""
    from tests.history_helpers import make_project  # here: history_helpers imports this module

    return make_project(tmp_path_factory.mktemp("history") / "project")


@pytest.fixture
def own(project: Path, tmp_path: Path) -> Path:
    """A private copy of ``project``, for tests that change it."""
    from tests.history_helpers import copy_project

    return copy_project(project, tmp_path / "own")
