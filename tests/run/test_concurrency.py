"""Jobs started at the same moment into one catalog: distinct run ids, complete runs, nothing mixed up."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

JOBS = 8

# Every process waits for the 'go' file, so all eight reserve ids and store files at the same time.
SCRIPT = """
import os, sys, time
from pathlib import Path
from runnable import Catalog, PythonJob

index = sys.argv[1]
Path(f"ready-{index}").write_text("")
for _ in range(3000):
    if Path("go").exists():
        break
    time.sleep(0.01)

def work():
    folder = Path(f"out/{index}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.bin").write_bytes(index.encode() * 200_000)
    print(f"job {index} done")

PythonJob(function=work, name=f"job{index}",
          catalog=Catalog(put=[f"out/{index}/", "shared.txt"])).execute()
"""


def start_all(folder: Path, extra_env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    (folder / "job.py").write_text(SCRIPT)
    (folder / "shared.txt").write_text("the same content in every run\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env.update(PYTHONPATH=str(REPO), **(extra_env or {}))
    procs = [
        subprocess.Popen([sys.executable, "job.py", str(i)], cwd=folder, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for i in range(JOBS)
    ]
    try:
        # Wait until every process is past its imports (bounded by communicate's timeout below).
        while not all((folder / f"ready-{i}").exists() for i in range(JOBS)):
            if any(p.poll() is not None for p in procs):
                break
            os.sched_yield()
        (folder / "go").write_text("")
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_eight_jobs_started_together_get_eight_complete_runs(tmp_path: Path) -> None:
    results = start_all(tmp_path)
    for done in results:
        assert done.returncode == 0, done.stderr
    run_ids = [json.loads(d.stdout[d.stdout.index("{\n") :])["run_id"] for d in results]
    assert len(set(run_ids)) == JOBS
    assert sorted(p.stem for p in (tmp_path / ".run_log_store").glob("*.json")) == sorted(run_ids)
    shared_md5 = hashlib.md5((tmp_path / "shared.txt").read_bytes()).hexdigest()
    for index, run_id in enumerate(run_ids):
        record = json.loads((tmp_path / ".run_log_store" / f"{run_id}.json").read_text())
        assert record["status"] == "SUCCESS" and record["job"]["name"] == f"job{index}"
        content = str(index).encode() * 200_000
        assert [f["path"] for f in record["files"]] == [f"out/{index}/data.bin", "shared.txt"]
        assert record["files"][0]["hash"] == {"md5": hashlib.md5(content).hexdigest()}
        assert record["files"][1]["hash"] == {"md5": shared_md5}
        run_folder = tmp_path / ".catalog" / run_id
        assert (run_folder / "out" / str(index) / "data.bin").read_bytes() == content
        assert (run_folder / "shared.txt").read_text() == "the same content in every run\n"
        # shared.txt was written before the runs started: each marks it stale and warns once (on
        # stderr, so in either order with the job's stdout line)
        assert "stale" not in record["files"][0] and record["files"][1]["stale"] is True
        assert sorted((run_folder / f"job{index}.execution.log").read_text().splitlines()) == [
            f"job {index} done",
            "runnable: warning: 1 of the 2 cataloged files was not changed during this run (it was in the "
            "working folder before it started), e.g. 'shared.txt'; the record marks it \"stale\"",
        ]
        others = {p.name for p in (run_folder / "out").iterdir()}
        assert others == {str(index)}  # no other run's files leaked in


def test_eight_jobs_asking_for_the_same_id_one_wins(tmp_path: Path) -> None:
    results = start_all(tmp_path, {"RUNNABLE_RUN_ID": "contested"})
    winners = [d for d in results if d.returncode == 0]
    losers = [d for d in results if d.returncode != 0]
    assert len(winners) == 1 and len(losers) == JOBS - 1
    for done in losers:
        assert "RunIdError" in done.stderr and "'contested' is already used" in done.stderr
    record = json.loads((tmp_path / ".run_log_store" / "contested.json").read_text())
    assert record["status"] == "SUCCESS"
    index = record["job"]["name"].removeprefix("job")
    assert (tmp_path / ".catalog" / "contested" / "out" / index / "data.bin").is_file()
    assert [p.name for p in (tmp_path / ".catalog" / "contested" / "out").iterdir()] == [index]
