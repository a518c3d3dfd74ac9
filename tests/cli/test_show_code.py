"""`runs show` names the commit a run's code was at, as its record holds it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.faults.helpers import cli, run_job, write_script

JOB = """\
from pathlib import Path
from runnable import Catalog, PythonJob

def write():
    Path("out.txt").write_text("x")

PythonJob(function=write, catalog=Catalog(put=["out.txt"])).execute()
"""


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_runs_show_names_the_commit_and_uncommitted_changes(tmp_path: Path) -> None:
    write_script(tmp_path, "job.py", JOB)
    (tmp_path / ".gitignore").write_text(".catalog/\n.run_log_store/\nout.txt\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "first")
    commit = _git(tmp_path, "rev-parse", "HEAD")
    assert run_job(tmp_path, tmp_path / "job.py", RUNNABLE_RUN_ID="clean-run").returncode == 0
    (tmp_path / "job.py").write_text(JOB + "# edited\n")
    assert run_job(tmp_path, tmp_path / "job.py", RUNNABLE_RUN_ID="dirty-run").returncode == 0

    record = json.loads((tmp_path / ".run_log_store" / "clean-run.json").read_text())
    assert record["code"]["git_commit"] == commit
    clean = cli(tmp_path, "runs", "show", "clean-run")
    assert clean.returncode == 0, clean.stderr
    (line,) = [x for x in clean.stdout.splitlines() if x.startswith("code")]
    assert line.split()[1:] == ["git", commit], line
    dirty = cli(tmp_path, "runs", "show", "dirty-run")
    (line,) = [x for x in dirty.stdout.splitlines() if x.startswith("code")]
    assert line.split()[1:] == ["git", commit, "(uncommitted", "changes)"], line
