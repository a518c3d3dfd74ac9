"""The listing index is a cache of the records: a crash while writing it, or any damage, never
changes what ``runnable runs list`` reports (the records are the truth; the index is rebuilt)."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.helpers import STORE_JOB, cli, read_state, run_job, write_script

LIST = """\
from runnable.cli import main
main()
"""
INDEX = ".index.json"


def _listing(work: Path) -> dict[str, str]:
    done = cli(work, "runs", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["run_id"]: row["status"] for row in json.loads(done.stdout)}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "a.txt").write_text("a")
    write_script(work, "job.py", STORE_JOB)
    for i in range(3):
        assert run_job(work, work / "job.py", RUNNABLE_RUN_ID=f"run-{i}").returncode == 0
    assert run_job(work, work / "job.py", "nothing-matches", RUNNABLE_RUN_ID="failed").returncode == 1
    return work


def _truth(work: Path) -> dict[str, str]:
    return {rid: rec["status"] for rid, rec in read_state(work / ".catalog", work / ".run_log_store").records.items()}


@pytest.mark.parametrize("damage", ["", "{", "not json", '{"version": 1, "runs": {"ghost": ["1-2-3", {}]}}',
                                    '{"version": 999, "runs": {}}', '{"version": 1, "runs": []}', "\0" * 100])
def test_a_damaged_index_is_rebuilt_from_the_records(runs: Path, damage: str) -> None:
    assert _listing(runs) == _truth(runs)  # writes the index
    (runs / ".run_log_store" / INDEX).write_text(damage)
    assert _listing(runs) == _truth(runs)
    json.loads((runs / ".run_log_store" / INDEX).read_text())  # repaired on the way


def test_the_index_follows_records_written_after_it(runs: Path) -> None:
    assert _listing(runs) == _truth(runs)
    assert run_job(runs, runs / "job.py", RUNNABLE_RUN_ID="later").returncode == 0
    (runs / ".run_log_store" / "run-0.json").unlink()  # and one deleted by hand
    listed = _listing(runs)
    assert listed == _truth(runs) and "later" in listed and "run-0" not in listed


def test_a_crash_at_any_point_of_writing_the_index(runs: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "list.py", LIST)
    trace = tmp_path / "trace.txt"
    done = run_job(runs, script, "runs", "list", crash=True, FAULT_TRACE=str(trace))
    assert done.returncode == 0, done.stderr
    points = [int(line.split()[0]) for line in trace.read_text().splitlines()]
    assert points, "listing wrote no index"

    def crash(n: int) -> int:
        (runs / ".run_log_store" / INDEX).unlink(missing_ok=True)  # make every listing rewrite it
        return run_job(runs, script, "runs", "list", crash=True, FAULT_AT=str(n), FAULT_WHEN="before").returncode

    with ThreadPoolExecutor(1) as pool:  # one at a time: each crash must meet a missing index
        codes = list(pool.map(crash, points))
    assert -signal.SIGKILL in codes
    truth = _truth(runs)
    assert _listing(runs) == truth
    leftovers = [p.name for p in (runs / ".run_log_store").iterdir() if p.name.startswith(".runnable-tmp-")]
    assert all(name.endswith(INDEX) for name in leftovers)  # at most a partial index, never a record
    assert len(truth) == 4
