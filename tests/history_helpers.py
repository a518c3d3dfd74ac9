"""A small project with real runs made by real jobs, shared by the history tests."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from tests.conftest import run_cli

JOB = '''
from pathlib import Path
from runnable import Catalog, PythonJob

def make(rows: int = 3, note: str = "first", fail: bool = False):
    Path("data_folder").mkdir(exist_ok=True)
    Path("df.csv").write_text("a,b\\n" + "".join(f"{i},{i*i}\\n" for i in range(rows)))
    Path("data_folder/data.txt").write_text(f"note: {note}\\n")
    print(f"wrote {rows} rows")
    if fail:
        raise RuntimeError("asked to fail")
    return {"rows": rows}

PythonJob(function=make, catalog=Catalog(put=["df.csv", "data_folder/"])).execute()
'''

HASH_ONLY_JOB = '''
from pathlib import Path
from runnable import Catalog, PythonJob

def big():
    Path("big.bin").write_bytes(b"x" * 4096)

PythonJob(function=big, catalog=Catalog(put=["big.bin"], store_copy=False)).execute()
'''

# (run id, parameters, tags, script): oldest first
RUNS = [
    ("alpha-run-0001", {"rows": 3, "note": "first"}, ["exp"], "job.py"),
    ("beta-run-0002", {"rows": 5, "note": "first"}, ["exp", "big"], "job.py"),
    ("gamma-run-0003", {"rows": 2, "note": "oops", "fail": True}, [], "job.py"),
    ("delta-run-0004", {}, ["hash"], "hash_only.py"),
]


def make_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.py").write_text(JOB)
    (folder / "hash_only.py").write_text(HASH_ONLY_JOB)
    for run_id, params, tags, script in RUNS:
        args = ["execute-job", script, "--run-id", run_id]
        if params:
            (folder / "params.yaml").write_text(json.dumps(params))
            args += ["--parameters", "params.yaml"]
        for tag in tags:
            args += ["--tag", tag]
        result = run_cli(folder, *args)
        assert result.returncode == (1 if params.get("fail") else 0), result.stderr
    return folder


def copy_project(source: Path, destination: Path) -> Path:
    """A private copy (objects become separate files; read-only modes are kept)."""
    shutil.copytree(source, destination, symlinks=True)
    return destination


def record_path(project: Path, run_id: str) -> Path:
    return project / ".run_log_store" / f"{run_id}.json"


def load_record(project: Path, run_id: str) -> dict:  # type: ignore[type-arg]
    return json.loads(record_path(project, run_id).read_text())


def save_record(project: Path, run_id: str, data: dict) -> None:  # type: ignore[type-arg]
    record_path(project, run_id).write_text(json.dumps(data, indent=2))


def object_path(project: Path, digest: str, algorithm: str = "md5") -> Path:
    return project / ".catalog" / ".objects" / algorithm / digest[:2] / digest[2:]


def corrupt(path: Path, data: bytes) -> None:
    """Overwrite a read-only stored file in place (it may be hard-linked: every link sees it)."""
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    with open(path, "r+b") as handle:
        handle.write(data)
    os.chmod(path, stat.S_IRUSR)
