"""A secret's value spelled in the job's own description (a shell command, a parameter, a tag,
the command line) is masked in every field of the record, from the RUNNING record on, in the
summary and in ``runs show``: the record is masked as a whole, not field by field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_python

SECRET = "s3cr3t-Pw-71x"


def _everything_written(workdir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in workdir.rglob("*") if p.is_file() and p.name != "job.py")


def _summary(stdout: str) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(stdout[stdout.index("{"):stdout.rindex("}") + 1])
    return parsed


@pytest.mark.parametrize("fail", [False, True])
def test_a_secret_inside_a_shell_command_is_masked_everywhere(workdir: Path, fail: bool) -> None:
    # The job copies its own RUNNING record while it runs: that record is written before the job
    # starts, from the job's description, so it must be masked already.
    command = f"cat .run_log_store/*.json > running.json; echo curl -u admin:{SECRET} http://db"
    if fail:
        command += "; exit 3"
    code = textwrap.dedent(
        f"""
        import os, sys
        from runnable import ShellJob
        command = {command!r}.replace({SECRET!r}, os.environ["DB_PASSWORD"])
        ShellJob(command=command, secrets=["DB_PASSWORD"]).execute(tags=["t-" + os.environ["DB_PASSWORD"]])
        """
    )
    (workdir / "job.py").write_text(code)
    done = run_python(Path("job.py"), workdir, SECRET, env={"DB_PASSWORD": SECRET})
    assert done.returncode == (1 if fail else 0), done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "curl -u admin:***** http://db" in done.stdout  # the command's own output, masked
    running = json.loads((workdir / "running.json").read_text())
    assert running["status"] == "RUNNING"
    assert running["job"]["command"].startswith("cat .run_log_store/*.json > running.json; echo curl -u admin:*****")
    summary = _summary(done.stdout)
    record = json.loads((workdir / str(summary["run_record"])).read_text())
    assert "admin:***** http://db" in record["job"]["command"]
    assert record["tags"] == ["t-*****"]
    assert record["environment"]["argv"][-1] == "*****"  # the script was given the value as an argument
    assert record["status"] == ("FAIL" if fail else "SUCCESS")
    assert SECRET not in _everything_written(workdir)
    shown = run_cli(workdir, "runs", "show", str(summary["run_id"]))
    assert shown.returncode == 0, shown.stderr
    assert "admin:*****" in shown.stdout and SECRET not in shown.stdout + shown.stderr
    as_json = run_cli(workdir, "runs", "show", str(summary["run_id"]), "--json")
    assert SECRET not in as_json.stdout and "admin:*****" in as_json.stdout


def test_a_secret_passed_as_a_parameter_of_a_python_job_is_masked(workdir: Path) -> None:
    code = textwrap.dedent(
        """
        import os
        from runnable import PythonJob

        def connect(dsn: str, retries: int = 2):
            return {"dsn": dsn}

        PythonJob(function=connect, returns=["out"], secrets=["DB_PASSWORD"]).execute()
        """
    )
    (workdir / "job.py").write_text(code)
    env = {"DB_PASSWORD": SECRET, "RUNNABLE_PRM_dsn": f"postgres://u:{SECRET}@h/db"}
    done = run_python(Path("job.py"), workdir, env=env)
    assert done.returncode == 0, done.stderr
    record = json.loads((workdir / str(_summary(done.stdout)["run_record"])).read_text())
    assert record["parameters"]["dsn"] == "postgres://u:*****@h/db"
    assert record["returns"] == {"out": {"dsn": "postgres://u:*****@h/db"}}
    assert SECRET not in _everything_written(workdir) + done.stdout + done.stderr


def test_a_short_secret_does_not_break_the_record(workdir: Path) -> None:
    # A secret that happens to be a word of runnable's own fields ("SUCCESS") or a digit of the
    # duration must not make the record unreadable: those fields are runnable's, not the job's.
    code = "from runnable import ShellJob\nShellJob(command='echo SUCCESS', secrets=['S']).execute()\n"
    (workdir / "job.py").write_text(code)
    done = run_python(Path("job.py"), workdir, env={"S": "SUCCESS"})
    assert done.returncode == 0, done.stderr
    summary = _summary(done.stdout)
    assert summary["status"] == "SUCCESS"
    record = json.loads((workdir / str(summary["run_record"])).read_text())
    assert record["status"] == "SUCCESS" and record["job"]["command"] == "echo *****"
    listed = run_cli(workdir, "runs", "list")
    assert listed.returncode == 0 and "UNREADABLE" not in listed.stdout, listed.stdout + listed.stderr


def test_the_record_a_container_executor_writes_for_a_job_that_never_started_is_masked(tmp_path: Path) -> None:
    # The outer process writes that record itself, from the job's description.
    from runnable import ShellJob
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.config.loading import load
    from runnable.errors import JobFailedError
    from runnable.executors.remote import record_outcome

    store = FileSystemRunLogStore(tmp_path / "runs")
    store.make_location()
    job = ShellJob(command=f"curl -u admin:{SECRET} http://db", secrets=["DB_PASSWORD"])
    with pytest.raises(JobFailedError):
        record_outcome(store, job, load(None), "never-1", "2026-01-01T00:00:00+00:00", {"exit_code": 125},
                       "the container exited with code 125", False, [SECRET])
    text = (tmp_path / "runs" / "never-1.json").read_text()
    assert SECRET not in text and "admin:*****" in text


def test_a_secret_that_is_a_pid_digit_does_not_hide_the_run_s_process(workdir: Path) -> None:
    # The record's host, pid and scratch folder are how a RUNNING run is known to be alive and where
    # its log is: a secret such as "1" must not mask them (argv and the command are masked).
    import os as _os

    code = ("import os\nfrom runnable import ShellJob\n"
            "ShellJob(command='cat .run_log_store/*.json > running.json', secrets=['S']).execute()\n")
    (workdir / "job.py").write_text(code)
    done = run_python(Path("job.py"), workdir, env={"S": "1"})
    assert done.returncode == 0, done.stderr
    running = json.loads((workdir / "running.json").read_text())
    assert isinstance(running["environment"]["pid"], int) and running["environment"]["pid"] != _os.getpid()
    assert running["environment"]["scratch"] and "*****" not in running["environment"]["scratch"]
    assert running["catalog"]["algorithm"] == "md5"
    listed = run_cli(workdir, "runs", "list")
    assert listed.returncode == 0 and "SUCCESS" in listed.stdout, listed.stdout + listed.stderr
