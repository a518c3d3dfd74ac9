"""Every example in ``examples/pipelines`` runs unchanged, as a script, in a fresh working folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli, run_python
from tests.pipeline.helpers import only_record, records, step

EXAMPLES = REPO / "examples" / "pipelines"


def run_example(name: str, cwd: Path, env: dict[str, str] | None = None, ok: bool = True) -> dict[str, Any]:
    done = run_python(EXAMPLES / name, cwd, env={"PYTHONPATH": str(REPO), **(env or {})})
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    record: dict[str, Any] = records(cwd)[-1]
    record["_stdout"] = done.stdout
    return record


def test_sequential(tmp_path: Path) -> None:
    record = run_example("sequential.py", tmp_path)
    assert "5 rows, total 20.0" in record["_stdout"]
    assert record["metrics"] == {"mean": [[0, 4.0]]} and record["parameters"] == {"rows": 5, "scale": 2.0}


def test_catalog(tmp_path: Path) -> None:
    record = run_example("catalog.py", tmp_path)
    assert step(record, "count")["returns"] == {"rows": 2}
    assert step(record, "count")["inputs"][0]["source"]["step"] == "write"


def test_shell_and_notebook(tmp_path: Path) -> None:
    pytest.importorskip("papermill")
    record = run_example("shell_and_notebook.py", tmp_path, env={"RUNNABLE_PRM_who": "world"})
    assert "hello world" in record["_stdout"] and "doubled is 42" in record["_stdout"]
    assert "double.executed.ipynb" in {f["path"] for f in record["files"]}


def test_parallel(tmp_path: Path) -> None:
    record = run_example("parallel.py", tmp_path)
    assert "12 features, 3 labels" in record["_stdout"]
    assert set(step(record, "prepare")["branches"]) == {"features", "labels"}


def test_map_reduce(tmp_path: Path) -> None:
    record = run_example("map_reduce.py", tmp_path)
    assert "sum of squares: 30" in record["_stdout"]
    assert len(step(record, "squares")["branches"]) == 4


def test_conditional(tmp_path: Path) -> None:
    assert "reading CSV" in run_example("conditional.py", tmp_path)["_stdout"]


def test_loop(tmp_path: Path) -> None:
    record = run_example("loop.py", tmp_path)
    assert step(record, "tune")["iterations"] == 2 and "attempt 1: score 0.9" in record["_stdout"]


def test_on_failure(tmp_path: Path) -> None:
    record = run_example("on_failure.py", tmp_path)
    assert record["status"] == "SUCCESS" and "using yesterday's data" in record["_stdout"]
    assert step(record, "fetch")["status"] == "FAIL"


def test_retry(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "retry.py", tmp_path / "retry.py")
    first = run_python(tmp_path / "retry.py", tmp_path)
    assert first.returncode == 1 and "the GPU is not ready" in first.stderr
    failed = only_record(tmp_path)
    (tmp_path / "ready").write_text("")
    again = run_cli(tmp_path, "retry", failed["run_id"])
    assert again.returncode == 0, again.stderr
    assert "preparing" not in again.stdout and "training with seed 7 on prepared data" in again.stdout
    retried = records(tmp_path)[-1]
    assert retried["job"]["retry_of"] == failed["run_id"] and retried["status"] == "SUCCESS"
    summary = json.loads(again.stdout[again.stdout.index("{\n"):])
    assert summary["run_id"] == retried["run_id"]
