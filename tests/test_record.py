"""The run record: every documented field, the code's identity from git, and safe reading."""

from __future__ import annotations

import copy
import hashlib
import json
import platform
import socket
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import runnable
from runnable import RecordError
from runnable.record import RunRecord
from tests.conftest import REPO, run_python

SCRIPT = """
from pathlib import Path
from runnable import Catalog, PythonJob

def train(epochs: int, rate: float = 0.5):
    Path("model.txt").write_text(f"{epochs} {rate}\\n")
    return epochs * 2, "ok"

PythonJob(function=train, catalog=Catalog(put=["model.txt"]), returns=["doubled", "status"]).execute()
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def run_script(folder: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_python(folder / "job.py", folder, env={"PYTHONPATH": str(REPO), **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    return json.loads((folder / summary["run_record"]).read_text())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "job.py").write_text(SCRIPT)
    (folder / ".gitignore").write_text(".catalog/\n.run_log_store/\n")
    git(folder, "init", "-q")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first")
    return folder


def test_record_fields_of_a_run_in_a_clean_git_repository(repo: Path) -> None:
    record = run_script(repo, env={"RUNNABLE_PRM_epochs": "4"})
    assert record["status"] == "SUCCESS"
    assert record["code"] == {"git_commit": git(repo, "rev-parse", "HEAD"), "git_dirty": False,
                              "git_root": str(repo)}
    assert record["job"] == {"kind": "python", "name": "train", "module": "__main__", "function": "train",
                             "file": str(repo / "job.py")}
    assert record["parameters"] == {"epochs": 4, "rate": 0.5}  # given, and the default it ran with
    assert record["returns"] == {"doubled": 8, "status": "ok"}
    assert record["runnable_version"] == runnable.__version__
    start, end = datetime.fromisoformat(record["start"]), datetime.fromisoformat(record["end"])
    assert start.tzinfo is not None and start <= end
    assert 0 <= record["duration_seconds"] <= (end - start).total_seconds() + 0.01
    content = (repo / "model.txt").read_bytes()
    assert record["files"] == [{
        "path": "model.txt", "size": len(content), "hash": {"md5": hashlib.md5(content).hexdigest()},
        "stored": True, "location": f".catalog/{record['run_id']}/model.txt",
    }]
    assert record["execution_log"]["path"] == "train.execution.log"
    assert record["catalog"]["put"] == ["model.txt"] and record["catalog"]["type"] == "file-system"
    assert record["environment"]["working_folder"] == str(repo)
    assert record["error"] is None and record["skipped"] == []
    assert RunRecord.from_dict(record).to_dict() == record


def test_changed_tracked_file_marks_the_code_dirty_but_untracked_files_do_not(repo: Path) -> None:
    (repo / "notes.txt").write_text("untracked\n")
    assert run_script(repo, env={"RUNNABLE_PRM_epochs": "1"})["code"]["git_dirty"] is False
    (repo / "job.py").write_text(SCRIPT + "\n# edited\n")
    record = run_script(repo, env={"RUNNABLE_PRM_epochs": "1"})
    assert record["code"]["git_dirty"] is True
    assert record["code"]["git_commit"] == git(repo, "rev-parse", "HEAD")


def test_environment_names_the_python_platform_and_host_as_the_standard_library_does(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(SCRIPT)
    environment = run_script(tmp_path, env={"RUNNABLE_PRM_epochs": "1"})["environment"]
    assert environment["python"] == platform.python_version()
    assert environment["platform"] == platform.platform(terse=True)
    assert environment["host"] == socket.gethostname()


def test_a_job_in_a_subfolder_of_a_repository_records_the_repository(repo: Path) -> None:
    (repo / "sub" / "deeper").mkdir(parents=True)
    (repo / "sub" / "deeper" / "job.py").write_text(SCRIPT)
    record = run_script(repo / "sub" / "deeper", env={"RUNNABLE_PRM_epochs": "1"})
    assert record["code"]["git_root"] == str(repo)
    assert record["code"]["git_commit"] == git(repo, "rev-parse", "HEAD")


def test_git_dir_in_the_environment_is_followed_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "job.py").write_text(SCRIPT)
    record = run_script(elsewhere, env={"RUNNABLE_PRM_epochs": "1", "GIT_DIR": str(repo / ".git")})
    assert record["code"]["git_commit"] == git(repo, "rev-parse", "HEAD")


def test_outside_a_git_repository_the_code_identity_is_empty(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(SCRIPT)
    record = run_script(tmp_path, env={"RUNNABLE_PRM_epochs": "1"})
    assert record["code"] == {}


def test_repository_without_commits(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(SCRIPT)
    git(tmp_path, "init", "-q")
    record = run_script(tmp_path, env={"RUNNABLE_PRM_epochs": "1"})
    assert record["code"]["git_commit"] is None and record["code"]["git_root"] == str(tmp_path)


# -- reading records never trusts paths blindly ---------------------------------------------------

GOOD: dict[str, Any] = {
    "run_id": "calm-gauss-0001", "status": "SUCCESS", "job": {"kind": "python"}, "start": "2024-01-01T00:00:00+00:00",
    "files": [{"path": "a/b.txt", "size": 1, "hash": {"md5": "0cc175b9c0f1b6a831c399e269772661"}, "stored": False}],
}


def test_a_minimal_record_reads() -> None:
    record = RunRecord.from_dict(GOOD)
    assert record.files[0].md5 == "0cc175b9c0f1b6a831c399e269772661"
    assert record.files[0].algorithm == "md5" and record.catalog_content == ["a/b.txt"]


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "~/x", "a//b", "./a", ""])
def test_records_naming_unsafe_paths_are_refused(path: str) -> None:
    data = copy.deepcopy(GOOD)
    data["files"][0]["path"] = path
    with pytest.raises(RecordError):
        RunRecord.from_dict(data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("run_id", "../escape", "not valid"), ("status", "DONE", "not one of"),
     ("files", [{"path": "a", "size": 1, "hash": {}, "stored": True}], "exactly one hash")],
)
def test_malformed_records_are_refused(field: str, value: Any, message: str) -> None:
    data = copy.deepcopy(GOOD)
    data[field] = value
    with pytest.raises(RecordError, match=message):
        RunRecord.from_dict(data)


def test_missing_field_is_named() -> None:
    data = copy.deepcopy(GOOD)
    del data["start"]
    with pytest.raises(RecordError, match="'start'"):
        RunRecord.from_dict(data)
