"""A selected file swapped for a symbolic link (to a file outside the working folder) before it is
read must never have the outside file's bytes stored or hashed: that file fails, naming itself.

The swap is made deterministic by doing it between selection (``patterns.expand``) and storing
(``put.put_files``), the window a racing process hits by chance; the real code then opens the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from runnable.backends.local.catalog import FileSystemStorage
from runnable.files.patterns import expand
from runnable.files.put import FORK_MIN_FILES, PutResult, put_files
from runnable.files.workers import can_fork
from tests.faults.helpers import clean_env

SECRET = b"outside secret bytes\n"


def _setup(tmp_path: Path, names: list[str], size: int = 16) -> tuple[Path, Path]:
    work = tmp_path / "work"
    (work / "o").mkdir(parents=True)
    for name in names:
        (work / "o" / name).write_bytes(b"x" * size)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(SECRET * (size // len(SECRET) + 1))
    return work, outside


def _swap(path: Path, outside: Path) -> None:
    path.unlink()
    path.symlink_to(outside)


def _assert_refused(result_failures: list[tuple[str, str]], rel: str) -> None:
    reasons = dict(result_failures)
    assert rel in reasons, result_failures
    assert "symbolic link" in reasons[rel], reasons[rel]


def _no_secret_in(catalog: Path) -> None:
    for dirpath, _dirs, files in os.walk(catalog):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as handle:
                assert SECRET not in handle.read(), os.path.join(dirpath, name)


@pytest.mark.parametrize("size", [16, 3 * 1024 * 1024], ids=["small", "large"])
def test_a_file_swapped_for_a_link_after_selection_is_not_stored(tmp_path: Path, size: int) -> None:
    work, outside = _setup(tmp_path, ["f.txt", "g.txt"], size)
    selection = expand(["o/"], work)
    assert [m.rel for m in selection.files] == ["o/f.txt", "o/g.txt"]
    _swap(work / "o" / "f.txt", outside)
    storage = FileSystemStorage(tmp_path / "catalog")

    result = put_files(selection.files, storage, "run-1", "md5", store_copy=True)

    _assert_refused(result.failures, "o/f.txt")
    assert [e.path for e in result.entries] == ["o/g.txt"]
    _no_secret_in(tmp_path / "catalog")


def test_a_file_swapped_for_a_link_is_not_hashed_either(tmp_path: Path) -> None:
    work, outside = _setup(tmp_path, ["f.txt"])
    selection = expand(["o/f.txt"], work)
    _swap(work / "o" / "f.txt", outside)

    result = put_files(selection.files, None, "run-1", "md5", store_copy=False)

    _assert_refused(result.failures, "o/f.txt")
    assert result.entries == []


def test_a_file_swapped_for_a_fifo_fails_instead_of_waiting(tmp_path: Path) -> None:
    work, _outside = _setup(tmp_path, ["f.txt"])
    selection = expand(["o/f.txt"], work)
    (work / "o" / "f.txt").unlink()
    os.mkfifo(work / "o" / "f.txt")  # opening it for reading would wait for a writer forever

    results: list[PutResult] = []
    worker = threading.Thread(target=lambda: results.append(
        put_files(selection.files, FileSystemStorage(tmp_path / "catalog"), "run-1", "md5", store_copy=True)))
    worker.start()
    worker.join(10)
    if worker.is_alive():  # release the waiting open before failing, so the test session goes on
        os.close(os.open(work / "o" / "f.txt", os.O_WRONLY | os.O_NONBLOCK))
        worker.join()
        pytest.fail("storing waited for a writer of a FIFO swapped in for the selected file")
    (rel, reason), = results[0].failures
    assert rel == "o/f.txt" and "no longer a regular file" in reason


@pytest.mark.skipif(not can_fork(), reason="worker processes need fork")
def test_many_small_files_in_worker_processes(tmp_path: Path) -> None:
    names = [f"f{i:04d}.txt" for i in range(FORK_MIN_FILES + 10)]
    work, outside = _setup(tmp_path, names)
    selection = expand(["o/"], work)
    swapped = ["o/f0003.txt", "o/f0100.txt"]
    for rel in swapped:
        _swap(work / rel, outside)
    storage = FileSystemStorage(tmp_path / "catalog")

    result = put_files(selection.files, storage, "run-1", "md5", store_copy=True)

    for rel in swapped:
        _assert_refused(result.failures, rel)
    assert len(result.entries) == len(names) - 2
    _no_secret_in(tmp_path / "catalog")


def test_a_link_selected_as_a_link_inside_the_folder_is_still_stored(tmp_path: Path) -> None:
    """A link that already was one when selected, to a file inside the working folder, is stored as
    before (its target's bytes): only a swap after selection is refused."""
    work, _outside = _setup(tmp_path, ["f.txt"])
    (work / "o" / "alias.txt").symlink_to(work / "o" / "f.txt")
    selection = expand(["o/"], work)

    result = put_files(selection.files, FileSystemStorage(tmp_path / "catalog"), "run-1", "md5", store_copy=True)

    assert result.failures == []
    assert sorted(e.path for e in result.entries) == ["o/alias.txt", "o/f.txt"]


def test_a_job_racing_a_swap_never_stores_the_outside_file(tmp_path: Path) -> None:
    """The end-to-end race: a process keeps swapping ``o/f.txt`` for a link out of the folder and
    back while jobs store ``o/``. Each run either stores the file's own bytes or fails naming it."""
    work, outside = _setup(tmp_path, [f"f{i}.txt" for i in range(40)])
    (work / "job.py").write_text(textwrap.dedent("""\
        from runnable import Catalog, PythonJob
        def noop():
            pass
        PythonJob(function=noop, catalog=Catalog(put=["o/"])).execute()
        """))
    swapper = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import os
        path, outside = {str(work / 'o' / 'f7.txt')!r}, {str(outside)!r}
        while True:
            tmp = path + ".swap"
            try:
                os.symlink(outside, tmp); os.replace(tmp, path)
                with open(tmp, "wb") as h: h.write(b"x" * 16)
                os.replace(tmp, path)
            except OSError:
                pass
        """)])
    try:
        for _ in range(8):
            subprocess.run([sys.executable, "job.py"], cwd=work, env=clean_env(), capture_output=True,
                           text=True, timeout=120, check=False)
    finally:
        swapper.kill()
        swapper.wait()
    _no_secret_in(work / ".catalog")
