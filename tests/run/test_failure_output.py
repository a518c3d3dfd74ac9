"""A failed run ends with the job's own traceback once and one line on the run, nothing doubled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runnable import JobFailedError, ShellJob
from tests.conftest import REPO, run_cli, run_python


def last_line_for(run_id: str, reason: str, log: str) -> str:
    return (f"JobFailedError: run {run_id} failed: {reason}; log .catalog/{run_id}/{log}, "
            f"record .run_log_store/{run_id}.json; exiting with code 1")


def summary_of(stdout: str) -> dict[str, str]:
    return json.loads(stdout[stdout.index("{\n"):])  # type: ignore[no-any-return]


def test_a_failed_shell_job_names_its_error_once_and_ends_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("from runnable import ShellJob\n"
                                     "ShellJob(command='echo oops >&2; exit 3').execute()\n")
    done = run_python(tmp_path / "job.py", tmp_path, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    run_id = summary_of(done.stdout)["run_id"]
    assert "Traceback" not in done.stderr  # a command has no Python traceback to show
    assert "JobFailedError: command" not in done.stderr and done.stderr.count("JobFailedError") == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "oops"  # the command's own output first
    assert lines[-1] == last_line_for(run_id, "command exited with code 3: echo oops >&2; exit 3",
                                      "shell.execution.log")
    for path in (f".catalog/{run_id}/shell.execution.log", f".run_log_store/{run_id}.json"):
        assert (tmp_path / path).is_file()  # the line points at what is really there


def test_execute_job_prints_the_same_one_line(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("from runnable import ShellJob\nShellJob(command='exit 4').execute()\n")
    done = run_cli(tmp_path, "execute-job", "job.py")
    assert done.returncode == 1
    run_id = summary_of(done.stdout)["run_id"]
    assert done.stderr.splitlines()[-1] == last_line_for(run_id, "command exited with code 4: exit 4",
                                                         "shell.execution.log")
    assert "Traceback" not in done.stderr


def test_python_callers_still_get_the_exception(workdir: Path) -> None:
    with pytest.raises(JobFailedError) as caught:
        ShellJob(command="exit 5").execute(job_id="five-1")
    assert caught.value.exit_code == 5
    assert str(caught.value) == ("run five-1 failed: command exited with code 5: exit 5; log "
                                 ".catalog/five-1/shell.execution.log, record .run_log_store/five-1.json")


def test_several_storing_problems_are_counted_plainly(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("from runnable import Catalog, PythonJob\n"
                                     "PythonJob(function=print, catalog=Catalog(put=['a.txt', 'b.txt'])).execute()\n")
    done = run_python(tmp_path / "job.py", tmp_path, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert "more problems" not in done.stdout + done.stderr
    assert summary_of(done.stdout)["error"] == (f"PatternError: put pattern 'a.txt' matched no file in {tmp_path} "
                                                "(and 1 more: see above or in the execution log)")
    assert f"put pattern 'b.txt' matched no file in {tmp_path}" in done.stderr
