"""16 jobs at once into one catalog; half of them store identical content (a dedup race)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.faults.helpers import assert_nothing_lies, cli, md5_of, start_job, write_script

JOBS = 16

# Each job waits for the 'go' file, so all reserve ids and store files at the same moment.
SCRIPT = """\
import sys, time
from pathlib import Path
from runnable import Catalog, PythonJob

Path("ready").write_text("")
while not Path(sys.argv[1]).exists():
    time.sleep(0.002)

def noop():
    pass

PythonJob(function=noop, catalog=Catalog(put=["data/"])).execute()
"""


def test_sixteen_jobs_at_once_with_identical_content(tmp_path: Path) -> None:
    catalog, store, go = tmp_path / "catalog", tmp_path / "logs", tmp_path / "go"
    config = {"catalog": {"type": "file-system", "config": {"catalog_location": str(catalog)}},
              "run-log-store": {"type": "file-system", "config": {"log_folder": str(store)}}}
    shared = [os.urandom(2 * 1024 * 1024)] + [os.urandom(4096) for _ in range(20)]
    expected: dict[int, dict[str, str]] = {}
    procs = []
    for i in range(JOBS):
        work = tmp_path / f"job{i}"
        (work / "data").mkdir(parents=True)
        bodies = shared if i % 2 == 0 else [os.urandom(len(b)) for b in shared]
        for k, body in enumerate(bodies):
            (work / "data" / f"f{k}.bin").write_bytes(body)
        expected[i] = {f"data/f{k}.bin": md5_of(work / "data" / f"f{k}.bin") for k in range(len(bodies))}
        (work / "config.yaml").write_text(json.dumps(config))
        write_script(work, "job.py", SCRIPT)
        procs.append(start_job(work, work / "job.py", str(go),
                               RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml")))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"job{i}" / "ready").exists() for i in range(JOBS)):
        assert time.monotonic() < deadline, "the jobs did not start"
        time.sleep(0.01)
    go.write_text("")
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err

    state = assert_nothing_lies(catalog, store)
    assert len(state.records) == JOBS  # 16 distinct runs
    by_folder = {Path(r["environment"]["working_folder"]).name: r for r in state.records.values()}
    for i in range(JOBS):
        record = by_folder[f"job{i}"]
        assert record["status"] == "SUCCESS"
        assert {f["path"]: f["hash"]["md5"] for f in record["files"]} == expected[i]
    # Identical content is stored once, whoever won the race.
    contents = {d for files in expected.values() for d in files.values()}
    logs = {r["execution_log"]["hash"]["md5"] for r in state.records.values()}
    assert set(state.objects) == contents | logs
    assert state.temporaries == []

    verified = cli(tmp_path, "catalog", "verify", "--all", "--json", "--config", str(tmp_path / "job0" / "config.yaml"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert len(report) == JOBS
    assert all(f["state"] == "OK" for run in report for f in run["files"])
