"""Restoring never passes through a symbolic link in the target folder.

A run stores ``sub/forged.json``; someone then replaces ``sub/`` in the folder the run is restored
into with a link to the run-log store, to another run's catalog folder, or to a folder outside. A
restore (``runnable catalog get``, with or without ``--to``, with or without ``--force``) must
write nothing through the link: the file is refused, naming the link, and the stores are untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.helpers import cli, run_job, write_script

JOB = """\
from runnable import Catalog, PythonJob

def noop():
    pass

PythonJob(function=noop, catalog=Catalog(put=["sub/", "top.txt"])).execute()
"""


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for name in dirs + names:
            info = (Path(dirpath) / name).lstat()
            out[str(Path(dirpath) / name)] = (info.st_ino, info.st_mtime_ns)
    return out


def _stores(work: Path) -> dict[str, tuple[int, int]]:
    both = _tree(work / ".run_log_store") | _tree(work / ".catalog")
    return {p: v for p, v in both.items() if not Path(p).name.startswith(".index")}  # the listing cache


@pytest.fixture
def project(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "forged.json").write_text('{"not": "a record"}')
    (work / "top.txt").write_text("top")
    write_script(work, "job.py", JOB)
    for run_id in ("carrier", "victim"):
        done = run_job(work, work / "job.py", RUNNABLE_RUN_ID=run_id)
        assert done.returncode == 0, done.stderr
    return work


@pytest.mark.parametrize("into", ["run-log store", "other run", "outside"])
@pytest.mark.parametrize("force", [False, True])
def test_a_linked_folder_in_the_working_folder_is_never_followed(project: Path, into: str, force: bool) -> None:
    work = project
    outside = work.parent / "outside"
    outside.mkdir()
    target = {"run-log store": work / ".run_log_store", "other run": work / ".catalog" / "victim",
              "outside": outside}[into]
    stores = _stores(work)
    for path in (work / "sub").iterdir():
        path.unlink()
    (work / "sub").rmdir()
    (work / "sub").symlink_to(target)

    done = cli(work, "catalog", "get", "carrier", *(["--force"] if force else []))

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "refused     sub/forged.json" in done.stdout, done.stdout
    line = next(x for x in done.stdout.splitlines() if x.startswith("refused     sub/forged.json"))
    assert "sub is a symbolic link" in line and "never writes through" in line, line
    assert not (target / "forged.json").exists()
    assert (work / "sub").is_symlink()  # the user's link is left as it is
    assert _stores(work) == stores  # nothing written into, or removed from, either store
    assert (work / "top.txt").read_text() == "top"
    listed = cli(work, "runs", "list", "--json")
    assert '"forged"' not in listed.stdout


def test_a_linked_folder_deeper_in_to_is_never_followed(project: Path, tmp_path: Path) -> None:
    work = project
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "sub").symlink_to(work / ".run_log_store")

    done = cli(work, "catalog", "get", "carrier", "--to", str(restored), "--force")

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "refused     sub/forged.json" in done.stdout
    assert str(restored / "sub") in done.stdout
    assert not (work / ".run_log_store" / "forged.json").exists()
    assert (restored / "top.txt").read_text() == "top"  # the other file is restored


def test_a_link_in_place_of_the_file_itself_is_replaced_not_followed(project: Path, tmp_path: Path) -> None:
    """--force replaces a link standing where a file goes; the file it pointed at is not written."""
    work = project
    restored = tmp_path / "restored"
    (restored / "sub").mkdir(parents=True)
    aim = tmp_path / "aim.txt"
    aim.write_text("keep me")
    (restored / "sub" / "forged.json").symlink_to(aim)

    done = cli(work, "catalog", "get", "carrier", "--to", str(restored), "--force")

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert aim.read_text() == "keep me"
    assert not (restored / "sub" / "forged.json").is_symlink()
    assert (restored / "sub" / "forged.json").read_text() == '{"not": "a record"}'


def test_a_link_as_the_target_folder_itself_is_the_users_choice(project: Path, tmp_path: Path) -> None:
    """``--to`` may itself be a link (as the catalog folder may): only links below it are refused."""
    work = project
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)

    done = cli(work, "catalog", "get", "carrier", "--to", str(tmp_path / "alias"))

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert (real / "sub" / "forged.json").read_text() == '{"not": "a record"}'
