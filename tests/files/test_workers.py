"""Forked worker processes for many files: every piece done once, deaths and interrupts handled."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runnable.backends.local.catalog import FileSystemStorage
from runnable.files.patterns import expand
from runnable.files.put import FORK_MIN_FILES, put_files
from runnable.files.workers import can_fork, run_forked

pytestmark = pytest.mark.skipif(not can_fork(), reason="forked workers are used on Linux only")


def _gone(pids: set[int]) -> bool:
    """True once none of ``pids`` exists any more, not even as a zombie (so each was waited for)."""
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)


def _note_pid(log: Path) -> None:
    with open(log, "a") as handle:
        handle.write(f"{os.getpid()}\n")


def test_every_index_is_done_once_and_the_work_is_shared() -> None:
    got: dict[int, str] = {}

    def work(i: int) -> str:
        time.sleep(0.001)
        return f"{i * 3} {os.getpid()}"

    assert run_forked(400, work, 2, got.__setitem__) == []
    assert sorted(got) == list(range(400))
    assert all(text.split()[0] == str(i * 3) for i, text in got.items())
    pids = {text.split()[1] for text in got.values()}
    assert len(pids) == 2 and str(os.getpid()) not in pids
    assert _gone({int(pid) for pid in pids})  # every worker was waited for


def test_a_worker_that_dies_leaves_its_unfinished_indices_to_the_caller() -> None:
    got: dict[int, str] = {}

    def work(i: int) -> str:
        if i == 70:
            os.kill(os.getpid(), signal.SIGKILL)
        return "ok"

    missing = run_forked(300, work, 2, got.__setitem__)
    assert 70 in missing
    assert set(missing).isdisjoint(got)
    assert set(missing) | set(got) == set(range(300))
    assert len(got) >= 300 - 64  # only what the dead worker held (at most its block and the unsent batch)


def test_an_interrupt_in_the_parent_stops_and_reaps_the_workers(tmp_path: Path) -> None:
    started = time.monotonic()
    log = tmp_path / "pids"

    def work(i: int) -> str:
        _note_pid(log)
        time.sleep(0.01)  # 1,000 pieces of 10 ms: ~5 s of work on two workers if not stopped
        return "ok"

    def interrupt(i: int, text: str) -> None:
        raise KeyboardInterrupt("simulated Ctrl-C")

    with pytest.raises(KeyboardInterrupt):
        run_forked(1000, work, 2, interrupt)
    assert time.monotonic() - started < 3
    workers = {int(pid) for pid in log.read_text().split()}
    assert 1 <= len(workers) <= 2 and _gone(workers)


def _kill_parent_once_workers_run(script: Path, pids_file: Path, count: int) -> tuple[set[int], list[int]]:
    """Run ``script``, SIGKILL it once ``count`` workers wrote their pid to ``pids_file``; return the
    workers and those still alive (not zombies) 10 s later, which are then killed, not left behind."""
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if pids_file.exists() and len(set(pids_file.read_text().split())) == count:
                break
            time.sleep(0.01)
        workers = {int(p) for p in pids_file.read_text().split()}
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.01)
    alive = [p for p in workers if Path(f"/proc/{p}").exists()
             and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    for pid in alive:
        os.kill(pid, 9)
    return workers, alive


def _parent_script(tmp_path: Path, body: str) -> tuple[Path, Path]:
    """A script whose workers each note their pid in the returned file, then sleep; ``body`` runs them."""
    pids_file = tmp_path / "pids"
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, threading, time
        from runnable.files.workers import run_forked

        def work(i):
            with open({str(pids_file)!r}, "a") as handle:
                handle.write(f"{{os.getpid()}}\\n")
            time.sleep(60)
            return "never"
    """) + textwrap.dedent(body))
    return script, pids_file


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    script, pids_file = _parent_script(tmp_path, """
        run_forked(4, work, 2, lambda i, text: None, block=1)
    """)
    workers, alive = _kill_parent_once_workers_run(script, pids_file, 2)
    assert len(workers) == 2
    assert alive == []


def test_workers_of_two_puts_in_threads_die_with_a_killed_parent(tmp_path: Path) -> None:
    # Each run's workers are forked while the other run's pipes are open, so they hold copies of
    # them: ending on a pipe's end of file could wait on the other run's workers forever.
    script, pids_file = _parent_script(tmp_path, """
        threads = [threading.Thread(target=run_forked, args=(4, work, 2, lambda i, text: None), kwargs={"block": 1})
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    """)
    workers, alive = _kill_parent_once_workers_run(script, pids_file, 4)
    assert len(workers) == 4
    assert alive == []


def test_two_puts_in_threads_of_one_process_both_finish(tmp_path: Path) -> None:
    # Each one's workers used to keep copies of the other's pipes open: when both forked between the
    # other's pipe and fork, each waited for the other's end of file, forever (2 times in 5 here).
    script = tmp_path / "two.py"
    script.write_text(textwrap.dedent("""
        import threading
        from runnable.files.workers import run_forked

        for attempt in range(10):
            got = [{}, {}]
            threads = [threading.Thread(target=run_forked, args=(400, str, 2, got[k].__setitem__),
                                        kwargs={"block": 1}, daemon=True) for k in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(20)
            assert not any(t.is_alive() for t in threads), f"attempt {attempt}: a put never finished"
            assert got[0] == got[1] == {i: str(i) for i in range(400)}
        print("ok")
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _many_files(work: Path, count: int) -> dict[str, bytes]:
    contents = {}
    for i in range(count):
        rel = f"data/d{i % 5}/f{i}.txt"
        data = f"file {i % (count // 2)}\n".encode() * (i % 7 + 1)  # every content twice: dedup
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
        contents[rel] = data
    return contents


def test_many_files_are_stored_by_workers_exactly_as_one_process_would(tmp_path: Path) -> None:
    work = tmp_path / "work"
    contents = _many_files(work, FORK_MIN_FILES + 72)
    files = expand(["data"], work).files
    storage = FileSystemStorage(tmp_path / ".catalog")
    result = put_files(files, storage, "run-1", "md5", store_copy=True)
    assert result.failures == []
    assert [e.path for e in result.entries] == [m.rel for m in files]  # the selection's order
    for entry in result.entries:
        data = contents[entry.path]
        assert entry.hash == {"md5": hashlib.md5(data).hexdigest()} and entry.size == len(data)
        run_file = storage.run_file("run-1", entry.path)
        assert run_file.read_bytes() == data
        obj = storage.object_path("md5", entry.hash["md5"])
        assert os.stat(run_file).st_ino == os.stat(obj).st_ino  # a link, not a copy
        assert stat.S_IMODE(os.stat(obj).st_mode) & 0o222 == 0
    distinct = {hashlib.md5(d).digest() for d in contents.values()}
    assert len(list(storage.iter_objects())) == len(distinct)
    assert result.bytes_new == sum(len(d) for d in {hashlib.md5(d).digest(): d for d in contents.values()}.values())


def test_a_file_that_vanishes_is_reported_by_name_and_the_rest_are_stored(tmp_path: Path) -> None:
    work = tmp_path / "work"
    _many_files(work, FORK_MIN_FILES + 10)
    files = expand(["data"], work).files
    gone = files[37]
    os.unlink(gone.path)
    result = put_files(files, FileSystemStorage(tmp_path / ".catalog"), "run-1", "md5", store_copy=True)
    assert [rel for rel, _ in result.failures] == [gone.rel]
    assert "No such file" in result.failures[0][1] and os.path.basename(gone.path) in result.failures[0][1]
    assert len(result.entries) == len(files) - 1


def test_hash_only_for_many_files_uses_workers_too(tmp_path: Path) -> None:
    work = tmp_path / "work"
    contents = _many_files(work, FORK_MIN_FILES + 5)
    files = expand(["data"], work).files
    result = put_files(files, None, "run-1", "sha256", store_copy=False)
    assert {e.path: e.hash["sha256"] for e in result.entries} == {
        rel: hashlib.sha256(data).hexdigest() for rel, data in contents.items()
    }
    assert all(e.stored is False and e.location is None for e in result.entries)


def test_when_no_worker_can_be_forked_the_work_is_done_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # what fork says at the process limit

    monkeypatch.setattr(os, "fork", no_fork)
    got: dict[int, str] = {}
    assert run_forked(50, lambda i: f"{i}:{os.getpid()}", 2, got.__setitem__) == []
    assert got == {i: f"{i}:{os.getpid()}" for i in range(50)}


def test_blake3_in_workers_after_the_parent_hashed_with_threads(tmp_path: Path) -> None:
    # blake3 hashes a large file on a thread pool; a forked worker inherits that pool without its
    # threads. Run in a child process with a timeout: the bug this guards against was a hang.
    script = tmp_path / "b3.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from pathlib import Path
        from runnable.files.hashing import hash_file
        from runnable.files.patterns import expand
        from runnable.files.put import FORK_MIN_FILES, put_files

        base = Path({str(tmp_path)!r})
        (base / "data").mkdir()
        for i in range(FORK_MIN_FILES + 2):
            (base / "data" / f"f{{i}}").write_bytes(os.urandom(3 << 20) if i < 4 else b"%d" % i)
        hash_file(base / "data" / "f0", "blake3")  # the parent's pool now exists
        result = put_files(expand(["data"], base).files, None, "run-1", "blake3", store_copy=False)
        print(len(result.entries), len(result.failures))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(FORK_MIN_FILES + 2), "0"]


def test_workers_store_an_unchanged_large_file_again_by_hashing_it_first(tmp_path: Path) -> None:
    # The second put hashes the large file (blake3, one thread in a worker) before any copy; run in
    # a child process with a timeout, as above.
    script = tmp_path / "again.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from pathlib import Path
        from runnable.files.hashing import hash_file
        from runnable.files.patterns import expand
        from runnable.files.put import FORK_MIN_FILES, put_files
        from runnable.backends.local.catalog import HASH_FIRST_MIN, FileSystemStorage

        base = Path({str(tmp_path)!r})
        (base / "data").mkdir()
        (base / "data" / "big").write_bytes(os.urandom(HASH_FIRST_MIN + 1))
        for i in range(FORK_MIN_FILES):
            (base / "data" / f"f{{i}}").write_bytes(b"%d" % i)
        hash_file(base / "data" / "big", "blake3")  # the parent's pool now exists
        storage = FileSystemStorage(base / ".catalog")
        for run in ("run-1", "run-2"):
            result = put_files(expand(["data"], base).files, storage, run, "blake3", store_copy=True)
            print(len(result.entries), len(result.failures), result.bytes_new)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first, second = (line.split() for line in done.stdout.splitlines())
    assert first[:2] == second[:2] == [str(FORK_MIN_FILES + 1), "0"]
    assert int(first[2]) > 8 << 20 and second[2] == "0"  # nothing new the second time
    one, two = (tmp_path / ".catalog" / run / "data" / "big" for run in ("run-1", "run-2"))
    assert one.stat().st_ino == two.stat().st_ino
    assert two.read_bytes() == (tmp_path / "data" / "big").read_bytes()
    assert len(list((tmp_path / ".catalog" / ".hints").iterdir())) == 1


def test_no_descriptor_is_left_open_after_success_or_failure() -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    for _ in range(3):
        run_forked(100, str, 2, lambda i, text: None)
    assert open_fds() == before

    def fail(i: int, text: str) -> None:
        raise ValueError("the caller's callback failed")

    for _ in range(3):
        with pytest.raises(ValueError):
            run_forked(100, str, 2, fail)
    assert open_fds() == before


def test_any_text_comes_back_intact() -> None:
    texts = ["plain", "new\nline", "back\\slash\\n", "\udcffnot utf-8", " spaces ", "", "tab\there"]
    got: dict[int, str] = {}
    assert run_forked(len(texts), texts.__getitem__, 2, got.__setitem__, block=1) == []
    assert [got[i] for i in range(len(texts))] == texts


def test_a_second_interrupt_while_stopping_still_waits_for_the_helper_thread(tmp_path: Path) -> None:
    # Ctrl-C stops a large copy; a second Ctrl-C arrives while the hashing thread finishes its chunk.
    # The copy must not return (and let the caller delete the file) while that thread still reads it.
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 8 * 1024 * 1024))
    script = tmp_path / "twice.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, threading, time
        from runnable.files.hashing import _copy_in_kernel

        class SlowHash:
            def update(self, data):
                time.sleep(0.3)

            def hexdigest(self):
                return ""

        def progress(n):
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()  # the second Ctrl-C
            raise KeyboardInterrupt("the first Ctrl-C")

        src = os.open({str(source)!r}, os.O_RDONLY)
        dst = os.open({str(tmp_path / "copy.bin")!r}, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _copy_in_kernel(src, dst, SlowHash(), progress)
        except KeyboardInterrupt:
            pass
        print([t.name for t in threading.enumerate() if t.name == "runnable-hash"])
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
