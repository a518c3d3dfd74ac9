"""Bad input to the command line: where `catalog get` may write, scripts `execute-job` cannot run,
dates and ages beyond what can be counted, and restore patterns that leave the run. Each is one
`Error:` line on stderr with exit status 2, no traceback, and nothing on disk changes."""

from __future__ import annotations

import json
import py_compile
import re
import shutil
import subprocess
import zipapp
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from runnable.errors import UsageError
from tests.cli.test_cli_errors import one_line_error, snapshot
from tests.conftest import run_cli, run_python


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
RESTORE_PATTERNS = [("../x", "uses '..'"), ("data_folder/../../x", "uses '..'"), ("/etc/passwd", "is an absolute path"),
                    ("~/x", "starts with '~'"), (".", "names every file"), ("./", "names every file"),
                    ("", "is empty")]  # '  ' is a file name like any other (test_catalog_input.py)
RESTORE_RULE = ("; patterns select among the paths run alpha-run-0001 recorded, as `runnable runs show "
                "alpha-run-0001` lists them; give none to restore every file")


@pytest.mark.parametrize("pattern,why", RESTORE_PATTERNS)
def test_a_restore_pattern_is_not_called_a_put_pattern(project: Path, tmp_path: Path, pattern: str,
                                                       why: str) -> None:
    line = usage_error(run_cli(project, "catalog", "get", "alpha-run-0001", pattern, "--to", str(tmp_path / "r")))
    assert "put pattern" not in line and "working folder" not in line
    assert line == f"Error: pattern {pattern!r} {why}{RESTORE_RULE}"  # whose files the patterns select
    assert not (tmp_path / "r").exists()


def test_the_library_words_restore_patterns_the_same(project: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import runnable
    from runnable.errors import PatternError

    monkeypatch.delenv("RUNNABLE_CONFIGURATION_FILE", raising=False)
    monkeypatch.chdir(project)
    run = runnable.get_run("alpha-run-0001")
    for pattern, why in [*RESTORE_PATTERNS, ("a\0b", "contains a NUL byte"), (5, "is not a string")]:
        with pytest.raises(PatternError) as caught:
            run.restore([pattern], to=tmp_path / "r")  # type: ignore[list-item]
        assert str(caught.value) == f"pattern {pattern!r} {why}{RESTORE_RULE}"
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
    *traceback, last = done.stderr.rstrip().splitlines()  # the job's traceback, then one line on the run
    assert traceback[-1] == "ValueError: row 17 is malformed"
    assert last.startswith("JobFailedError: run ") and last.endswith("; exiting with code 1")
    assert "click" not in done.stderr and not done.stderr.startswith("Error:")


# -- execute-job: every form `python FILE` runs ------------------------------------------------------
JOB_LINES = "from runnable import ShellJob\nShellJob(command='echo hi').execute(job_id='ran-1')\n"


def ran(workdir: Path, done: subprocess.CompletedProcess[str], run_id: str = "ran-1") -> None:
    """Assert the command ran the job ``run_id`` and recorded it."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((workdir / ".run_log_store" / f"{run_id}.json").read_text())["status"] == "SUCCESS"


@pytest.mark.parametrize("shebang", [
    "#!/usr/bin/env -S uv run --script\n# /// script\n# requires-python = \">=3.11\"\n# dependencies = []\n# ///\n",
    "#!/usr/bin/env pypy3\n",
    "#!/bin/sh\n",  # the suffix says Python: the first line is only a comment to Python
])
@pytest.mark.parametrize("suffix", [".py", ".pyw"])
def test_a_python_file_runs_whatever_its_shebang_says(workdir: Path, shebang: str, suffix: str) -> None:
    (workdir / f"job{suffix}").write_text(shebang + JOB_LINES)
    ran(workdir, run_cli(workdir, "execute-job", f"job{suffix}"))


def test_a_file_without_a_python_suffix_runs_if_it_is_python(workdir: Path) -> None:
    (workdir / "tool").write_text("#!/usr/bin/env -S uv run --script\n" + JOB_LINES)  # PEP 723 scripts need no .py
    ran(workdir, run_cli(workdir, "execute-job", "tool"))


@pytest.mark.parametrize("name,text,shown", [
    ("deploy", "#!/bin/bash\nls\n", "it starts with '#!/bin/bash'"),  # python could parse it: not run either
    ("deploy", "#!/usr/bin/env ruby\nputs 'hi'\n", "it starts with '#!/usr/bin/env ruby'"),
    ("deploy", "echo $HOME > a.txt\n", "line 1 is not Python: invalid syntax"),
])
def test_a_file_without_a_python_suffix_that_is_not_python_is_refused(workdir: Path, name: str, text: str,
                                                                      shown: str) -> None:
    (workdir / name).write_text(text)
    line = usage_error(run_cli(workdir, "execute-job", name))
    assert line.startswith(f"Error: {name} is not a Python script ({shown}"), line
    assert "ShellJob" in line
    assert not (workdir / "a.txt").exists() and not (workdir / ".run_log_store").exists()


def forget_runs(workdir: Path) -> None:
    """Remove the runs `python FILE` made, so execute-job can use the same run id."""
    shutil.rmtree(workdir / ".run_log_store")
    shutil.rmtree(workdir / ".catalog")


def make_zipapp(folder: Path, main: str, name: str = "app.pyz") -> Path:
    """A real zip application, as ``python -m zipapp`` makes it, holding ``__main__.py`` and a helper."""
    source = folder / "app_source"
    source.mkdir()
    (source / "__main__.py").write_text(main)
    (source / "helper.py").write_text("COMMAND = 'echo from the zip'\n")
    target = folder / name
    zipapp.create_archive(source, target)
    shutil.rmtree(source)
    return target


def make_pyc(folder: Path, code: str, name: str = "job.pyc") -> Path:
    """A real compiled script, with no source beside it."""
    source = folder / "job_source.py"
    source.write_text(code)
    py_compile.compile(str(source), cfile=str(folder / name), doraise=True)
    source.unlink()
    return folder / name


def test_a_zipapp_runs_as_python_runs_it(workdir: Path) -> None:
    make_zipapp(workdir, "import helper\nfrom runnable import ShellJob\n"
                         "ShellJob(command=helper.COMMAND).execute(job_id='ran-1')\n")
    assert run_python(workdir / "app.pyz", workdir).returncode == 0  # what execute-job stands in for
    forget_runs(workdir)
    done = run_cli(workdir, "execute-job", "app.pyz")
    ran(workdir, done)
    assert "from the zip" in (workdir / ".catalog" / "ran-1" / "shell.execution.log").read_text()


def test_a_zipapp_that_only_defines_main_runs_its_job(workdir: Path) -> None:
    make_zipapp(workdir, "from runnable import ShellJob\ndef main():\n    return ShellJob(command='true')\n")
    ran(workdir, run_cli(workdir, "execute-job", "app.pyz", "--run-id", "ran-1"))


def test_a_pyc_runs_as_python_runs_it(workdir: Path) -> None:
    make_pyc(workdir, JOB_LINES)
    ran(workdir, run_cli(workdir, "execute-job", "job.pyc"))


def test_a_pyc_that_only_defines_main_runs_its_job(workdir: Path) -> None:
    make_pyc(workdir, "from runnable import ShellJob\ndef main():\n    return ShellJob(command='true')\n")
    ran(workdir, run_cli(workdir, "execute-job", "job.pyc", "--run-id", "ran-1"))


def test_a_zipapp_or_pyc_that_runs_no_job_is_the_usual_error(workdir: Path) -> None:
    make_zipapp(workdir, "x = 1\n")
    make_pyc(workdir, "x = 1\n")
    for name in ("app.pyz", "job.pyc"):
        line = usage_error(run_cli(workdir, "execute-job", name))
        assert line.startswith(f"Error: {name} ran no job: call execute() on a job"), line


def test_a_zip_without_main_and_a_pyc_of_another_python_are_one_line(workdir: Path) -> None:
    with zipfile.ZipFile(workdir / "lib.zip", "w") as archive:
        archive.writestr("helper.py", "x = 1\n")
    line = usage_error(run_cli(workdir, "execute-job", "lib.zip"))
    assert line.startswith("Error: lib.zip is a zip file without __main__.py"), line
    pyc = make_pyc(workdir, JOB_LINES)
    data = bytearray(pyc.read_bytes())
    data[0:2] = (int.from_bytes(data[0:2], "little") - 100).to_bytes(2, "little")  # an older Python's number
    pyc.write_bytes(bytes(data))
    line = usage_error(run_cli(workdir, "execute-job", "job.pyc"))
    assert line.startswith("Error: job.pyc was compiled by another version of Python"), line
    assert not (workdir / ".run_log_store").exists()


@pytest.mark.parametrize("name,text,line_number", [
    ("nul.py", b"x = 1\ny = 2\x00\n", 2),
    ("nul", b"x = 1\x00\n", 1),
])
def test_a_nul_byte_names_its_line_never_none(workdir: Path, name: str, text: bytes, line_number: int) -> None:
    (workdir / name).write_bytes(text)
    line = usage_error(run_cli(workdir, "execute-job", name))
    assert "None" not in line, line
    if name.endswith(".py"):
        assert line.startswith(f"Error: syntax error in {name}:{line_number}: "), line
    else:
        assert line.startswith(f"Error: {name} is not a Python script (line {line_number} is not Python: "), line


def test_file_is_absolute_and_argv_as_typed(workdir: Path) -> None:
    """A script reads a file next to itself through __file__, after changing folder, as under `python FILE`."""
    (workdir / "sub").mkdir()
    (workdir / "sub" / "data.txt").write_text("beside the script\n")
    (workdir / "sub" / "reads.py").write_text(
        "import os, sys\nfrom pathlib import Path\nfrom runnable import ShellJob\n"
        "print('file', __file__, 'argv', sys.argv[0])\n"
        "os.chdir(os.path.dirname(os.getcwd()))  # scripts do this; __file__ must still lead to the script\n"
        "text = (Path(__file__).parent / 'data.txt').read_text().strip()\n"
        "os.chdir(os.environ['BACK'])\n"
        "ShellJob(command=f'echo {text}').execute(job_id='ran-1')\n")
    env = {"BACK": str(workdir)}
    python = run_python(workdir / "sub" / "reads.py", workdir, env=env)
    assert python.returncode == 0, python.stderr
    assert f"file {workdir / 'sub' / 'reads.py'} argv {workdir / 'sub' / 'reads.py'}" in python.stdout
    forget_runs(workdir)
    done = run_cli(workdir, "execute-job", "sub/reads.py", env=env)
    ran(workdir, done)
    assert f"file {workdir / 'sub' / 'reads.py'} argv sub/reads.py" in done.stdout
    assert "beside the script" in (workdir / ".catalog" / "ran-1" / "shell.execution.log").read_text()


# -- execute-job --tag: tags travel joined by commas ------------------------------------------------
@pytest.mark.parametrize("tag,problem", [
    ("owner,bob", "contains a comma; tags cannot contain commas"),
    (",", "contains a comma; tags cannot contain commas"),
    ("", "is blank"),
    ("  ", "is blank"),
])
def test_a_tag_with_a_comma_or_blank_is_refused(workdir: Path, tag: str, problem: str) -> None:
    (workdir / "job.py").write_text(JOB_LINES)
    line = usage_error(run_cli(workdir, "execute-job", "job.py", "--tag", "ok", "--tag", tag))
    assert line.startswith(f"Error: --tag {tag!r} {problem}"), line
    assert not (workdir / ".run_log_store").exists()


def test_tags_with_spaces_and_dashes_are_kept_whole(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB_LINES)
    ran(workdir, run_cli(workdir, "execute-job", "job.py", "--tag", "owner bob", "--tag", "exp-2"))
    record = json.loads((workdir / ".run_log_store" / "ran-1.json").read_text())
    assert record["tags"] == ["owner bob", "exp-2"]


# -- dates and ages: anything before the first run means "since the beginning" ------------------------
# However far back: an age past what a date can hold (99999999999999d, 9...9w) means the same.
AGES_BEFORE_1970 = ["99999d", "1000000d", "20000000h", "99999999999999d", "9" * 400 + "w"]


@pytest.mark.parametrize("value", AGES_BEFORE_1970)
def test_an_age_reaching_before_1970_lists_every_run_and_is_older_than_none(project: Path, value: str) -> None:
    listed = run_cli(project, "runs", "list", "--since", value, "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 4
    old = run_cli(project, "gc", "--dry-run", "--older-than", value)
    assert old.returncode == 0, old.stderr
    assert "dry run: 0 run(s)" in old.stdout


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/New_York"])
@pytest.mark.parametrize("value,runs", [
    ("1969-12-31", 4),
    ("0001-01-01", 4),
    ("1969-12-31T23:00", 4),
    ("0001-01-01T00:00+05:00", 4),
    ("9999-12-31", 0),
    ("9999-12-31T23:59:59", 0),
    ("9999-12-31T23:59:59-12:00", 0),
])
def test_any_date_python_can_read_is_accepted(project: Path, value: str, runs: int, tz: str) -> None:
    listed = run_cli(project, "runs", "list", "--since", value, "--json", env={"TZ": tz})
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == runs


@pytest.mark.parametrize("value", ["0000-01-01", "10000-01-01", "1969-13-01", "7 days"])
def test_a_date_python_cannot_read_is_one_line(project: Path, value: str) -> None:
    line = usage_error(run_cli(project, "runs", "list", "--since", value))
    assert line == (f"Error: --since {value!r} is not understood; write a date (2024-05-01), a date and time "
                    "(2024-05-01T13:00) or a time ago (7d, 12h)")


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
    recent = run_cli(project, "gc", "--dry-run", "--older-than", "0s")
    assert recent.returncode == 0 and "dry run: 4 run(s)" in recent.stdout, recent.stdout + recent.stderr


def test_the_library_agrees_with_the_command_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runnable
    from runnable.history.gc import Policy, collect
    from runnable.history.runs import History
    from runnable.history.when import parse_duration, parse_moment

    monkeypatch.delenv("RUNNABLE_CONFIGURATION_FILE", raising=False)
    monkeypatch.chdir(project)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    beginning = datetime.min.replace(tzinfo=UTC)
    assert parse_moment("19844d", now=now) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_moment("99999d", now=now) == now - timedelta(days=99999)  # 1750: a date, kept as it is
    for value in AGES_BEFORE_1970[3:]:
        assert parse_moment(value, now=now) == beginning  # a date cannot hold it
        assert parse_duration(value) == timedelta.max
    assert parse_moment(date(1, 1, 1)) < datetime(1970, 1, 1, tzinfo=UTC)  # the beginning, where local time fails
    assert parse_moment(datetime(9999, 12, 31, 23, 59, 59)) >= datetime(9999, 12, 31, tzinfo=UTC)  # or the end
    assert parse_moment("1969-12-31T12:00:00+00:00") == datetime(1969, 12, 31, 12, tzinfo=UTC)
    history = History.from_config()
    for since in ("1969-12-31", date(1, 1, 1), "99999d", *AGES_BEFORE_1970):
        assert len(runnable.runs(since=since)) == 4, since
    for value in AGES_BEFORE_1970:
        assert collect(history, Policy(older_than=parse_duration(value)), dry_run=True).runs == [], value
    assert runnable.runs(since=datetime(9999, 12, 31, 23, 59, 59)) == []
    with pytest.raises(UsageError, match=r"^duration '30 days' is not understood"):
        parse_duration("30 days")
    with pytest.raises(UsageError, match=r"^moment '0000-01-01' is not understood"):
        parse_moment("0000-01-01")
