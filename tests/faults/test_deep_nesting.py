"""Values nested hundreds of levels deep: a run record cannot hold them (it is written and read by
recursive code), so the run is refused or ends FAIL with one line naming the value, never a raw
RecursionError and never a record left RUNNING."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.helpers import cli, run_job, write_script

RETURNS_DEEP = """\
from runnable import PythonJob

def deep():
    value = []
    for _ in range(950):
        value = [value]
    return value

PythonJob(function=deep, returns=["tower"]).execute()
"""

TAKES_X = """\
from runnable import PythonJob

def takes(x):
    return None

PythonJob(function=takes).execute()
"""


def _records(work: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (work / ".run_log_store").glob("*.json")]


def test_a_return_value_nested_950_deep_fails_the_run_naming_it(tmp_path: Path) -> None:
    write_script(tmp_path, "job.py", RETURNS_DEEP)

    done = run_job(tmp_path, tmp_path / "job.py")

    assert done.returncode == 1
    assert "RecursionError" not in done.stderr, done.stderr[-2000:]
    assert "runnable: error: ParameterError: return value 'tower' is nested more than 100 levels deep" in done.stderr
    (record,) = _records(tmp_path)
    assert record["status"] == "FAIL" and record["returns"] == {}
    assert "return value 'tower'" in record["error"]["message"]


@pytest.mark.parametrize("depth, words", [(900, "is nested too deeply to be read"),
                                          (150, "parameter 'x' is nested more than 100 levels deep")])
def test_a_parameters_file_nested_deep_is_refused_in_one_line(tmp_path: Path, depth: int, words: str) -> None:
    write_script(tmp_path, "job.py", TAKES_X)
    (tmp_path / "params.yaml").write_text("x: " + "[" * depth + "]" * depth + "\n")

    done = cli(tmp_path, "execute-job", "job.py", "--parameters", "params.yaml")

    assert done.returncode != 0
    assert "RecursionError" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "params.yaml" in done.stderr and words in done.stderr
    assert [r["status"] for r in _records(tmp_path)] in ([], ["FAIL"])  # never RUNNING


def test_a_parameter_nested_deep_in_the_environment_is_refused(tmp_path: Path) -> None:
    write_script(tmp_path, "job.py", TAKES_X)

    done = run_job(tmp_path, tmp_path / "job.py", RUNNABLE_PRM_x="[" * 900 + "]" * 900)

    assert done.returncode == 1
    assert "RecursionError" not in done.stderr, done.stderr[-2000:]
    assert "parameter 'x' is nested more than 100 levels deep" in done.stderr
    assert [r["status"] for r in _records(tmp_path)] in ([], ["FAIL"])


def test_nesting_up_to_the_limit_is_recorded(tmp_path: Path) -> None:
    write_script(tmp_path, "job.py", RETURNS_DEEP.replace("950", "99"))

    done = run_job(tmp_path, tmp_path / "job.py")

    assert done.returncode == 0, done.stderr
    (record,) = _records(tmp_path)
    depth, value = 0, record["returns"]["tower"]
    while value:
        value, depth = value[0], depth + 1
    assert record["status"] == "SUCCESS" and depth == 99
