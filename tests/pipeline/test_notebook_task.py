"""A NotebookTask in a pipeline: parameters in through papermill, returns out from its variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pipeline.helpers import only_record, run, step

pytest.importorskip("papermill")


def _notebook(path: Path) -> None:
    def cell(source: str, tags: list[str] | None = None) -> dict[str, object]:
        return {"cell_type": "code", "execution_count": None, "metadata": {"tags": tags or []}, "outputs": [],
                "source": source}

    path.write_text(json.dumps({
        "cells": [cell("rows = 1", ["parameters"]), cell("doubled = rows * 2\nprint('doubled', doubled)")],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))


def test_notebook_task_gets_parameters_and_returns_variables(tmp_path: Path) -> None:
    _notebook(tmp_path / "double.ipynb")
    done = run(tmp_path, """
        from runnable import NotebookTask, Pipeline, PythonTask
        def make(): return 21
        def show(doubled): print("got", doubled)
        Pipeline(steps=[PythonTask(name="make", function=make, returns=["rows"]),
                        NotebookTask(name="nb", notebook="double.ipynb", returns=["doubled"]),
                        PythonTask(name="show", function=show)]).execute()
        """)
    assert done.returncode == 0, done.stderr
    assert "got 42" in done.stdout
    record = only_record(tmp_path)
    assert step(record, "nb")["returns"] == {"doubled": 42}
    executed = tmp_path / ".catalog" / record["run_id"] / "nb.executed.ipynb"
    assert "doubled 42" in executed.read_text()


def test_a_failing_notebook_fails_its_step_and_keeps_the_executed_notebook(tmp_path: Path) -> None:
    _notebook(tmp_path / "double.ipynb")
    done = run(tmp_path, """
        from runnable import NotebookTask, Pipeline
        Pipeline(steps=[NotebookTask(name="nb", notebook="double.ipynb", returns=["tripled"])]).execute()
        """)
    assert done.returncode == 1
    record = only_record(tmp_path)
    assert "the notebook has no variable 'tripled'" in step(record, "nb")["error"]["message"]
    assert "nb.executed.ipynb" in {f["path"] for f in record["files"]}
