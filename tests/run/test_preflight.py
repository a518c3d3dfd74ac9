"""What is refused or skipped before a job's code starts, run as real scripts and real commands.

- a file where the catalog or the run-log store must be fails the run before the job runs;
- a job that fails before its code starts stores none of its put patterns (one that started does);
- ``runnable execute-job --parameters/--config/--run-id`` that the script contradicts is refused.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, run_python

# Writes ran.txt first: its absence proves the job's code never ran.
WRITES_OUT = textwrap.dedent(
    """
    from pathlib import Path
    from runnable import Catalog, PythonJob

    def work():
        Path("ran.txt").write_text("ran")
        Path("out.txt").write_text("result")

    PythonJob(function=work, catalog=Catalog(put=["out.txt"])).execute(CONFIG)
    """
)


def script(workdir: Path, text: str, config: str | None = None) -> Path:
    path = workdir / "job.py"
    path.write_text(text.replace("CONFIG", repr(config) if config else ""))
    return path


def only_summary(stdout: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(stdout[stdout.index("{"):])
    return summary


def record(workdir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((workdir / summary["run_record"]).read_text())
    return data


# -- 1. a file where a folder must be ---------------------------------------------------------

@pytest.mark.parametrize(("name", "setting"), [(".catalog", "catalog_location"), (".run_log_store", "log_folder")])
def test_a_file_in_place_of_a_folder_fails_before_the_job_and_is_left_alone(
    workdir: Path, name: str, setting: str
) -> None:
    (workdir / name).write_text("precious\n")
    done = run_python(script(workdir, WRITES_OUT), workdir)
    assert done.returncode == 1
    assert not (workdir / "ran.txt").exists()  # the job never ran
    assert (workdir / name).read_text() == "precious\n"  # neither deleted nor overwritten
    assert f"{workdir / name} is a file, not a folder" in done.stderr
    assert setting in done.stderr and "move it away" in done.stderr
    assert "The above exception" not in done.stderr  # one error, not a chain of them
    assert done.stdout == ""  # no run: no summary, no record anywhere
    assert not (workdir / ".catalog").is_dir() and not (workdir / ".run_log_store").is_dir()


def test_a_file_in_place_of_a_parent_folder_is_named_by_execute_job(workdir: Path) -> None:
    (workdir / "store").write_text("precious\n")
    (workdir / "config.yaml").write_text("catalog: {type: file-system, config: {catalog_location: store/catalog}}\n")
    done = run_cli(workdir, "execute-job", str(script(workdir, WRITES_OUT)), "--config", "config.yaml")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"cannot be made: {workdir / 'store'} is a file, not a folder" in done.stderr
    assert not (workdir / "ran.txt").exists()
    assert (workdir / "store").read_text() == "precious\n"


def test_a_link_to_a_folder_is_a_folder(workdir: Path) -> None:
    (workdir / "elsewhere").mkdir()
    (workdir / ".catalog").symlink_to(workdir / "elsewhere")
    done = run_python(script(workdir, WRITES_OUT), workdir)
    assert done.returncode == 0, done.stderr
    run_id = only_summary(done.stdout)["run_id"]
    assert (workdir / "elsewhere" / run_id / "out.txt").read_text() == "result"


# -- 2. nothing is cataloged for a job that never started --------------------------------------

NEEDS_ROWS = textwrap.dedent(
    """
    from pathlib import Path
    from runnable import Catalog, PythonJob

    def clean(rows: int):
        Path("partial.csv").write_text(f"rows {rows}")
        raise ValueError(f"row {rows} is malformed")

    PythonJob(function=clean, catalog=Catalog(put=["partial.csv"])).execute()
    """
)


def test_a_job_that_never_started_stores_no_outputs(workdir: Path) -> None:
    (workdir / "partial.csv").write_text("left over from an earlier run")
    done = run_python(script(workdir, NEEDS_ROWS), workdir)
    assert done.returncode == 1
    summary = only_summary(done.stdout)
    assert summary["Output catalog content"] == []
    assert "before its code started" in summary["not_collected"]
    assert summary["error"].startswith("ParameterError: parameter 'rows' is required")
    run = record(workdir, summary)
    assert run["status"] == "FAIL" and run["error"]["type"] == "ParameterError"
    assert run["files"] == [] and run["catalog"]["not_collected"] == summary["not_collected"]
    assert sorted(p.name for p in (workdir / summary["catalog"]).iterdir()) == ["clean.execution.log"]
    assert "before its code started" in (workdir / summary["execution_log"]).read_text()


def test_a_job_without_put_patterns_says_nothing_about_collecting(workdir: Path) -> None:
    text = NEEDS_ROWS.replace(", catalog=Catalog(put=[\"partial.csv\"])", "")
    assert "Catalog(put" not in text.split("def clean")[1]
    done = run_python(script(workdir, text), workdir)
    assert done.returncode == 1
    summary = only_summary(done.stdout)
    assert summary["error"].startswith("ParameterError") and "not_collected" not in summary
    assert "put patterns" not in done.stderr
    assert "not_collected" not in record(workdir, summary)["catalog"]


def test_a_job_that_started_and_failed_still_stores_its_outputs(workdir: Path) -> None:
    done = run_python(script(workdir, NEEDS_ROWS), workdir, env={"RUNNABLE_PRM_rows": "17"})
    assert done.returncode == 1
    summary = only_summary(done.stdout)
    assert summary["Output catalog content"] == ["partial.csv"] and "not_collected" not in summary
    assert summary["error"] == "ValueError: row 17 is malformed"
    assert (workdir / summary["catalog"] / "partial.csv").read_text() == "rows 17"


def test_a_failed_command_started_and_keeps_its_outputs(workdir: Path) -> None:
    text = ("from runnable import Catalog, ShellJob\n"
            "ShellJob(command='echo half > half.txt; exit 3', catalog=Catalog(put=['half.txt'])).execute()\n")
    done = run_python(script(workdir, text), workdir)
    assert done.returncode == 1
    summary = only_summary(done.stdout)
    assert summary["Output catalog content"] == ["half.txt"] and "not_collected" not in summary


def test_a_missing_notebook_never_started_and_stores_nothing(workdir: Path) -> None:
    (workdir / "left.txt").write_text("old")
    text = ("from runnable import Catalog, NotebookJob\n"
            "NotebookJob('missing.ipynb', catalog=Catalog(put=['left.txt'])).execute()\n")
    done = run_python(script(workdir, text), workdir)
    assert done.returncode == 1
    summary = only_summary(done.stdout)
    assert summary["Output catalog content"] == [] and "not_collected" in summary
    assert summary["error"].startswith("FileNotFoundError: notebook 'missing.ipynb' does not exist")


# -- 3. execute-job options the script contradicts --------------------------------------------

# ran.txt again proves whether the job ran; execute() gets the keyword argument under test.
GIVES_ITS_OWN = textwrap.dedent(
    """
    from pathlib import Path
    from runnable import PythonJob

    def work(rows: int = 0):
        Path("ran.txt").write_text(str(rows))

    PythonJob(function=work).execute(ARGUMENT)
    """
)
CASES = {
    "parameters_file": ("--parameters", "params.yaml", "other.yaml"),
    "configuration_file": ("--config", "config.yaml", "other.yaml"),
    "job_id": ("--run-id", "script-id", "command-line-id"),
}


def _project(workdir: Path, argument: str) -> Path:
    (workdir / "params.yaml").write_text("rows: 3\n")
    (workdir / "config.yaml").write_text("catalog: {type: file-system}\n")
    (workdir / "other.yaml").write_text("rows: [\n")  # not valid YAML: using it would fail loudly
    option, script_value, _ = CASES[argument]
    return script(workdir, GIVES_ITS_OWN.replace("ARGUMENT", f"{argument}={script_value!r}"))


@pytest.mark.parametrize("argument", list(CASES))
def test_execute_job_refuses_an_option_the_script_contradicts(workdir: Path, argument: str) -> None:
    option, script_value, cli_value = CASES[argument]
    done = run_cli(workdir, "execute-job", str(_project(workdir, argument)), option, cli_value)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert option in done.stderr and cli_value in done.stderr
    assert f"{argument}={script_value!r}" in done.stderr and "remove" in done.stderr
    assert not (workdir / "ran.txt").exists() and not (workdir / ".run_log_store").exists()


@pytest.mark.parametrize("argument", list(CASES))
def test_execute_job_accepts_the_same_value_from_both(workdir: Path, argument: str) -> None:
    option, script_value, _ = CASES[argument]
    same = str(workdir / script_value) if argument != "job_id" else script_value  # a path: as a file
    done = run_cli(workdir, "execute-job", str(_project(workdir, argument)), option, same)
    assert done.returncode == 0, done.stderr
    assert (workdir / "ran.txt").exists()


def test_plain_python_keeps_the_scripts_argument_over_the_environment(workdir: Path) -> None:
    path = _project(workdir, "parameters_file")
    done = run_python(path, workdir, env={"RUNNABLE_PARAMETERS_FILE": "other.yaml"})
    assert done.returncode == 0, done.stderr
    assert (workdir / "ran.txt").read_text() == "3"  # params.yaml, as before


# -- 4. runnable's folders must be folders of their own ------------------------------------------

@pytest.mark.parametrize(("setting", "value", "where"), [
    ("catalog: {type: file-system, config: {catalog_location: '.'}}", ".", "is the working folder"),
    ("catalog: {type: file-system, config: {catalog_location: '..'}}", "..", "contains the working folder"),
    ("run-log-store: {type: file-system, config: {log_folder: '.'}}", ".", "is the working folder"),
])
def test_a_catalog_or_run_log_store_that_is_the_working_folder_is_refused_before_the_job(
    workdir: Path, setting: str, value: str, where: str
) -> None:
    (workdir / "config.yaml").write_text(setting + "\n")
    (workdir / "settings.json").write_text('{"mine": true}\n')
    done = run_python(script(workdir, WRITES_OUT, "config.yaml"), workdir)
    assert done.returncode == 1
    assert f"location {(workdir / value).resolve()} {where} {workdir}" in done.stderr and "of its own" in done.stderr
    assert not (workdir / "ran.txt").exists() and done.stdout == ""
    assert sorted(p.name for p in workdir.iterdir()) == ["config.yaml", "job.py", "settings.json"]


def test_a_catalog_location_that_cannot_be_made_is_refused_before_the_job(workdir: Path) -> None:
    (workdir / "config.yaml").write_text("catalog: {type: file-system, config: {catalog_location: /proc/nope}}\n")
    done = run_python(script(workdir, WRITES_OUT, "config.yaml"), workdir)
    assert done.returncode == 1
    assert "the catalog location /proc/nope cannot be made" in done.stderr and "catalog_location" in done.stderr
    assert "Traceback" not in done.stderr.split("runnable.errors.CatalogError")[0].split("job.py")[-1]
    assert not (workdir / "ran.txt").exists() and not (workdir / ".run_log_store").exists()
