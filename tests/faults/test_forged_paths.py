"""A record's file path may not lead into runnable's own folders.

A run never stores a path inside the catalog or the run-log store (its selection skips them), so a
record naming ``.catalog/victim/...`` or ``.run_log_store/x.json`` was edited: restoring it would
overwrite another run's stored copy, or write a forged record that ``runs list`` shows as a run.
Such a record reads as UNREADABLE everywhere, with the reason, and restoring refuses the path again
in the restore itself (where the history's check cannot see it: a catalog configured elsewhere).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.helpers import cli, md5_of, run_job, write_script

JOB = """\
from pathlib import Path
from runnable import Catalog, PythonJob

def make():
    Path("data").mkdir(exist_ok=True)
    Path("data/a.txt").write_text(Path("payload.txt").read_text())

PythonJob(function=make, catalog=Catalog(put=["data/"])).execute({config})
"""


def _forged_record(run_id: str) -> str:
    return json.dumps({"run_id": run_id, "status": "SUCCESS", "job": {"kind": "python", "name": "forged"},
                       "start": "2030-01-01T00:00:00+00:00", "end": "2030-01-01T00:00:01+00:00"})


def _forge(store: Path, run_id: str, path: str) -> None:
    """Edit the record of ``run_id`` so that its one file is recorded under ``path``."""
    record: dict[str, Any] = json.loads((store / f"{run_id}.json").read_text())
    record["files"][0]["path"] = path
    (store / f"{run_id}.json").write_text(json.dumps(record, indent=2))


def _project(work: Path, config: str = "") -> Path:
    work.mkdir(parents=True, exist_ok=True)
    write_script(work, "job.py", JOB.format(config=config))
    (work / "payload.txt").write_text("victim's own bytes\n")
    assert run_job(work, work / "job.py", RUNNABLE_RUN_ID="victim").returncode == 0
    (work / "payload.txt").write_text(_forged_record("injected"))
    done = run_job(work, work / "job.py", RUNNABLE_RUN_ID="carrier")
    assert done.returncode == 0, done.stderr
    return work


def _statuses(work: Path, *config: str, **env: str) -> dict[str, dict[str, Any]]:
    listed = cli(work, "runs", "list", "--json", *config, **env)
    assert listed.returncode == 0, listed.stderr
    return {row["run_id"]: row for row in json.loads(listed.stdout)}


@pytest.mark.parametrize("path", [".catalog/victim/data/a.txt", ".run_log_store/injected.json",
                                  "./.catalog/victim/data/a.txt", ".catalog"])
def test_a_path_into_the_stores_reads_as_unreadable_and_restores_nothing(tmp_path: Path, path: str) -> None:
    work = _project(tmp_path / "work")
    victim = work / ".catalog" / "victim" / "data" / "a.txt"
    victim_md5 = md5_of(victim)
    _forge(work / ".run_log_store", "carrier", path)

    rows = _statuses(work)
    if path.startswith("./"):  # not a clean path at all: refused by the record's own rule
        assert rows["carrier"]["status"] == "UNREADABLE"
        return
    assert rows["carrier"]["status"] == "UNREADABLE", rows["carrier"]
    assert "leads into the" in rows["carrier"]["error"] and path in rows["carrier"]["error"]

    for args in (["catalog", "get", "carrier", "--force"], ["catalog", "get", "carrier"],
                 ["runs", "show", "carrier"], ["catalog", "verify", "carrier"]):
        done = cli(work, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("Error: ") and "leads into the" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr

    assert md5_of(victim) == victim_md5
    assert not (work / ".run_log_store" / "injected.json").exists()
    rows = _statuses(work)
    assert "injected" not in rows and rows["victim"]["status"] == "SUCCESS"
    verified = cli(work, "catalog", "verify", "--all")
    assert "UNREADABLE" in verified.stdout and "carrier" in verified.stdout
    assert "victim" in verified.stdout and "CORRUPT" not in verified.stdout
    swept = cli(work, "gc", "--yes")  # what the bad record refers to is unknown: its content is kept
    assert swept.returncode == 0 and "cannot be read" in swept.stdout, swept.stdout + swept.stderr


def test_the_restore_refuses_a_path_into_a_store_the_history_cannot_see(tmp_path: Path) -> None:
    """The stores live beside the working folder (configured by absolute paths); the record's path
    leads into them only from the folder restored into, which the history's check cannot know."""
    stores = tmp_path / "stores"
    config = tmp_path / "work" / "runnable.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"catalog:\n  type: file-system\n  config: {{catalog_location: {stores / 'cat'}}}\n"
                      f"run-log-store:\n  type: file-system\n  config: {{log_folder: {stores / 'runs'}}}\n")
    work = _project(tmp_path / "work", config="configuration_file='runnable.yaml'")
    victim = stores / "cat" / "victim" / "data" / "a.txt"
    victim_md5 = md5_of(victim)
    _forge(stores / "runs", "carrier", "stores/runs/injected.json")
    target = tmp_path  # stores/runs/injected.json below it is the run-log store

    assert _statuses(work, "--config", str(config))["carrier"]["status"] == "SUCCESS"  # nothing to see here
    done = cli(work, "catalog", "get", "carrier", "--to", str(target), "--force", "--config", str(config))

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "refused     stores/runs/injected.json: it would be written into the run-log store" in done.stdout
    assert not (stores / "runs" / "injected.json").exists()
    assert "injected" not in _statuses(work, "--config", str(config))
    assert md5_of(victim) == victim_md5
    # The same record restored where the path leads nowhere special is restored as recorded.
    elsewhere = tmp_path / "elsewhere"
    done = cli(work, "catalog", "get", "carrier", "--to", str(elsewhere), "--config", str(config))
    assert done.returncode == 0, (done.stdout, done.stderr)
    body = (elsewhere / "stores" / "runs" / "injected.json").read_bytes()
    assert hashlib.md5(body).hexdigest() == md5_of(stores / "cat" / "carrier" / "data" / "a.txt")
