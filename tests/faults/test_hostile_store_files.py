"""Things in the run-log store that are no run record: every reader shows them as UNREADABLE (or
rebuilds the index) and goes on, without dying (RecursionError) or hanging (a FIFO opened for
reading waits for a writer forever).

One good run is made; the hostile file is then put beside its record, and each reader runs in a
real subprocess with a time limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.helpers import STORE_JOB, clean_env, cli, run_job, write_script


def _nested(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def _nested_object(path: Path) -> None:
    path.write_text('{"run_id": "deep", "status": "FAIL", "parameters": ' + "[" * 5000 + "]" * 5000 + "}")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _folder(path: Path) -> None:
    path.mkdir()


HOSTILE: dict[str, Callable[[Path], None]] = {
    "nested-brackets": _nested,
    "nested-in-a-record": _nested_object,
    "fifo": _fifo,
    "folder": _folder,
}


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "a.txt").write_text("a")
    write_script(work, "job.py", STORE_JOB)
    done = run_job(work, work / "job.py")
    assert done.returncode == 0, done.stderr
    (record,) = (work / ".run_log_store").glob("*.json")
    return work, record.stem


def _readers(work: Path, good: str, bad: str) -> None:
    listed = cli(work, "runs", "list", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    status = {r["run_id"]: r["status"] for r in json.loads(listed.stdout)}
    assert status[good] == "SUCCESS"
    assert status[bad] == "UNREADABLE"
    plain = cli(work, "runs", "list", timeout=60)
    assert plain.returncode == 0 and good in plain.stdout, plain.stderr
    verified = cli(work, "catalog", "verify", "--all", timeout=60)
    assert "RecursionError" not in verified.stderr and "Traceback" not in verified.stderr, verified.stderr
    assert good in verified.stdout + verified.stderr and bad in verified.stdout + verified.stderr
    gc = cli(work, "gc", "--dry-run", timeout=60)
    assert "RecursionError" not in gc.stderr and "Traceback" not in gc.stderr, gc.stderr
    api = subprocess.run(
        [sys.executable, "-c", "import runnable; print(sorted((r.run_id, r.status) for r in runnable.runs()))"],
        cwd=work, env=clean_env(), capture_output=True, text=True, timeout=60, check=False)
    assert api.returncode == 0, api.stderr
    assert repr((good, "SUCCESS")) in api.stdout and repr((bad, "UNREADABLE")) in api.stdout


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_record_file_is_unreadable_and_the_rest_works(project: tuple[Path, str], kind: str) -> None:
    work, good = project
    HOSTILE[kind](work / ".run_log_store" / "hostile.json")
    _readers(work, good, "hostile")


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_index_is_rebuilt_or_passed_by(project: tuple[Path, str], kind: str) -> None:
    work, good = project
    index = work / ".run_log_store" / ".index.json"
    index.unlink(missing_ok=True)
    HOSTILE[kind](index)
    for _ in range(2):  # the second listing reads the index the first one wrote, if it could
        listed = cli(work, "runs", "list", "--json", timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert [r["run_id"] for r in json.loads(listed.stdout)] == [good]
