"""gc killed while deleting a run folder (its record already gone) leaves an orphan folder: the next
gc removes it, and ``catalog verify --all`` reports it until then.

gc runs through crashpoint.py, so the real gc process dies (SIGKILL) at a real system call: just
after it deleted the record, and after it unlinked one file of the run's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runnable.backends.local.catalog import FileSystemStorage
from runnable.backends.runlog import FileSystemRunLogStore
from runnable.history.gc import Policy, collect
from runnable.history.runs import History
from tests.faults.helpers import cli, run_job, write_script

JOB = """\
import os
from pathlib import Path
from runnable import Catalog, PythonJob

def make():
    Path("data").mkdir(exist_ok=True)
    for i in range(3):
        Path(f"data/{i}.txt").write_text(f"{os.environ['RUNNABLE_RUN_ID']} file {i}\\n")

PythonJob(function=make, catalog=Catalog(put=["data/"])).execute()
"""

GC = """\
import sys
from runnable.cli import main

sys.argv = ["runnable", "gc", "--status", "FAIL", "--yes"]
main()
"""


def _fail(work: Path, run_id: str) -> None:
    """Mark a run FAIL in its record, so that `gc --status FAIL` deletes it alone."""
    path = work / ".run_log_store" / f"{run_id}.json"
    record = json.loads(path.read_text())
    record["status"] = "FAIL"
    path.write_text(json.dumps(record))


def _links(path: Path) -> int:
    return os.stat(path).st_nlink


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    write_script(work, "job.py", JOB)
    write_script(work, "gc.py", GC)
    for run_id in ("doomed", "kept"):
        done = run_job(work, work / "job.py", RUNNABLE_RUN_ID=run_id)
        assert done.returncode == 0, done.stderr
    _fail(work, "doomed")
    return work


@pytest.mark.parametrize("unlinks_done", [1, 2])  # 1: the record only; 2: the record and one file
def test_the_next_gc_finishes_a_run_folder_a_killed_gc_left(work: Path, tmp_path: Path, unlinks_done: int) -> None:
    fired = tmp_path / "fired"
    killed = run_job(work, work / "gc.py", crash=True, FAULT_AT=str(unlinks_done), FAULT_WHEN="after",
                     FAULT_FIRED=str(fired))
    assert fired.exists() and killed.returncode == -9, (killed.stdout, killed.stderr)
    orphan = work / ".catalog" / "doomed"
    assert not (work / ".run_log_store" / "doomed.json").exists()
    assert orphan.is_dir()
    left = sorted(orphan.rglob("*.txt"))
    assert len(left) == 4 - unlinks_done
    held = {p: _links(p) for p in left}
    assert all(n == 2 for n in held.values())  # the orphan's links keep each object's bytes

    verified = cli(work, "catalog", "verify", "--all")
    assert verified.returncode == 1, verified.stdout
    line = next(x for x in verified.stdout.splitlines() if x.startswith("doomed"))
    assert "ORPHANED" in line and "runnable gc" in line, line
    assert "kept" in verified.stdout

    dry = cli(work, "gc", "--dry-run")
    assert dry.returncode == 0 and "would remove run folder doomed" in dry.stdout, dry.stdout
    assert orphan.is_dir()

    swept = cli(work, "gc", "--yes")
    assert swept.returncode == 0, (swept.stdout, swept.stderr)
    assert "removed run folder doomed" in swept.stdout, swept.stdout
    assert not orphan.exists()
    # Its objects are no longer held by anything: they are deleted in the same gc.
    objects = {p.stat().st_ino for p in (work / ".catalog" / ".objects" / "md5").rglob("*") if p.is_file()}
    assert objects == {p.stat().st_ino for p in (work / ".catalog" / "kept").rglob("*") if p.is_file()}
    assert cli(work, "catalog", "verify", "--all").returncode == 0
    # The run id is free again.
    again = run_job(work, work / "job.py", RUNNABLE_RUN_ID="doomed")
    assert again.returncode == 0, again.stderr


def test_a_run_folder_whose_record_exists_is_never_an_orphan(work: Path) -> None:
    """A starting run reserves its record before it makes its folder: such a folder is kept."""
    swept = cli(work, "gc", "--yes")
    assert swept.returncode == 0
    assert "removed run folder" not in swept.stdout
    assert (work / ".catalog" / "doomed").is_dir() and (work / ".catalog" / "kept").is_dir()


def test_links_and_files_in_the_catalog_are_not_taken_for_orphans(work: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("mine")
    (work / ".catalog" / "linked").symlink_to(outside)
    (work / ".catalog" / "stray.txt").write_text("x")
    swept = cli(work, "gc", "--yes")
    assert swept.returncode == 0, swept.stderr
    assert (outside / "precious.txt").read_text() == "mine"
    assert (work / ".catalog" / "linked").is_symlink() and (work / ".catalog" / "stray.txt").exists()


class _RunStartsWhileListing(FileSystemStorage):
    """The real catalog; as gc lists its run folders, another process starts a run: it reserves the
    record, then makes its folder, as the runner does."""

    def __init__(self, root: Path, records: Path) -> None:
        super().__init__(root)
        self.records = records

    def iter_run_ids(self) -> Iterator[str]:
        data = json.loads((self.records / "kept.json").read_text())
        data.update(run_id="starting", status="RUNNING", end=None, files=[])
        (self.records / "starting.json").write_text(json.dumps(data))
        self.begin_run("starting")
        yield from super().iter_run_ids()


def test_a_run_starting_while_gc_lists_its_folders_is_never_an_orphan(work: Path) -> None:
    (work / ".run_log_store" / "doomed.json").unlink()  # a real orphan beside the starting run
    storage = _RunStartsWhileListing(work / ".catalog", work / ".run_log_store")
    history = History(storage, FileSystemRunLogStore(work / ".run_log_store"))

    report = collect(history, Policy())

    assert report.orphans == ["doomed"]
    assert (work / ".catalog" / "starting").is_dir() and not (work / ".catalog" / "doomed").exists()
