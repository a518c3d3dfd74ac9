"""Pipelines after the hostile review, part 2: parameters that are objects, shell returns, one-line
errors before anything runs, secrets kept to their own task (real runs of real scripts)."""

from __future__ import annotations

from pathlib import Path

from tests.pipeline.helpers import only_record, run, step

PLAIN_CLASS_GIVEN_A_DICT = """
    from runnable import Pipeline, PythonTask

    class Model:
        pass

    def make():
        return {"w": 3}

    def evaluate(model: Model):
        print("never")

    Pipeline(steps=[
        PythonTask(name="make", function=make, returns=["model"]),
        PythonTask(name="evaluate", function=evaluate),
    ]).execute()
"""


def test_a_value_that_is_not_of_a_plain_annotated_class_fails_in_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, PLAIN_CLASS_GIVEN_A_DICT)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "parameter 'model'" in line]
    assert lines and "Model" in lines[0] and "dict" in lines[0], result.stderr
    assert "pydantic" not in result.stderr and "For further information" not in result.stderr, result.stderr
    assert step(only_record(tmp_path), "evaluate")["status"] == "FAIL"
