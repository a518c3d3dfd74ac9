"""`catalog get` onto a path that something else blocks: the message names what is in the way, says
why it stays (--force replaces files, never folders, and never turns a file into a folder) and what
to do, and the user's file or folder is left exactly as it was."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

JOB = '''
from pathlib import Path
from runnable import Catalog, PythonJob

def make():
    Path("data_folder").mkdir(exist_ok=True)
    Path("df.csv").write_text("a,b\\n1,2\\n")
    Path("data_folder/data.txt").write_text("stored\\n")

PythonJob(function=make, catalog=Catalog(put=["df.csv", "data_folder/"])).execute()
'''

RUN = "blocked-run-0001"


@pytest.fixture
def project(workdir: Path) -> Path:
    (workdir / "job.py").write_text(JOB)
    done = run_cli(workdir, "execute-job", "job.py", "--run-id", RUN)
    assert done.returncode == 0, done.stderr
    return workdir


def _line(output: str, rel: str) -> str:
    """The report line about ``rel``."""
    lines = [line for line in output.splitlines() if line.split()[1:2] == [rel + ":"]]
    assert len(lines) == 1, output
    return lines[0]


def _failed(done: subprocess.CompletedProcess[str], rel: str) -> str:
    """The report line of ``rel``, checked to be a failure that says the way out (exit status 1)."""
    assert done.returncode == 1, done.stdout + done.stderr
    line = _line(done.stdout, rel)
    assert line.startswith("failed")
    assert "move it away, or restore into another folder" in line
    return line


@pytest.mark.parametrize("absolute", [False, True], ids=["relative --to", "absolute --to"])
def test_a_file_where_a_folder_must_go_is_named_and_kept(project: Path, absolute: bool) -> None:
    target = project / "t3"
    target.mkdir()
    (target / "data_folder").write_text("mine\n")
    to = str(target) if absolute else "t3"

    done = run_cli(project, "catalog", "get", RUN, "--to", to, "--force")

    line = _failed(done, "data_folder/data.txt")
    assert f"a file is in the way: {os.path.join(to, 'data_folder')} is where a folder must be" in line
    assert "never turns a file into a folder" in line
    assert "File exists" not in done.stdout
    assert (target / "data_folder").read_text() == "mine\n"  # untouched, still a file
    assert (target / "df.csv").read_text() == "a,b\n1,2\n"  # the other file was still restored


def test_following_the_advice_restores_the_file(project: Path) -> None:
    target = project / "t3"
    target.mkdir()
    (target / "data_folder").write_text("mine\n")
    assert run_cli(project, "catalog", "get", RUN, "--to", "t3").returncode == 1

    (target / "data_folder").rename(project / "moved_away")
    done = run_cli(project, "catalog", "get", RUN, "--to", "t3")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "data_folder" / "data.txt").read_text() == "stored\n"
    assert (project / "moved_away").read_text() == "mine\n"


def test_a_folder_where_a_file_must_go_is_named_and_kept_even_with_force(project: Path) -> None:
    target = project / "t3"
    (target / "df.csv").mkdir(parents=True)
    (target / "df.csv" / "keep.txt").write_text("mine\n")

    done = run_cli(project, "catalog", "get", RUN, "--to", "t3", "--force")

    line = _failed(done, "df.csv")
    assert f"a folder is in the way: {os.path.join('t3', 'df.csv')};" in line
    assert "--force replaces files, never folders" in line
    assert sorted(p.name for p in (target / "df.csv").iterdir()) == ["keep.txt"]
    assert (target / "df.csv" / "keep.txt").read_text() == "mine\n"
    assert (target / "data_folder" / "data.txt").read_text() == "stored\n"


def test_the_working_folder_as_target_names_the_path_as_the_user_types_it(project: Path) -> None:
    # The job left data_folder/ and df.csv in the working folder; put a file in data_folder's place.
    (project / "data_folder" / "data.txt").unlink()
    (project / "data_folder").rmdir()
    (project / "data_folder").write_text("mine\n")

    done = run_cli(project, "catalog", "get", RUN, "--force")

    assert done.returncode == 1
    assert "a file is in the way: data_folder is where a folder must be" in _line(done.stdout, "data_folder/data.txt")
    assert (project / "data_folder").read_text() == "mine\n"


def test_a_fifo_where_a_folder_must_go_is_named_and_never_opened(project: Path) -> None:
    target = project / "t3"
    target.mkdir()
    os.mkfifo(target / "data_folder")

    done = run_cli(project, "catalog", "get", RUN, "--to", "t3", "--force", timeout=30)

    assert done.returncode == 1
    line = _line(done.stdout, "data_folder/data.txt")
    assert "a special file (FIFO, socket or device) is in the way: t3/data_folder" in line
    assert (target / "data_folder").is_fifo()


def test_a_file_where_the_target_folder_must_go_is_named_and_kept(project: Path) -> None:
    (project / "r6").write_text("mine\n")
    done = run_cli(project, "catalog", "get", RUN, "--to", "r6/sub")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot restore into r6/sub: {project / 'r6'} is a file, not a folder" in done.stderr
    assert "Traceback" not in done.stderr and "Not a directory" not in done.stderr
    assert (project / "r6").read_text() == "mine\n"
