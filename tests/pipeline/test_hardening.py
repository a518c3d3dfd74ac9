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


SHELL_EXITS = """
    from runnable import Pipeline, PythonTask, ShellTask
    Pipeline(steps=[
        ShellTask(name="s", command="export x=5\\nexport y='two words'\\nexit 3", returns=["x", "y"],
                  secrets=["MY_TOKEN"]),
    ]).execute()
"""


def test_a_shell_task_that_exits_with_a_failure_keeps_its_code_and_leaves_no_secret_on_disk(tmp_path: Path) -> None:
    result = run(tmp_path, SHELL_EXITS, env={"MY_TOKEN": "sup3rs3cretvalue"})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    entry = step(only_record(tmp_path), "s")
    assert "3" in entry["error"]["message"], entry["error"]
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"sup3rs3cretvalue" in p.read_bytes()]
    assert leaked == []


SHELL_EXEC = """
    from runnable import Pipeline, ShellTask
    Pipeline(steps=[ShellTask(name="s", command="export x=5; exec true", returns=["x"])]).execute()
"""


def test_a_shell_task_that_replaces_its_shell_fails_in_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, SHELL_EXEC)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "FileNotFoundError" not in result.stderr, result.stderr
    assert "without giving back its returns" in step(only_record(tmp_path), "s")["error"]["message"]
