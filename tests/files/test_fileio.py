"""Copying while hashing: exact bytes, every algorithm, failures that leave nothing behind, progress."""

from __future__ import annotations

import hashlib
import os
import pty
import random
import select
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from blake3 import blake3

from runnable.files.fileio import TEMP_PREFIX, atomic_write_bytes, copy_and_hash, write_new_file
from runnable.files.hashing import (
    CHUNK_SIZE,
    KERNEL_CHUNK,
    SMALL_FILE,
    SourceChangedError,
    _copy_in_kernel,
    hash_bytes,
    hash_file,
    new_hasher,
)
from runnable.files.progress import TransferProgress
from tests.conftest import run_python

# The last two cross the kernel copy's chunk boundaries (one chunk plus a bit, several chunks).
SIZES = [0, 1, SMALL_FILE - 1, SMALL_FILE, SMALL_FILE + 1, KERNEL_CHUNK + 1, 2 * KERNEL_CHUNK + 123]


def reference(data: bytes, algorithm: str) -> str:
    if algorithm == "blake3":
        return str(blake3(data).hexdigest())
    return hashlib.new(algorithm, data).hexdigest()


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("algorithm", ["md5", "sha256", "blake3"])
@pytest.mark.parametrize("size", SIZES)
def test_copy_is_byte_identical_and_hash_is_of_the_whole_content(tmp_path: Path, algorithm: str,
                                                                   size: int) -> None:
    data = data_of(size, seed=size)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    seen: list[int] = []
    digest, copied = copy_and_hash(source, tmp_path / "copy.bin", algorithm, seen.append)
    assert (digest, copied) == (reference(data, algorithm), size)
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert sum(seen) == size
    assert hash_file(source, algorithm) == (digest, size)
    assert hash_bytes(data, algorithm) == digest


def test_large_copies_keep_hashing_off_the_reading_thread_and_stop_their_helper(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(data_of(6 * CHUNK_SIZE))
    before = {t.name for t in threading.enumerate()}
    copy_and_hash(source, tmp_path / "copy.bin", "md5")
    assert {t.name for t in threading.enumerate()} == before  # no helper thread left running


def test_a_failure_mid_copy_removes_the_partial_destination(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(data_of(8 * CHUNK_SIZE))
    destination = tmp_path / "partial.bin"
    done = 0

    def interrupt(n: int) -> None:
        nonlocal done
        done += n
        if done >= 3 * CHUNK_SIZE:
            raise KeyboardInterrupt("simulated Ctrl-C half way")

    with pytest.raises(KeyboardInterrupt):
        copy_and_hash(source, destination, "md5", interrupt)
    assert not destination.exists()
    assert [t.name for t in threading.enumerate() if t.name == "runnable-hash"] == []


@pytest.mark.parametrize("change", ["shrink", "grow", "rewrite"])
def test_a_source_that_changes_during_the_copy_is_refused(tmp_path: Path, change: str) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(data_of(3 * KERNEL_CHUNK))  # the change lands after the 2nd of 3 chunks
    destination = tmp_path / "copy.bin"
    calls = 0

    def meddle(n: int) -> None:
        nonlocal calls
        calls += 1
        if calls != 2:
            return
        if change == "shrink":
            os.truncate(source, CHUNK_SIZE // 2)
        elif change == "grow":
            with open(source, "ab") as handle:
                handle.write(b"more")
        else:  # same size, new bytes: only the modification time tells
            with open(source, "r+b") as handle:
                handle.write(b"x" * 10)
            stat = os.stat(source)
            os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    with pytest.raises(SourceChangedError, match="big.bin"):
        copy_and_hash(source, destination, "sha256", meddle)
    assert not destination.exists()
    calls = 0
    if change == "grow":  # hashing alone notices it too
        with pytest.raises(SourceChangedError):
            hash_file(source, "md5", meddle)


def test_writes_refuse_existing_names_and_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    write_new_file(target, b"one")
    assert target.read_bytes() == b"one"
    assert oct(target.stat().st_mode & 0o777) == oct(0o444)
    with pytest.raises(FileExistsError):
        write_new_file(target, b"two")
    atomic_write_bytes(tmp_path / "y.json", b"{}")
    assert (tmp_path / "y.json").read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


# -- progress ------------------------------------------------------------------------------------

def test_progress_counts_without_a_terminal_and_draws_nothing() -> None:
    with TransferProgress(total_bytes=100, total_files=2, terminal_fd=None, delay=0) as bar:
        bar.add_bytes(60)
        bar.add_file()
        bar.add_bytes(40)
        bar.add_file()
    assert (bar.bytes_done, bar.files_done, bar.shown) == (100, 2, False)


def test_progress_draws_on_a_terminal_once_the_delay_has_passed() -> None:
    main, side = pty.openpty()
    try:
        with TransferProgress(total_bytes=3 * 1024 * 1024, total_files=3, terminal_fd=side, delay=0) as bar:
            bar.add_bytes(1024 * 1024)
            bar.add_file()
            text = _read_until(main, b"1/3 files")
        assert bar.shown
        assert b"storing" in text
        with TransferProgress(total_bytes=1, total_files=1, terminal_fd=side, delay=30) as quick:
            quick.add_bytes(1)
        assert not quick.shown  # finished before the delay: nothing drawn
    finally:
        os.close(main)
        os.close(side)


def _read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"no {needle!r} on the terminal; saw {seen!r}"
        seen += os.read(fd, 65536)
    return seen


JOB = """\
from runnable import Catalog, PythonJob

def make():
    with open("out.bin", "wb") as handle:
        handle.write(b"x" * (3 * 1024 * 1024))

PythonJob(function=make, catalog=Catalog(put=["out.bin"])).execute()
"""


def test_a_run_shows_no_progress_bar_when_output_is_not_a_terminal(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB + "import sys; print('rich loaded:', 'rich' in sys.modules)\n")
    done = run_python(Path("job.py"), workdir, env={"RUNNABLE_PROGRESS_DELAY": "0"})
    assert done.returncode == 0, done.stderr
    assert "rich loaded: False" in done.stdout
    assert "\x1b[" not in done.stdout + done.stderr  # no terminal control sequences at all
    assert "storing" not in done.stderr


def test_a_run_on_a_terminal_draws_the_bar_there_and_not_in_the_execution_log(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    main, side = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env["RUNNABLE_PROGRESS_DELAY"] = "0"
    try:
        proc = subprocess.Popen([sys.executable, "job.py"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                                stderr=side, text=True)
        os.close(side)
        on_terminal = b""
        while True:
            ready, _, _ = select.select([main], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            on_terminal += chunk
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(main)
    assert proc.returncode == 0, on_terminal.decode(errors="replace")
    assert b"1/1 files" in on_terminal
    logs = list((workdir / ".catalog").glob("*/*.execution.log"))
    assert len(logs) == 1
    assert "files" not in logs[0].read_text() and "\x1b[" not in logs[0].read_text()
    assert '"status": "SUCCESS"' in out


def test_the_kernel_copy_hashes_the_bytes_that_landed_and_needs_a_readable_destination(tmp_path: Path) -> None:
    data = data_of(3 * KERNEL_CHUNK + 5, seed=7)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    src = os.open(source, os.O_RDONLY)
    try:
        # A write-only destination cannot be read back: the kernel path declines before writing.
        write_only = os.open(tmp_path / "wo.bin", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            assert _copy_in_kernel(src, write_only, new_hasher("md5"), None) is None
            assert os.fstat(write_only).st_size == 0
        finally:
            os.close(write_only)
        readable = os.open(tmp_path / "rw.bin", os.O_RDWR | os.O_CREAT, 0o644)
        hasher = new_hasher("md5")
        try:
            assert _copy_in_kernel(src, readable, hasher, None) == len(data)
        finally:
            os.close(readable)
    finally:
        os.close(src)
    assert (tmp_path / "rw.bin").read_bytes() == data
    assert hasher.hexdigest() == hashlib.md5(data).hexdigest()


def test_copies_between_file_systems_fall_back_to_user_space(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system (/dev/shm) beside the temporary folder")
    data = data_of(KERNEL_CHUNK + 77, seed=3)
    source = shm / f"runnable-test-{os.getpid()}.bin"
    source.write_bytes(data)
    try:
        digest, size = copy_and_hash(source, tmp_path / "copy.bin", "blake3")
    finally:
        source.unlink()
    assert (digest, size) == (reference(data, "blake3"), len(data))
    assert (tmp_path / "copy.bin").read_bytes() == data


class _SlowCountingMD5:
    """MD5 that takes its time and counts what it was given: the copy gets far ahead of it."""

    def __init__(self) -> None:
        self.inner = hashlib.md5()
        self.seen = 0

    def update(self, data: bytes | memoryview) -> None:
        threading.Event().wait(0.02)
        self.inner.update(data)
        self.seen += len(data)

    def hexdigest(self) -> str:
        return self.inner.hexdigest()


def test_an_interrupt_while_the_hash_catches_up_with_the_copy_stops_it(tmp_path: Path) -> None:
    # 32 MiB: the kernel copy is done at once; hashing what landed takes ~0.6 s at this pace. A
    # Ctrl-C in that wait must stop the hashing, not wait for it (up to 1 GiB of it for real).
    source = tmp_path / "big.bin"
    source.write_bytes(random.Random(5).randbytes(32 << 20))
    hasher = _SlowCountingMD5()
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), 2))
    with open(source, "rb") as src_file, open(tmp_path / "copy.bin", "w+b") as sink_file:
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                _copy_in_kernel(src_file.fileno(), sink_file.fileno(), hasher, None)
        finally:
            timer.cancel()
    assert 0 < hasher.seen < (32 << 20) // 2


def test_blocking_path_names_what_stands_where_a_folder_must_be(tmp_path: Path) -> None:
    from runnable.files.fileio import blocking_path

    (tmp_path / "real").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "to-folder").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert blocking_path(tmp_path / "real" / "a" / "b") is None  # missing below a folder: makeable
    assert blocking_path(tmp_path / "to-folder" / "a") is None  # a link to a folder is a folder
    assert blocking_path(tmp_path / "file" / "a") == tmp_path / "file"
    assert blocking_path(tmp_path / "dangling" / "a") == tmp_path / "dangling"
    assert blocking_path(tmp_path / "dangling") == tmp_path / "dangling"
