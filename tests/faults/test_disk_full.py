"""A catalog on a small tmpfs that fills up while a run stores its files.

The test mounts a 20 MiB tmpfs itself (it needs root, as in CI); it is skipped with the reason when
mounting is not permitted.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.helpers import STORE_JOB, assert_nothing_lies, cli, md5_of, read_state, run_job, write_script

SIZE = 20 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _setup(tmp_path: Path, mnt: Path, logs_on_disk: bool = False) -> tuple[Path, Path, Path]:
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    catalog = mnt / "catalog"
    store = (mnt / "logs") if logs_on_disk else (work / ".run_log_store")
    config = {"catalog": {"type": "file-system", "config": {"catalog_location": str(catalog)}},
              "run-log-store": {"type": "file-system", "config": {"log_folder": str(store)}}}
    (work / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    write_script(work, "job.py", STORE_JOB)
    return work, catalog, store


def _fill(mnt: Path) -> None:
    """Fill the disk at ``mnt`` completely."""
    with open(mnt / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass


def _free(mnt: Path) -> int:
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


def test_a_file_larger_than_the_free_space(small_disk: Path, tmp_path: Path) -> None:
    work, catalog, store = _setup(tmp_path, small_disk)
    (work / "data" / "big.bin").write_bytes(os.urandom(30 * 1024 * 1024))
    (work / "data" / "small.txt").write_text("small")
    before = {p.name: md5_of(p) for p in (work / "data").iterdir()}
    free_before = _free(small_disk)

    done = run_job(work, work / "job.py", "data/", RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml"))

    assert done.returncode == 1
    assert "could not store 'data/big.bin': No space left on device" in done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["status"] == "FAIL"
    state = assert_nothing_lies(catalog, store)
    (record,) = state.records.values()
    assert record["status"] == "FAIL" and "No space left" in record["error"]["message"]
    assert [f["path"] for f in record["files"]] == ["data/small.txt"]  # what fitted is kept
    assert before["big.bin"] not in state.objects  # no partial object
    assert state.temporaries == []  # the partial copy was removed
    assert _free(small_disk) >= free_before - 1024 * 1024  # and its space given back
    assert {p.name: md5_of(p) for p in (work / "data").iterdir()} == before  # working files intact


def test_many_files_fill_the_disk_midway(small_disk: Path, tmp_path: Path) -> None:
    work, catalog, store = _setup(tmp_path, small_disk)
    for i in range(10):
        (work / "data" / f"m{i}.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    before = {p.name: md5_of(p) for p in (work / "data").iterdir()}

    done = run_job(work, work / "job.py", "data/", RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml"))

    assert done.returncode == 1
    state = assert_nothing_lies(catalog, store)
    (run_id, record), = state.records.items()
    assert record["status"] == "FAIL"
    kept = {f["path"] for f in record["files"]}
    refused = {f"data/{name}" for name in before} - kept
    assert kept and refused  # some fitted, some did not: both are told
    for rel in refused:
        assert f"could not store {rel!r}: No space left on device" in done.stderr
    assert state.temporaries == []
    assert {p.name: md5_of(p) for p in (work / "data").iterdir()} == before
    # What the record lists verifies clean; gc then removes the failed run and frees the space.
    checked = cli(work, "catalog", "verify", run_id, "--config", str(work / "config.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    gone = cli(work, "gc", "--status", "fail", "--yes", "--config", str(work / "config.yaml"))
    assert gone.returncode == 0, gone.stdout + gone.stderr
    after = read_state(catalog, store)
    assert after.records == {} and after.run_files == {} and after.objects == {}


def test_no_room_even_for_the_run_record(small_disk: Path, tmp_path: Path) -> None:
    work, catalog, store = _setup(tmp_path, small_disk, logs_on_disk=True)
    (work / "data" / "small.txt").write_text("small")
    _fill(small_disk)

    done = run_job(work, work / "job.py", "data/", RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml"))

    assert done.returncode == 1
    assert "could not write the record of run" in done.stderr and "No space left on device" in done.stderr
    state = read_state(catalog, store)
    assert state.records == {} and state.run_files == {}  # the run never started: nothing claims it did
    assert not store.exists() or list(store.iterdir()) == []
    assert (work / "data" / "small.txt").read_text() == "small"


def test_rerunning_with_an_unchanged_large_output_needs_no_room_for_a_second_copy(small_disk: Path,
                                                                                   tmp_path: Path) -> None:
    work, catalog, store = _setup(tmp_path, small_disk)
    big = work / "data" / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))  # fits once in the 20 MiB disk, not twice
    config = str(work / "config.yaml")

    first = run_job(work, work / "job.py", "data/", RUNNABLE_CONFIGURATION_FILE=config)
    assert first.returncode == 0, first.stderr
    assert _free(small_disk) < 12 * 1024 * 1024  # copying it again before hashing would not fit

    second = run_job(work, work / "job.py", "data/", RUNNABLE_CONFIGURATION_FILE=config)

    assert second.returncode == 0, second.stderr
    state = assert_nothing_lies(catalog, store)
    assert [r["status"] for r in state.records.values()] == ["SUCCESS", "SUCCESS"]
    assert {r["files"][0]["hash"]["md5"] for r in state.records.values()} == {md5_of(big)}
    assert state.temporaries == []

    # The same size with other content must be copied, and there is no room: said, and nothing lies.
    with open(big, "r+b") as handle:
        handle.write(b"changed")
    third = run_job(work, work / "job.py", "data/", RUNNABLE_CONFIGURATION_FILE=config)
    assert third.returncode == 1
    assert "could not store 'data/big.bin': No space left on device" in third.stderr
    state = assert_nothing_lies(catalog, store)
    assert state.temporaries == []


def test_a_log_that_cannot_be_stored_stays_where_runnable_logs_finds_it(small_disk: Path, tmp_path: Path) -> None:
    work, catalog, store = _setup(tmp_path, small_disk)
    write_script(work, "job.py", "import sys\n"
                 "from runnable import PythonJob\n"
                 "def talk():\n"
                 "    print('the only copy of this line is in the log')\n"
                 "PythonJob(function=talk).execute(job_id='full-1')\n")
    _fill(small_disk)  # the catalog's disk is full from the start

    done = run_job(work, work / "job.py", RUNNABLE_CONFIGURATION_FILE=str(work / "config.yaml"))

    assert done.returncode == 1
    record = json.loads((store / "full-1.json").read_text())
    assert record["status"] == "FAIL" and record["execution_log"] is None
    shown = cli(work, "logs", "full-1", "--config", str(work / "config.yaml"))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "the only copy of this line is in the log\n"

