"""A run-log store that cannot be written (a read-only mount, a full disk) can still be read.

One run is killed (its record stays RUNNING, its process is gone), then the store is made
unwritable: every reader shows that run as FAIL ("owner process died") without writing it, and gc
can still free space on the full disk. A job whose files take the last inodes of the disk ends FAIL
with one clear reason instead of staying RUNNING.

Each test mounts a small tmpfs itself (it needs root, as in CI) and is skipped with the reason when
mounting is not permitted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.helpers import STORE_JOB, clean_env, cli, run_job, start_job, write_script

SLEEPER = """\
import pathlib, time
from runnable import Catalog, PythonJob

def sleep():
    pathlib.Path("started").write_text("yes")
    time.sleep(600)

PythonJob(function=sleep, catalog=Catalog(put=["data/"])).execute()
"""


def _mount(mnt: Path, options: str) -> None:
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    _mount(mnt, "size=8m")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _project(tmp_path: Path, mnt: Path) -> Path:
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "a.txt").write_text("a")
    config = {"catalog": {"type": "file-system", "config": {"catalog_location": str(mnt / "catalog")}},
              "run-log-store": {"type": "file-system", "config": {"log_folder": str(mnt / "logs")}}}
    (work / "config.yaml").write_text(json.dumps(config))
    return work


def _killed_run(work: Path) -> str:
    """Start a job, kill it while it runs; return its run id (its record stays RUNNING)."""
    write_script(work, "sleeper.py", SLEEPER)
    proc = start_job(work, work / "sleeper.py", RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml"))
    deadline = time.monotonic() + 60
    while not (work / "started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    logs = Path(json.loads((work / "config.yaml").read_text())["run-log-store"]["config"]["log_folder"])
    (record,) = [p for p in logs.glob("*.json") if json.loads(p.read_text())["status"] == "RUNNING"]
    return record.stem


def _readers_show_fail(work: Path, dead: str) -> None:
    env = {"RUNNABLE_CONFIGURATION_FILE": str(work / "config.yaml")}
    listed = cli(work, "runs", "list", "--json", **env)
    assert listed.returncode == 0, listed.stderr
    (run,) = [r for r in json.loads(listed.stdout) if r["run_id"] == dead]
    assert run["status"] == "FAIL" and "owner process died" in run["error"]
    verified = cli(work, "catalog", "verify", "--all", **env)
    assert "Traceback" not in verified.stderr and "Read-only" not in verified.stderr, verified.stderr
    assert "No space left" not in verified.stderr, verified.stderr
    api = subprocess.run(
        [sys.executable, "-c", "import runnable; print([(r.run_id, r.status) for r in runnable.runs()])"],
        cwd=work, env=clean_env(**env), capture_output=True, text=True, timeout=120, check=False)
    assert api.returncode == 0, api.stderr
    assert repr((dead, "FAIL")) in api.stdout


def test_a_read_only_store_is_read_without_writing(disk: Path, tmp_path: Path) -> None:
    work = _project(tmp_path, disk)
    dead = _killed_run(work)
    record = disk / "logs" / f"{dead}.json"
    before = record.read_bytes()
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only: {done.stderr.strip()}")

    _readers_show_fail(work, dead)
    gc = cli(work, "gc", "--dry-run", RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml"))
    assert gc.returncode == 0, gc.stderr
    assert record.read_bytes() == before  # nothing was written (it could not be)


def _fill(mnt: Path) -> None:
    with open(mnt / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 16))
                handle.flush()
        except OSError:
            pass


def test_a_full_store_is_read_and_gc_frees_space(disk: Path, tmp_path: Path) -> None:
    work = _project(tmp_path, disk)
    write_script(work, "job.py", STORE_JOB)
    (work / "data" / "big.bin").write_bytes(os.urandom(1 << 20))
    env = {"RUNNABLE_CONFIGURATION_FILE": str(work / "config.yaml")}
    ok = run_job(work, work / "job.py", "data/", **env)
    assert ok.returncode == 0, ok.stderr
    dead = _killed_run(work)
    _fill(disk)

    _readers_show_fail(work, dead)
    free = os.statvfs(disk).f_bavail
    gc = cli(work, "gc", "--yes", "--keep-last", "0", **env)
    assert gc.returncode == 0, gc.stderr
    assert os.statvfs(disk).f_bavail > free  # the stored megabyte was freed on the full disk
    assert list((disk / "logs").glob("*.json")) == []


@pytest.fixture
def few_inodes(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    _mount(mnt, "size=64m,nr_inodes=400")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_job_that_uses_up_the_inodes_ends_fail_with_one_reason(few_inodes: Path, tmp_path: Path) -> None:
    """The job's files live on the same small disk as the catalog and the records: storing them
    takes the last inodes. The run must still end FAIL, with one line for all the files that could
    not be stored, not hundreds, and a summary."""
    work = few_inodes / "work"
    (work / "data").mkdir(parents=True)
    config = {"catalog": {"type": "file-system", "config": {"catalog_location": str(few_inodes / "catalog")}},
              "run-log-store": {"type": "file-system", "config": {"log_folder": str(few_inodes / "logs")}}}
    (work / "config.yaml").write_text(json.dumps(config))
    write_script(work, "job.py", """\
        import os
        from runnable import Catalog, PythonJob

        def make():
            i = 0
            try:
                while True:  # as many files as the disk has inodes
                    with open(f"data/f{i}.txt", "w") as handle:
                        handle.write(str(i))
                    i += 1
            except OSError:
                pass
            for n in range(20):  # leave a few, as a job that stops short of the limit would
                os.unlink(f"data/f{n}.txt")

        PythonJob(function=make, catalog=Catalog(put=["data/"])).execute()
        """)

    done = run_job(work, work / "job.py", RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml"))

    assert done.returncode == 1, done.stderr
    # The job script's own JobFailedError is its one traceback; no OSError escapes runnable.
    assert "OSError" not in done.stderr and done.stderr.count("Traceback") <= 1, done.stderr[-3000:]
    assert "JobFailedError" in done.stderr
    lines = [line for line in done.stderr.splitlines() if "could not store" in line]
    assert 1 <= len(lines) <= 2, lines[:5]
    assert "more files" in lines[0]
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["status"] == "FAIL"
    (record,) = (few_inodes / "logs").glob("*.json")
    parsed = json.loads(record.read_text())
    assert parsed["status"] == "FAIL"
    assert "No space left on device" in parsed["error"]["message"]
