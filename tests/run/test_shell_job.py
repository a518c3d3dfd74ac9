"""Shell jobs: output captured, parameters as environment variables, exit codes recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from runnable import Catalog, JobFailedError, ShellJob
from tests.conftest import REPO, run_python


def record_of(run_id: str) -> dict[str, Any]:
    return json.loads(Path(f".run_log_store/{run_id}.json").read_text())


def test_shell_job_output_and_files(workdir: Path) -> None:
    command = "mkdir -p out && echo 'to stdout' && echo 'to stderr' >&2 && printf 'data\\n' > out/d.txt"
    record = ShellJob(command=command, catalog=Catalog(put=["out/"])).execute()
    data = record_of(record.run_id)
    assert data["status"] == "SUCCESS"
    assert data["job"] == {"kind": "shell", "name": "shell", "command": command}
    assert data["returns"] == {"exit_code": 0}
    assert data["files"][0]["path"] == "out/d.txt"
    assert data["files"][0]["hash"] == {"md5": hashlib.md5(b"data\n").hexdigest()}
    log = Path(".catalog", record.run_id, "shell.execution.log").read_text()
    assert "to stdout\n" in log and "to stderr\n" in log


def test_shell_job_gets_parameters_as_environment_variables(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("params.yaml").write_text("greeting: hello\ncount: 3\nsizes: [1, 2]\nnested: {a: 1}\n")
    monkeypatch.setenv("RUNNABLE_PRM_count", "4")
    command = 'printf "%s|%s|%s|%s" "$greeting" "$count" "$sizes" "$nested" > env.txt'
    record = ShellJob(command=command, name="env", catalog=Catalog(put=["env.txt"])).execute(
        parameters_file="params.yaml"
    )
    assert Path("env.txt").read_text() == 'hello|4|[1, 2]|{"a": 1}'
    assert record_of(record.run_id)["parameters"] == {"greeting": "hello", "count": 4, "sizes": [1, 2],
                                                      "nested": {"a": 1}}


def test_non_zero_exit_fails_with_the_exit_code(workdir: Path) -> None:
    command = "echo partial > part.txt; echo 'something went wrong' >&2; exit 3"
    with pytest.raises(JobFailedError, match="exited with code 3") as caught:
        ShellJob(command=command, name="broken", catalog=Catalog(put=["part.txt"])).execute(job_id="sh-fail")
    data = record_of("sh-fail")
    assert caught.value.record.status == "FAIL" and data["status"] == "FAIL"
    assert caught.value.exit_code == 3  # the caller gets the command's exit code too
    assert data["error"]["exit_code"] == 3 and data["returns"] == {}
    assert "exited with code 3" in data["error"]["message"]
    assert [f["path"] for f in data["files"]] == ["part.txt"]  # outputs are captured even on failure
    log = Path(".catalog/sh-fail/broken.execution.log").read_text()
    assert "something went wrong" in log and "exited with code 3" in log


def test_killed_command_reports_the_signal(workdir: Path) -> None:
    with pytest.raises(JobFailedError, match="signal SIGKILL") as caught:
        ShellJob(command="kill -9 $$", name="killed").execute(job_id="sh-kill")
    assert record_of("sh-kill")["error"]["exit_code"] == -9 == caught.value.exit_code


def test_shell_job_failure_exits_a_script_non_zero(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("from runnable import ShellJob\nShellJob(command='false').execute()\n")
    done = run_python(tmp_path / "job.py", tmp_path, env={"PYTHONPATH": str(REPO)})
    assert done.returncode != 0
    assert '"status": "FAIL"' in done.stdout and "exited with code 1" in done.stderr


def test_empty_command_is_refused() -> None:
    with pytest.raises(TypeError, match="non-empty"):
        ShellJob(command="  ")


def test_a_command_too_long_to_start_is_named_not_a_parameter(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNABLE_PRM_n", "1")
    with pytest.raises(JobFailedError, match="the command could not start: it is 200013 bytes long"):
        ShellJob(command="echo " + "x" * 200_000 + " | wc -c", name="long").execute()


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("a=b", "1", "parameter 'a=b' cannot be passed to a shell command"),
    ("text", "a\0b", "parameter 'text' holds a NUL character"),
    ("big", "x" * 3_000_000, "the largest parameter is 'big' (3000000 characters)"),
])
def test_a_parameter_that_cannot_be_an_environment_variable_is_named(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    Path("params.yaml").write_text(json.dumps({name: value}))
    with pytest.raises(JobFailedError) as failed:
        ShellJob(command="touch ran.txt", name="env").execute(parameters_file="params.yaml")
    assert expected in str(failed.value) and "ParameterError" in str(failed.value)
    assert not Path("ran.txt").exists()
