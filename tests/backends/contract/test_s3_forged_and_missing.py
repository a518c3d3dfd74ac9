"""Against the real local S3 server: verify reports an object deleted behind a run's copy, and a
record whose file path leads into the (local) run-log store reads as unreadable and restores nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_python

from .conftest import S3Server, subprocess_env

JOB = '''
from pathlib import Path
from runnable import Catalog, PythonJob

def make():
    Path("a.txt").write_text(Path("payload.txt").read_text())

if __name__ == "__main__":
    PythonJob(function=make, catalog=Catalog(put=["a.txt"])).execute(configuration_file="s3.yaml")
'''
PAYLOAD = json.dumps({"run_id": "injected", "status": "SUCCESS", "job": {"kind": "python", "name": "forged"},
                      "start": "2030-01-01T00:00:00+00:00"})


@pytest.fixture
def project(tmp_path: Path, s3_server: S3Server, bucket: str) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "job.py").write_text(JOB)
    (folder / "payload.txt").write_text(PAYLOAD)
    (folder / "s3.yaml").write_text(
        "catalog:\n  type: s3\n"
        f"  config: {{bucket: {bucket}, prefix: cat, endpoint_url: '{s3_server.endpoint}', region: us-east-1, "
        "run_files: copy}\n"
        "run-log-store:\n  type: file-system\n  config: {log_folder: .run_log_store}\n")
    done = run_python(folder / "job.py", folder, env={**subprocess_env(s3_server), "RUNNABLE_RUN_ID": "r1"})
    assert done.returncode == 0, done.stderr
    return folder


def _cli(folder: Path, server: S3Server, *args: str) -> tuple[int, str, str]:
    done = run_cli(folder, *args, "--config", "s3.yaml", env=subprocess_env(server))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def test_an_object_deleted_behind_the_runs_copy_is_missing(project: Path, s3_server: S3Server, bucket: str) -> None:
    digest = hashlib.md5(PAYLOAD.encode()).hexdigest()
    client = s3_server.client()
    client.delete_object(Bucket=bucket, Key=f"cat/.objects/md5/{digest[:2]}/{digest[2:]}")
    assert client.get_object(Bucket=bucket, Key="cat/r1/a.txt")["Body"].read() == PAYLOAD.encode()

    code, out, _ = _cli(project, s3_server, "catalog", "verify", "r1", "--json")

    assert code == 1
    found = {f["path"]: f for f in json.loads(out)[0]["files"]}["a.txt"]
    assert found["state"] == "MISSING" and "is gone from the object store" in found["detail"], found


def test_a_record_path_into_the_run_log_store_is_unreadable(project: Path, s3_server: S3Server) -> None:
    store = project / ".run_log_store"
    record = json.loads((store / "r1.json").read_text())
    record["files"][0]["path"] = ".run_log_store/injected.json"
    (store / "r1.json").write_text(json.dumps(record))

    code, out, _ = _cli(project, s3_server, "runs", "list", "--json")
    rows = {row["run_id"]: row for row in json.loads(out)}
    assert code == 0 and rows["r1"]["status"] == "UNREADABLE" and "leads into the run-log store" in rows["r1"]["error"]
    code, _, err = _cli(project, s3_server, "catalog", "get", "r1", "--force")
    assert code == 2 and "leads into the run-log store" in err, err
    assert not (store / "injected.json").exists()
    code, out, _ = _cli(project, s3_server, "runs", "list", "--json")
    assert "injected" not in {row["run_id"] for row in json.loads(out)}
