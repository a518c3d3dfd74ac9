"""Spread many small pieces of work over forked worker processes (Linux).

Storing 10,000 small files is mostly kernel work on folders (creating inodes and names), which runs
in parallel on separate cores, plus a little Python per file, which does not run in parallel under
one GIL: threads made it slower, processes make it faster. ``run_forked`` forks a few workers that
share out the indices of the work through one pipe (in blocks, read atomically) and send one line
of text per finished piece back through their own pipe; the parent only waits and collects.

Workers are children of the process that asked, nothing more: they inherit its memory (no start-up,
no pickling), die with it (``PR_SET_PDEATHSIG``), leave Ctrl-C to it, and stop at its request: an
interrupt in the parent sends them SIGTERM, which each turns into an exception so the piece in hand
cleans up after itself, and the parent waits for them before it re-raises. A worker that dies
anyway leaves its unfinished pieces without a result, and the caller reports them as failed.

>>> got = {}
>>> run_forked(5, lambda i: str(i * i), 2, got.__setitem__)  # indices left without a result
[]
>>> sorted(got.items())
[(0, '0'), (1, '1'), (2, '4'), (3, '9'), (4, '16')]
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import struct
import sys
import time
import warnings
from collections.abc import Callable, Iterator

#: Results a worker gathers before writing them to its pipe (one write and one wake-up per batch).
_FLUSH_EVERY = 32
#: Seconds the parent waits for stopped workers before it kills them outright.
_STOP_GRACE = 10.0
_INDEX = struct.Struct("=I")  # one block's first index: 4 bytes, well under PIPE_BUF, so reads are atomic
_PR_SET_PDEATHSIG = 1


class _Stopped(BaseException):
    """Raised in a worker by the parent's SIGTERM (a BaseException, so ``except Exception`` in the
    work lets it through, like KeyboardInterrupt)."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """True where forked workers are used: Linux only (fork with threads is unsafe on macOS)."""
    return sys.platform == "linux" and hasattr(os, "fork")


def run_forked(
    count: int,
    work: Callable[[int], str],
    workers: int,
    on_result: Callable[[int, str], None],
    block: int = 32,
) -> list[int]:
    """Call ``work(i)`` for every ``i`` in ``range(count)`` in ``workers`` forked processes.

    ``work`` returns one line of text (no newline) for the parent; it must catch its own errors
    (an exception escaping it ends that worker). ``on_result(i, text)`` runs in the parent as results
    arrive. Returns the indices that got no result because their worker died, in order.
    """
    if count == 0:
        return []
    # A block per read keeps the pipe small; blocks grow so any count fits in the pipe at once.
    block = max(block, -(-count // 8192))
    tasks_read, tasks_write = os.pipe()
    pids: dict[int, int] = {}  # result pipe's read end -> worker pid
    try:
        payload = b"".join(_INDEX.pack(start) for start in range(0, count, block))
        _write_all(tasks_write, payload)
        os.close(tasks_write)
        tasks_write = -1
        for _ in range(max(1, min(workers, -(-count // block)))):
            results_read, results_write = os.pipe()
            try:
                pid = _fork()
            except OSError:  # no memory or process slots for another worker: go on with fewer
                os.close(results_read)
                os.close(results_write)
                break
            if pid == 0:  # the worker: never returns
                os.close(results_read)
                _worker(tasks_read, results_write, count, block, work)
            os.close(results_write)
            pids[results_read] = pid
        if not pids:  # not even one worker: do the work here
            for i in range(count):
                on_result(i, work(i))
            return []
        done = _collect(pids, on_result)
    except BaseException:
        _stop(pids)
        raise
    finally:
        os.close(tasks_read)
        if tasks_write >= 0:
            os.close(tasks_write)
        for fd in pids:
            with contextlib.suppress(OSError):
                os.close(fd)
    return [i for i in range(count) if i not in done]


def _fork() -> int:
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads. The worker runs only runnable's
        # own storing code (system calls and hashing), never anything another thread may hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _worker(tasks: int, results: int, count: int, block: int, work: Callable[[int], str]) -> None:
    """The body of a worker process: take blocks of indices until none are left, then exit."""
    code = 0
    try:
        gc.disable()  # a short-lived worker: collecting cycles would only touch (and copy) shared pages
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
        signal.signal(signal.SIGTERM, _raise_stopped)
        with contextlib.suppress(OSError, AttributeError, ImportError):
            import ctypes  # here, not at the top: only a worker needs it

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        pending: list[str] = []
        for start in _blocks(tasks):
            for i in range(start, min(start + block, count)):
                pending.append(f"{i}\t{work(i)}\n")
                if len(pending) >= _FLUSH_EVERY:
                    _write_all(results, "".join(pending).encode())
                    pending.clear()
        if pending:
            _write_all(results, "".join(pending).encode())
    except BaseException:  # noqa: BLE001 - a worker never unwinds into its parent's code
        code = 1
    finally:
        os._exit(code)  # no atexit handlers, no flushing the parent's buffers a second time


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped("stopped by the parent process")


def _blocks(tasks: int) -> Iterator[int]:
    while True:
        if os.getppid() == 1:
            return  # the parent is gone (and PR_SET_PDEATHSIG was not available)
        data = os.read(tasks, _INDEX.size)
        if len(data) < _INDEX.size:
            return
        yield _INDEX.unpack(data)[0]


def _collect(pids: dict[int, int], on_result: Callable[[int, str], None]) -> set[int]:
    """Read result lines from every worker until all have finished; return the indices done."""
    done: set[int] = set()
    partial = {fd: b"" for fd in pids}
    with selectors.DefaultSelector() as selector:
        for fd in pids:
            selector.register(fd, selectors.EVENT_READ)
        open_pipes = len(pids)
        while open_pipes:
            for key, _ in selector.select():
                fd = int(key.fd)
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    selector.unregister(fd)
                    open_pipes -= 1
                    continue
                lines = (partial[fd] + chunk).split(b"\n")
                partial[fd] = lines.pop()
                for line in lines:
                    index, _, text = line.decode().partition("\t")
                    i = int(index)
                    done.add(i)
                    on_result(i, text)
    for pid in list(pids.values()):
        os.waitpid(pid, 0)
    pids.clear()
    return done


def _stop(pids: dict[int, int]) -> None:
    """Ask every worker to stop, wait for them (killing any that outstay the grace period)."""
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE
    for pid in pids.values():
        while True:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            except BaseException:  # noqa: BLE001 - a second Ctrl-C while stopping: keep waiting
                continue
            if finished:
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
    pids.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


__all__ = ["available_cpus", "can_fork", "run_forked"]
