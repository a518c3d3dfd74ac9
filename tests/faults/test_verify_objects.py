"""verify never passes a stored file it did not really check.

An object deleted while the run folder's link to it remains is reported MISSING (not OK through the
run folder's copy), and an object or run file replaced by a symbolic link is never read through --
not by verify (which would print the linked file's hash), not by a restore: it is CORRUPT.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.faults.helpers import cli, md5_of, run_job, write_script

JOB = """\
from pathlib import Path
from runnable import Catalog, PythonJob

def make():
    Path("a.txt").write_text("stored bytes\\n")

PythonJob(function=make, catalog=Catalog(put=["a.txt"])).execute()
"""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    write_script(work, "job.py", JOB)
    done = run_job(work, work / "job.py", RUNNABLE_RUN_ID="r1")
    assert done.returncode == 0, done.stderr
    return work


def _object(work: Path) -> Path:
    digest = md5_of(work / "a.txt")
    return work / ".catalog" / ".objects" / "md5" / digest[:2] / digest[2:]


def _verdict(work: Path, *args: str) -> dict[str, str]:
    done = cli(work, "catalog", "verify", *args, "--json")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    files = json.loads(done.stdout)[0]["files"]
    return {f["path"]: f for f in files}["a.txt"]


def test_a_deleted_object_is_missing_even_when_the_run_folder_keeps_its_link(work: Path) -> None:
    _object(work).unlink()
    assert (work / ".catalog" / "r1" / "a.txt").is_file()

    for args in (["r1"], ["--all"]):
        found = _verdict(work, *args)
        assert found["state"] == "MISSING", found
        assert "is gone from the object store" in found["detail"]
        assert "the run folder's copy is whole" in found["detail"]
    text = cli(work, "catalog", "verify", "--all")
    assert text.returncode == 1 and "MISSING" in text.stdout


@pytest.mark.parametrize("where", ["object", "run file", "object prefix folder"])
def test_a_stored_file_replaced_by_a_link_is_never_read_through(work: Path, tmp_path: Path, where: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # The same bytes as stored: reading through the link would even say OK.
    (outside / (_object(work).name)).write_text("stored bytes\n")
    (outside / "other.txt").write_text("someone else's file\n")
    victim = {"object": _object(work), "run file": work / ".catalog" / "r1" / "a.txt",
              "object prefix folder": _object(work).parent}[where]
    if victim.is_dir():
        for child in victim.iterdir():
            child.unlink()
        victim.rmdir()
        victim.symlink_to(outside)
    else:
        victim.unlink()
        victim.symlink_to(outside / _object(work).name)

    found = _verdict(work, "r1")
    assert found["state"] == "CORRUPT", found
    assert "symbolic link" in found["detail"] and "never reads through" in found["detail"], found

    if where == "run file":
        return  # the object is whole: a restore reads the object, not the run folder
    restored = tmp_path / "restored"
    got = cli(work, "catalog", "get", "r1", "--to", str(restored))
    assert got.returncode == 1, (got.stdout, got.stderr)
    assert "symbolic link" in got.stdout and "Traceback" not in got.stderr
    assert not (restored / "a.txt").exists()


def test_the_hash_of_a_linked_file_is_never_printed(work: Path, tmp_path: Path) -> None:
    other = tmp_path / "hostname"
    other.write_text("a machine's name\n")
    _object(work).unlink()
    _object(work).symlink_to(other)

    done = cli(work, "catalog", "verify", "r1")

    assert done.returncode == 1
    assert "CORRUPT" in done.stdout
    assert md5_of(other) not in done.stdout + done.stderr


def test_a_fifo_in_place_of_an_object_is_never_opened(work: Path) -> None:
    _object(work).unlink()
    os.mkfifo(_object(work))
    found = _verdict(work, "r1")  # the timeout of cli() catches a hang
    assert found["state"] == "CORRUPT" and "special file" in found["detail"], found
