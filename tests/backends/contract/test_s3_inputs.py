"""Declared inputs with the S3 catalog and run-log store, against the session's real moto server:
the content index lives in the bucket, sources are found through it, get_from restores from S3."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_python

from .conftest import S3Server, subprocess_env
from .test_s3_end_to_end import all_objects, write_config

CHAIN = '''
import sys
from pathlib import Path
from runnable import Catalog, PythonJob

def prepare():
    Path("features.csv").write_text("a,b\\n1,2\\n")

def train():
    Path("model.pkl").write_text("model of " + Path("features.csv").read_text())

if __name__ == "__main__":
    step, *rest = sys.argv[1:]
    if step == "prepare":
        job = PythonJob(function=prepare, catalog=Catalog(put=["features.csv"]))
    else:
        job = PythonJob(function=train, catalog=Catalog(get=["features.csv"], get_from=rest[0] if rest else None,
                                                        put=["model.pkl"]))
    job.execute(configuration_file="s3.yaml")
'''


@pytest.fixture
def chain(tmp_path: Path, s3_server: S3Server, bucket: str) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "chain.py").write_text(CHAIN)
    write_config(folder, s3_server, bucket)
    return folder


def step(folder: Path, server: S3Server, *args: str) -> dict[str, object]:
    proc = run_python(folder / "chain.py", folder, *args, env=subprocess_env(server))
    assert proc.returncode == 0, proc.stderr
    summary: dict[str, object] = json.loads(proc.stdout[proc.stdout.index("{"):])
    return summary


def test_inputs_sources_and_get_from_through_s3(chain: Path, s3_server: S3Server, bucket: str) -> None:
    prepare = str(step(chain, s3_server, "prepare")["run_id"])
    stored = all_objects(s3_server, bucket)
    entry = json.loads(stored[f"team/runs/.content/{prepare}.json"])
    assert entry["run_id"] == prepare and entry["files"][0][1] == "features.csv"

    (chain / "features.csv").unlink()
    train = str(step(chain, s3_server, "train", "latest:prepare")["run_id"])
    assert (chain / "features.csv").read_text() == "a,b\n1,2\n"
    record = json.loads(all_objects(s3_server, bucket)[f"team/runs/{train}.json"])
    assert record["schema"] == 2
    assert record["inputs"][0]["source"] == {"run_id": prepare, "path": "features.csv", "others": 0}

    # A lost entry (a crash after the record) is indexed again from the record, in the bucket.
    s3_server.client().delete_object(Bucket=bucket, Key=f"team/runs/.content/{prepare}.json")
    again = str(step(chain, s3_server, "train")["run_id"])
    record = json.loads(all_objects(s3_server, bucket)[f"team/runs/{again}.json"])
    assert record["inputs"][0]["source"]["run_id"] == prepare
    assert f"team/runs/.content/{prepare}.json" in all_objects(s3_server, bucket)

    proc = run_cli(chain, "catalog", "reindex", "--config", "s3.yaml", env=subprocess_env(s3_server))
    assert proc.returncode == 0, proc.stderr
    assert "rebuilt from 3 finished run(s)" in proc.stdout

    proc = run_cli(chain, "gc", "--keep-last", "0", "--job", "train", "--config", "s3.yaml",
                   env=subprocess_env(s3_server))
    assert proc.returncode == 0, proc.stderr
    keys = all_objects(s3_server, bucket)
    assert f"team/runs/.content/{train}.json" not in keys and f"team/runs/.content/{prepare}.json" in keys


def test_which_lineage_status_show_and_diff_through_s3(chain: Path, s3_server: S3Server, bucket: str) -> None:
    prepare = str(step(chain, s3_server, "prepare")["run_id"])
    train = str(step(chain, s3_server, "train")["run_id"])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(chain, *args, "--config", "s3.yaml", env=subprocess_env(s3_server))

    which = cli("runs", "which", "model.pkl", "--json")
    assert which.returncode == 0, which.stderr
    assert [r["run_id"] for r in json.loads(which.stdout)["runs"]] == [train]
    up = json.loads(cli("runs", "lineage", train, "--json").stdout)
    assert [c["run_id"] for c in up["children"]] == [prepare]
    down = json.loads(cli("runs", "lineage", prepare, "--down", "--json").stdout)
    assert [c["run_id"] for c in down["children"]] == [train]
    shown = cli("runs", "show", train).stdout  # the source run alone: it stored the same path
    assert any(line.startswith("features.csv") and line.split()[-1] == prepare for line in shown.splitlines()), shown
    assert cli("status").returncode == 0
    (chain / "features.csv").write_text("edited\n")
    status = cli("status", "train")
    assert status.returncode == 1 and "input changed: features.csv" in status.stdout
    again = str(step(chain, s3_server, "train")["run_id"])
    assert "~ features.csv" in cli("runs", "diff", train, again).stdout
