"""The catalog stays sound when its own files are tampered with: real jobs in real subprocesses.

Two promises, checked on disk. A damaged object (mode 0444 stops neither root nor ``chmod u+w``)
is never reused: the next store puts a correct copy under its name. And the catalog never writes
outside its folder through a symbolic link planted inside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from runnable.backends.local.catalog import HASH_FIRST_MIN, HINTS, FileSystemStorage
from tests.conftest import run_cli, run_python

LARGE = HASH_FIRST_MIN + 4096 + 7

JOB = """\
import os, sys
from runnable import Catalog, PythonJob

def make():
    os.makedirs("out", exist_ok=True)
    with open("out/a.txt", "w") as handle:
        handle.write("hi\\n")
    size = int(os.environ.get("LARGE", "0"))
    if size:
        with open("out/model.bin", "wb") as handle:  # the same content every run
            handle.write(bytes(range(256)) * (size // 256) + b"x" * (size % 256))

PythonJob(function=make, catalog=Catalog(put=["out/"])).execute()
"""


def start(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)


def run(workdir: Path, run_id: str, large: int = 0) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Run the job as ``run_id``; its exit code and record."""
    done = run_python(Path("job.py"), workdir, env={"RUNNABLE_RUN_ID": run_id, "LARGE": str(large)})
    record = json.loads((workdir / ".run_log_store" / f"{run_id}.json").read_text())
    return done.returncode, record


def succeed(workdir: Path, run_id: str, large: int = 0) -> dict:  # type: ignore[type-arg]
    code, record = run(workdir, run_id, large)
    assert code == 0 and record["status"] == "SUCCESS", record
    return record


def object_of(workdir: Path, content: bytes) -> Path:
    digest = hashlib.md5(content).hexdigest()
    return workdir / ".catalog" / ".objects" / "md5" / digest[:2] / digest[2:]


def tamper(path: Path, action: str) -> None:
    """What root, or a user after ``chmod u+w``, can do to a read-only catalog file."""
    os.chmod(path, 0o644)
    if action == "append":
        with open(path, "ab") as handle:
            handle.write(b"EVIL\n")
    elif action == "overwrite at the same size":
        with open(path, "r+b") as handle:
            handle.write(b"HI\n")
    else:
        os.truncate(path, path.stat().st_size // 2)


def verify_states(workdir: Path, *run_ids: str) -> dict[tuple[str, str], str]:
    done = run_cli(workdir, "catalog", "verify", "--json", *run_ids)
    return {(run["run_id"], f["path"]): f["state"] for run in json.loads(done.stdout) for f in run["files"]}


# -- bug 1: a damaged object is replaced, never reused ---------------------------------------------


@pytest.mark.parametrize("action", ["append", "overwrite at the same size"])
def test_a_damaged_small_object_is_replaced_by_the_next_run(workdir: Path, action: str) -> None:
    start(workdir)
    succeed(workdir, "run-1")
    first, obj = workdir / ".catalog" / "run-1" / "out" / "a.txt", object_of(workdir, b"hi\n")
    tamper(first, action)  # the run file is a hard link: this damages the object too
    damaged = first.read_bytes()
    assert obj.read_bytes() == damaged != b"hi\n"

    succeed(workdir, "run-2")

    second = workdir / ".catalog" / "run-2" / "out" / "a.txt"
    assert second.read_bytes() == b"hi\n"  # the new run is born sound
    assert obj.read_bytes() == b"hi\n" and stat.S_IMODE(obj.stat().st_mode) == 0o444
    assert first.read_bytes() == damaged  # the old run keeps the damaged inode ...
    states = verify_states(workdir, "run-1", "run-2")
    assert states[("run-1", "out/a.txt")] == "CORRUPT"  # ... and verify says so
    assert states[("run-2", "out/a.txt")] == "OK"

    succeed(workdir, "run-3")  # a sound object is reused again: the same inode
    assert (workdir / ".catalog" / "run-3" / "out" / "a.txt").stat().st_ino == obj.stat().st_ino


@pytest.mark.parametrize("hint", ["with a hint (stored again)", "without a hint (first store)"])
def test_a_truncated_large_object_is_replaced_by_the_next_run(workdir: Path, hint: str) -> None:
    start(workdir)
    record = succeed(workdir, "run-1", LARGE)
    entry = next(f for f in record["files"] if f["path"] == "out/model.bin")
    digest = entry["hash"]["md5"]
    obj = workdir / ".catalog" / ".objects" / "md5" / digest[:2] / digest[2:]
    first = workdir / ".catalog" / "run-1" / "out" / "model.bin"
    good = first.read_bytes()
    tamper(first, "truncate")
    if hint.startswith("without"):
        shutil.rmtree(workdir / ".catalog" / HINTS)
    else:
        assert any((workdir / ".catalog" / HINTS).iterdir())

    second_record = succeed(workdir, "run-2", LARGE)

    second = workdir / ".catalog" / "run-2" / "out" / "model.bin"
    assert second.read_bytes() == good and obj.read_bytes() == good
    assert next(f for f in second_record["files"] if f["path"] == "out/model.bin")["hash"] == {"md5": digest}
    assert first.stat().st_size == LARGE // 2  # the old run keeps the damaged inode
    assert verify_states(workdir, "run-2")[("run-2", "out/model.bin")] == "OK"


# -- bug 2: nothing is written outside the catalog through a link inside it ------------------------


def _plant(workdir: Path, where: str, outside: Path) -> Path:
    """A symbolic link at ``where`` (relative to the working folder) to the empty folder ``outside``."""
    link = workdir / where
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(outside, link.parent))
    return link


def _prefix_of(content: bytes) -> str:
    return f".catalog/.objects/md5/{hashlib.md5(content).hexdigest()[:2]}"


@pytest.mark.parametrize(
    ("where", "large"),
    [
        (".catalog/.objects", 0),
        (".catalog/.objects/md5", 0),
        (_prefix_of(b"hi\n"), 0),  # the object prefix folder of out/a.txt
        (".catalog/.objects/tmp", LARGE),  # where large copies are written first
    ],
)
def test_a_symbolic_link_inside_the_catalog_is_refused_and_nothing_is_written_outside(
    workdir: Path, tmp_path: Path, where: str, large: int
) -> None:
    start(workdir)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = _plant(workdir, where, outside)

    code, record = run(workdir, "plant", large)

    assert code != 0 and record["status"] == "FAIL"
    assert list(outside.iterdir()) == []
    assert link.is_symlink()  # left as it was
    text = json.dumps(record)
    assert "is a symbolic link inside the catalog" in text and json.dumps(str(link))[1:-1] in text


@pytest.mark.parametrize("left", ["link", "file", "folder with a link inside"])
def test_a_run_folder_already_there_is_refused_before_the_job_and_left_alone(
    workdir: Path, tmp_path: Path, left: str
) -> None:
    # The folder of a run whose record is gone (deleted by hand, or by a gc that failed halfway):
    # whatever it holds could lead out of the catalog, so a run of that id never stores into it.
    start(workdir)
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = workdir / ".catalog" / "plant"
    folder.parent.mkdir()
    if left == "link":
        folder.symlink_to(outside)
    elif left == "file":
        folder.write_text("mine")
    else:
        folder.mkdir()
        (folder / "out").symlink_to(outside)
    done = run_python(Path("job.py"), workdir, env={"RUNNABLE_RUN_ID": "plant", "LARGE": "0"})
    assert done.returncode != 0
    assert "the catalog already has a folder for run 'plant'" in done.stderr
    assert not (workdir / "out").exists()  # the job never ran
    assert not (workdir / ".run_log_store" / "plant.json").exists()  # the id is given back
    assert list(outside.iterdir()) == []
    assert folder.is_symlink() if left == "link" else (folder.read_text() == "mine" if left == "file"
                                                       else (folder / "out").is_symlink())


def test_a_catalog_folder_that_is_itself_a_link_keeps_working(workdir: Path, tmp_path: Path) -> None:
    start(workdir)
    real = tmp_path / "real-catalog"
    real.mkdir()
    (workdir / ".catalog").symlink_to(real)  # the user's choice: e.g. a catalog on a bigger disk

    succeed(workdir, "run-1", LARGE)
    succeed(workdir, "run-2", LARGE)

    for name in ("a.txt", "model.bin"):
        one, two = real / "run-1" / "out" / name, real / "run-2" / "out" / name
        assert one.read_bytes() == two.read_bytes() and one.stat().st_ino == two.stat().st_ino  # dedup
    assert (real / "run-1" / "out" / "a.txt").read_bytes() == b"hi\n"
    assert set(verify_states(workdir, "run-1", "run-2").values()) == {"OK"}


@pytest.mark.parametrize("planted", [".objects", ".objects/md5", ".objects/md5/ab"])
def test_gc_never_deletes_through_a_link_inside_the_catalog(tmp_path: Path, planted: str) -> None:
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.history import gc
    from runnable.history.runs import History
    from runnable.record import FileEntry, RunRecord

    storage = FileSystemStorage(tmp_path / ".catalog")
    source = tmp_path / "kept.txt"
    source.write_bytes(b"kept")
    kept = storage.store("run-1", "kept.txt", source, "md5")
    store = FileSystemRunLogStore(tmp_path / ".run_log_store")
    store.put(RunRecord(run_id="run-1", status="SUCCESS", job={}, start="2024-01-01T00:00:00+00:00",
                        files=[FileEntry("kept.txt", 4, {"md5": kept.digest}, True, kept.location)]))
    # Someone else's files, shaped like objects, reached through a link planted in the catalog.
    victim = tmp_path / "victim"
    depth = planted.count("/")  # how many folder levels the link stands in for
    shaped = victim / "/".join(["md5", "ab"][depth:]) if depth < 2 else victim
    shaped.mkdir(parents=True)
    (shaped / ("0" * 30)).write_bytes(b"precious")
    link = tmp_path / ".catalog" / planted
    if link.exists():
        os.rename(link, tmp_path / "moved-aside")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)
    report = gc.collect(History(storage, store), gc.Policy())
    assert (shaped / ("0" * 30)).read_bytes() == b"precious"
    assert all(digest != "ab" + "0" * 30 for _, digest, _ in report.objects)


def test_once_the_leftover_run_folder_is_removed_the_same_id_runs(workdir: Path) -> None:
    start(workdir)
    first = succeed(workdir, "again")
    (workdir / ".run_log_store" / "again.json").unlink()  # the record removed by hand
    refused = run_python(Path("job.py"), workdir, env={"RUNNABLE_RUN_ID": "again", "LARGE": "0"})
    assert refused.returncode != 0 and "remove that folder or choose another run id" in refused.stderr
    shutil.rmtree(workdir / ".catalog" / "again")  # what the message says to do
    second = succeed(workdir, "again")
    assert [f["path"] for f in second["files"]] == [f["path"] for f in first["files"]]
