"""Bad input to the command line: where `catalog get` may write, scripts `execute-job` cannot run,
dates and ages beyond what can be counted, and restore patterns that leave the run. Each is one
`Error:` line on stderr with exit status 2, no traceback, and nothing on disk changes."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from runnable.errors import UsageError
from tests.conftest import run_cli
from tests.test_cli_errors import one_line_error, snapshot


def usage_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a command that must exit 2 (bad input)."""
    line = one_line_error(done)
    assert done.returncode == 2, done.stderr
    return line


# -- catalog get --to: never into runnable's own folders ------------------------------------------
@pytest.mark.parametrize("to,inside,equal", [
    (".catalog/alpha-run-0001", ".catalog", False),  # another run's stored copies
    (".catalog", ".catalog", True),
    (".catalog/.objects", ".catalog", False),
    (".catalog/new/sub", ".catalog", False),  # not there yet: would be created inside
    ("data_folder/../.catalog/beta-run-0002", ".catalog", False),  # '..' spelling
    (".run_log_store", ".run_log_store", True),
    (".run_log_store/sub", ".run_log_store", False),
])
def test_get_refuses_a_target_in_the_catalog_or_run_log_store(own: Path, to: str, inside: str, equal: bool) -> None:
    before = snapshot(own)
    line = usage_error(run_cli(own, "catalog", "get", "beta-run-0002", "--to", to, "--force"))
    where = "is" if equal else "is inside"
    what = "catalog" if inside == ".catalog" else "run-log store"
    assert line.startswith(f"Error: cannot restore into {to}: it {where} the {what} folder {inside}"), line
    assert line.endswith("; choose a folder outside it"), line
    assert snapshot(own) == before
    assert run_cli(own, "catalog", "verify", "--all").returncode == 0


def test_get_refuses_a_link_into_the_catalog(own: Path) -> None:
    (own / "restored").symlink_to(own / ".catalog" / "alpha-run-0001")
    before = snapshot(own)
    line = usage_error(run_cli(own, "catalog", "get", "beta-run-0002", "--to", "restored", "--force"))
    assert line.startswith("Error: cannot restore into restored: it is inside the catalog folder .catalog "
                           f"(it resolves to {own.resolve() / '.catalog' / 'alpha-run-0001'})"), line
    assert snapshot(own) == before
    assert run_cli(own, "catalog", "verify", "--all").returncode == 0


def test_get_refuses_the_configured_stores_and_allows_a_folder_beside_them(own: Path) -> None:
    (own / "conf.yaml").write_text("catalog: {type: file-system, config: {catalog_location: .catalog}}\n"
                                   "run-log-store: {type: file-system, config: {log_folder: .run_log_store}}\n")
    absolute = str(own / ".run_log_store" / "x")
    line = usage_error(run_cli(own, "catalog", "get", "beta-run-0002", "--to", absolute, "--config", "conf.yaml"))
    assert line.startswith(f"Error: cannot restore into {absolute}: it is inside the run-log store folder "
                           ".run_log_store"), line
    beside = run_cli(own, "catalog", "get", "beta-run-0002", "--to", ".catalog-copy")  # a name that starts alike
    assert beside.returncode == 0, beside.stdout + beside.stderr
    assert (own / ".catalog-copy" / "df.csv").is_file()


def test_get_into_the_working_folder_that_holds_the_catalog_still_works(own: Path) -> None:
    (own / "df.csv").unlink()
    done = run_cli(own, "catalog", "get", "beta-run-0002", "df.csv", "--to", ".")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (own / "df.csv").read_bytes() == (own / ".catalog" / "beta-run-0002" / "df.csv").read_bytes()


def test_the_library_refuses_a_target_in_the_catalog(own: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runnable
    from runnable.errors import RestoreError

    monkeypatch.delenv("RUNNABLE_CONFIGURATION_FILE", raising=False)
    monkeypatch.chdir(own)
    with pytest.raises(RestoreError, match="it is inside the catalog folder"):
        runnable.get_run("beta-run-0002").restore(to=own / ".catalog" / "alpha-run-0001", force=True)
    with pytest.raises(RestoreError, match="it is inside the run-log store"):
        runnable.get_run("beta-run-0002").restore(to=own / ".run_log_store" / "x")
    assert not (own / ".run_log_store" / "x").exists()
    assert run_cli(own, "catalog", "verify", "--all").returncode == 0


# -- catalog get PATTERN: patterns name the run's files ----------------------------------------------
@pytest.mark.parametrize("pattern,why", [("../x", "uses '..'"), ("/etc/passwd", "is an absolute path"),
                                         ("~/x", "starts with '~'"), (".", "names every file")])
def test_a_restore_pattern_is_not_called_a_put_pattern(project: Path, tmp_path: Path, pattern: str,
                                                       why: str) -> None:
    line = usage_error(run_cli(project, "catalog", "get", "alpha-run-0001", pattern, "--to", str(tmp_path / "r")))
    assert "put pattern" not in line and "working folder" not in line
    assert line.startswith(f"Error: pattern {pattern!r} {why}"), line
    assert "alpha-run-0001" in line  # whose files the patterns select
    assert not (tmp_path / "r").exists()


# -- execute-job: a script that runs no job ---------------------------------------------------------
@pytest.mark.parametrize("script,detail", [
    ("x = 1\n", ""),
    ("def main():\n    return 5\n", " (its main() returned 5, not a job)"),
    ("def main():\n    pass\n", " (its main() returned None, not a job)"),
])
def test_a_script_that_runs_no_job_is_an_error(workdir: Path, script: str, detail: str) -> None:
    (workdir / "nojob.py").write_text(script)
    line = usage_error(run_cli(workdir, "execute-job", "nojob.py"))
    assert line == (f"Error: nojob.py ran no job{detail}: call execute() on a job in the script, or define "
                    "main() that returns the job (execute-job runs it); see docs/jobs.md")
    assert not (workdir / ".run_log_store").exists()


def test_main_that_runs_its_job_itself_is_fine(workdir: Path) -> None:
    (workdir / "job.py").write_text("from runnable import ShellJob\n"
                                    "def main():\n    ShellJob(command='true').execute(job_id='self-run-1')\n")
    done = run_cli(workdir, "execute-job", "job.py")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run_id"] == "self-run-1"


def test_main_only_script_is_run_as_the_script_for_a_container(workdir: Path) -> None:
    """The container runs the script again, so main() must be called while the script is __main__."""
    (workdir / "job.py").write_text("from runnable import ShellJob\ndef main():\n    return ShellJob(command='echo hi')\n")
    (workdir / "c.yaml").write_text("job-executor: {type: local-container, config: {image: img:1, dry_run: true}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", "--run-id", "dry-1")
    assert done.returncode == 0, done.stderr
    assert f"runnable execute-job {workdir / 'job.py'} " in done.stdout


# -- execute-job: a file it cannot run ---------------------------------------------------------------
def test_a_shell_script_is_not_a_python_script(workdir: Path) -> None:
    (workdir / "script.sh").write_text("#!/bin/sh\necho hi > a.txt\n")
    line = usage_error(run_cli(workdir, "execute-job", "script.sh"))
    assert line.startswith("Error: script.sh is not a Python script"), line
    assert "ShellJob" in line
    assert not (workdir / "a.txt").exists()


def test_a_shell_script_that_python_could_parse_is_not_run(workdir: Path) -> None:
    (workdir / "ls.sh").write_text("ls\n")  # valid Python syntax, but not Python
    line = usage_error(run_cli(workdir, "execute-job", "ls.sh"))
    assert line.startswith("Error: ls.sh is not a Python script"), line


def test_a_notebook_points_at_notebook_job(workdir: Path) -> None:
    (workdir / "report.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "x": null}\n')
    line = usage_error(run_cli(workdir, "execute-job", "report.ipynb"))
    assert line.startswith("Error: report.ipynb is a Jupyter notebook, not a Python script"), line
    assert "NotebookJob(notebook='report.ipynb')" in line


def test_a_syntax_error_names_the_file_and_line(workdir: Path) -> None:
    (workdir / "syn.py").write_text("x = 1\ndef f(:\n    pass\n")
    line = usage_error(run_cli(workdir, "execute-job", "syn.py"))
    assert line == "Error: syntax error in syn.py:2: invalid syntax; fix the script and run it again"


def test_main_with_arguments_is_an_error(workdir: Path) -> None:
    (workdir / "args.py").write_text("from runnable import ShellJob\n"
                                     "def main(x, y=1):\n    return ShellJob(command='echo hi')\n")
    line = usage_error(run_cli(workdir, "execute-job", "args.py"))
    assert line.startswith("Error: args.py: main() must take no arguments (it takes (x, y=1)); "), line
    assert not (workdir / ".run_log_store").exists()


USER_ERROR = """\
import json

def load():
    return json.loads("{not json")

load()
"""


def test_an_exception_in_the_script_shows_the_scripts_traceback_only(workdir: Path) -> None:
    (workdir / "boom.py").write_text(USER_ERROR)
    done = run_cli(workdir, "execute-job", "boom.py")
    assert done.returncode == 1
    frames = re.findall(r'^  File "([^"]+)", line \d+, in (\S+)$', done.stderr, re.M)
    assert frames[:2] == [("boom.py", "<module>"), ("boom.py", "load")], done.stderr
    assert all("click" not in f and "runpy" not in f and "runnable" not in f for f, _ in frames), done.stderr
    assert done.stderr.startswith("Traceback (most recent call last):\n")
    assert done.stderr.rstrip().splitlines()[-1].startswith("json.decoder.JSONDecodeError: ")


def test_an_exception_in_main_shows_the_scripts_traceback_only(workdir: Path) -> None:
    (workdir / "boom.py").write_text("def main():\n    raise KeyError('missing')\n")
    done = run_cli(workdir, "execute-job", "boom.py")
    assert done.returncode == 1
    assert done.stderr == ('Traceback (most recent call last):\n  File "boom.py", line 2, in main\n'
                           "    raise KeyError('missing')\nKeyError: 'missing'\n")


def test_a_failing_job_still_fails_as_documented(workdir: Path) -> None:
    (workdir / "fail.py").write_text("from runnable import PythonJob\n"
                                     "def clean():\n    raise ValueError('row 17 is malformed')\n"
                                     "PythonJob(function=clean).execute()\n")
    done = run_cli(workdir, "execute-job", "fail.py")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"] == "ValueError: row 17 is malformed"
    assert done.stderr.rstrip().endswith("ValueError: row 17 is malformed")
    assert "click" not in done.stderr and not done.stderr.startswith("Error:")


# -- dates and ages ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1000000d", "99999999999999d", "9" * 400 + "w", "20000000h"])
def test_an_age_beyond_1970_is_one_line(project: Path, value: str) -> None:
    for option, command in (("--older-than", ["gc", "--dry-run"]), ("--since", ["runs", "list"])):
        line = usage_error(run_cli(project, *command, option, value))
        assert line.startswith(f"Error: {option} {value!r} reaches back before 1970-01-01, when no run can "
                               "have started; give at most "), line


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/New_York"])
@pytest.mark.parametrize("value,problem", [
    ("0001-01-01", "is before 1970-01-01, when no run can have started"),
    ("1969-12-31T23:00", "is before 1970-01-01, when no run can have started"),
    ("9999-12-31", "is after 9999-12-30, the last date runnable can compare"),
    ("9999-12-31T23:59:59", "is after 9999-12-30, the last date runnable can compare"),
])
def test_a_date_out_of_range_is_one_line(project: Path, value: str, problem: str, tz: str) -> None:
    line = usage_error(run_cli(project, "runs", "list", "--since", value, env={"TZ": tz}))
    assert line == (f"Error: --since {value!r} {problem}; give a date from 1970-01-01 to 9999-12-30, "
                    "or a time ago (7d, 12h)")


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_dates_and_ages_inside_the_range_still_work(project: Path, tz: str) -> None:
    env = {"TZ": tz}
    every = run_cli(project, "runs", "list", "--since", "1970-01-01", "--json", env=env)
    assert every.returncode == 0 and len(json.loads(every.stdout)) == 4, every.stderr
    days = (datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
    ago = run_cli(project, "runs", "list", "--since", f"{days - 1}d", "--json", env=env)
    assert len(json.loads(ago.stdout)) == 4, ago.stderr
    future = run_cli(project, "runs", "list", "--since", "9999-12-30T23:59:59", env=env)
    assert future.returncode == 0 and "no runs match" in future.stdout
    old = run_cli(project, "gc", "--dry-run", "--older-than", f"{days - 1}d")
    assert old.returncode == 0 and "dry run: 0 run(s)" in old.stdout, old.stderr


def test_the_library_gives_the_same_errors_in_its_own_words() -> None:
    from runnable.when import parse_age, parse_duration, parse_moment

    now = datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match=r"^age '1000000d' reaches back before 1970-01-01"):
        parse_age("1000000d", now=now)
    assert parse_age("19844d", now=now).days == 19844  # 1970-01-01 + 19844 days = 2024-05-01
    with pytest.raises(UsageError, match=r"^age '19845d' .* give at most 19844d"):
        parse_age("19845d", now=now)
    with pytest.raises(UsageError, match=r"^duration '99999999999999d' is too long"):
        parse_duration("99999999999999d")
    with pytest.raises(UsageError, match=r"^moment '0001-01-01' is before 1970-01-01"):
        parse_moment("0001-01-01")
    with pytest.raises(UsageError, match=r"^moment '1000000d' reaches back before 1970-01-01"):
        parse_moment("1000000d", now=now)
    with pytest.raises(UsageError, match=r"^moment '0001-01-01' is before 1970-01-01"):
        parse_moment(date(1, 1, 1))
    with pytest.raises(UsageError, match=r"^moment '9999-12-31 23:59:59' is after 9999-12-30"):
        parse_moment(datetime(9999, 12, 31, 23, 59, 59))
    assert parse_moment(date(1970, 1, 1)).year == 1970
