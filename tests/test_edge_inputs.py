"""Edge cases found in review: special files at restore targets, a run folder losing a file, files
that are not UTF-8, and put patterns reaching into runnable's own folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import run_cli

JOB = '''
from pathlib import Path
from runnable import Catalog, PythonJob

def make():
    Path("df.csv").write_text("a,b\\n1,2\\n")

PythonJob(function=make, catalog=Catalog(put=["df.csv"])).execute()
'''


def _project(workdir: Path, run_id: str = "edge-run-0001") -> Path:
    (workdir / "job.py").write_text(JOB)
    done = run_cli(workdir, "execute-job", "job.py", "--run-id", run_id)
    assert done.returncode == 0, done.stderr
    return workdir


def test_restore_onto_a_fifo_is_refused_without_reading_it(workdir: Path) -> None:
    _project(workdir)
    target = workdir / "restored"
    target.mkdir()
    os.mkfifo(target / "df.csv")
    done = run_cli(workdir, "catalog", "get", "edge-run-0001", "--to", "restored", timeout=30)
    assert done.returncode != 0
    assert "special file" in done.stdout + done.stderr
    assert (target / "df.csv").is_fifo()  # left as it was


def test_verify_reports_a_file_missing_from_the_run_folder(workdir: Path) -> None:
    _project(workdir)
    (workdir / ".catalog" / "edge-run-0001" / "df.csv").unlink()
    done = run_cli(workdir, "catalog", "verify", "edge-run-0001")
    assert done.returncode == 1
    assert "MISSING" in done.stdout
    # The object is still there: restoring brings the file back.
    restored = run_cli(workdir, "catalog", "get", "edge-run-0001", "--to", "back")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert (workdir / "back" / "df.csv").read_text() == "a,b\n1,2\n"


def test_parameters_and_configuration_files_that_are_not_utf8_are_clear_errors(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "bad.yaml").write_bytes(b"\xff\xfe\x00bad")
    params = run_cli(workdir, "execute-job", "job.py", "--parameters", "bad.yaml")
    assert params.returncode == 2, params.stderr
    assert "not UTF-8" in params.stderr and "Traceback" not in params.stderr
    config = run_cli(workdir, "runs", "list", "--config", "bad.yaml")
    assert config.returncode == 2, config.stderr
    assert "not UTF-8" in config.stderr and "Traceback" not in config.stderr


def test_put_patterns_never_store_runnables_own_folders(workdir: Path) -> None:
    _project(workdir)
    job = JOB.replace('put=["df.csv"]', 'put=["df.csv", ".catalog/edge-run-0001/", ".run_log_store/edge-run-0001.json"]')
    (workdir / "job2.py").write_text(job)
    done = run_cli(workdir, "execute-job", "job2.py", "--run-id", "edge-run-0002")
    assert done.returncode == 1
    record = json.loads((workdir / ".run_log_store" / "edge-run-0002.json").read_text())
    assert record["status"] == "FAIL"
    assert [f["path"] for f in record["files"]] == ["df.csv"]
    assert not (workdir / ".catalog" / "edge-run-0002" / ".catalog").exists()
    assert not (workdir / ".catalog" / "edge-run-0002" / ".run_log_store").exists()
    assert "matched no file" in record["error"]["message"]
