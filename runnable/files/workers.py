"""Spread many small pieces of work over forked worker processes (Linux).

Storing 10,000 small files is mostly kernel work on folders (creating inodes and names), which runs
in parallel on separate cores, plus a little Python per file, which does not run in parallel under
one GIL: threads made it slower, processes make it faster. ``run_forked`` forks a few workers that
share out the indices of the work through one pipe (in blocks, read atomically) and send one line
of text per finished piece back through their own pipe; the parent only waits and collects.

Workers are children of the process that asked, nothing more: they inherit its memory (no start-up,
no pickling), end within a fraction of a second after it dies, even in the middle of a piece (a
thread in each watches its parent's id), leave Ctrl-C to it, and stop at its request: an
interrupt in the parent sends them SIGTERM, which each turns into an exception so the piece in hand
cleans up after itself, and the parent waits for them before it re-raises. A worker that dies
anyway leaves its unfinished pieces without a result, and the caller reports them as failed.

>>> got = {}
>>> run_forked(5, lambda i: str(i * i), 2, got.__setitem__)  # indices left without a result
[]
>>> sorted(got.items())
[(0, '0'), (1, '1'), (2, '4'), (3, '9'), (4, '16')]

Tuned for speed: run ``python benchmarks/catalog_bench.py --only 4`` (many small files) before and after changing it
(``--quick`` for a first look; the full run for figures), and compare the ratios to the floor.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import selectors
import signal
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator

#: Results a worker gathers before writing them to its pipe (one write and one wake-up per batch).
_FLUSH_EVERY = 32
# The pipe ends of every run_forked in progress in this process. A worker closes all but its own at
# once: a copy of another's would keep that pipe from ever reaching its end of file, and the workers
# of two puts in threads of one process, each holding the other's, waited on each other forever.
_PIPES: set[int] = set()
#: How often a worker checks that its parent is still there (see _exit_with_parent).
_WATCH_SECONDS = 0.2
#: Seconds the parent waits for stopped workers before it kills them outright.
_STOP_GRACE = 10.0
_INDEX = struct.Struct("=I")  # one block's first index: 4 bytes, well under PIPE_BUF, so reads are atomic


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
    in_worker: Callable[[], None] | None = None,
) -> list[int]:
    """Call ``work(i)`` for every ``i`` in ``range(count)`` in ``workers`` forked processes.

    ``work`` returns a line of text for the parent; it must catch its own errors (an exception
    escaping it ends that worker). ``in_worker`` runs once at the start of each worker (to drop state
    that does not survive a fork, such as a thread pool). ``on_result(i, text)`` runs in the parent as
    results arrive. Returns the indices that got no result because their worker died, in order.
    """
    if count == 0:
        return []
    block = max(block, -(-count // 8192))
    tasks_read, tasks_write = _pipe()
    parent = os.getpid()
    pids: dict[int, int] = {}  # result pipe's read end -> worker pid, until the worker is reaped
    read_ends: list[int] = []  # closed at the end whatever happened
    try:
        for _ in range(max(1, min(workers, -(-count // block)))):
            results_read, results_write = _pipe()
            # No signal may run Python code between fork() and the bookkeeping below: in the child it
            # would unwind into the caller's code, in the parent it would lose track of a worker.
            with _signals_blocked() as previous_mask, warnings.catch_warnings():
                # Python 3.12+ warns about fork() in a process with threads. The worker runs only
                # runnable's own storing code (system calls and hashing), never anything another
                # thread may hold.
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    pid = os.fork()
                except OSError:  # no memory or process slots for another worker: go on with fewer
                    _close(results_read)
                    _close(results_write)
                    break
                if pid == 0:  # the worker: never returns
                    try:
                        for fd in _PIPES - {tasks_read, results_write}:  # its siblings', other puts'
                            with contextlib.suppress(OSError):
                                os.close(fd)
                        _worker(tasks_read, results_write, parent, count, block, work, in_worker, previous_mask)
                    finally:
                        os._exit(1)
                _close(results_write)
                read_ends.append(results_read)
                pids[results_read] = pid
        if not pids:  # not even one worker: do the work here
            for i in range(count):
                on_result(i, work(i))
            return []
        # The block indices are written once the workers exist, as the pipe accepts them (a pipe can
        # be as small as 4 KiB), while their results are read.
        payload = b"".join(_INDEX.pack(start) for start in range(0, count, block))
        done = _collect(pids, on_result, tasks_write, payload)
        tasks_write = -1  # closed by _collect once everything was written
    except BaseException:
        _stop(pids)
        raise
    finally:
        _close(tasks_read)
        for fd in [tasks_write, *read_ends]:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    _close(fd)
    return [i for i in range(count) if i not in done]


def _pipe() -> tuple[int, int]:
    read, write = os.pipe()
    _PIPES.update((read, write))
    return read, write


def _close(fd: int) -> None:
    _PIPES.discard(fd)  # first: once closed, its number may name another file at once
    os.close(fd)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[set[int | signal.Signals]]:
    """Hold SIGINT and SIGTERM (they wait, pending) in this thread; yield the previous mask."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield previous
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker(tasks: int, results: int, parent: int, count: int, block: int, work: Callable[[int], str],
            in_worker: Callable[[], None] | None, mask: set[int | signal.Signals]) -> None:
    """The body of a worker process: take blocks of indices until none are left, then exit."""
    code = 0
    try:
        gc.disable()  # a short-lived worker: collecting cycles would only touch (and copy) shared pages
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
        signal.signal(signal.SIGTERM, _raise_stopped)
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a SIGTERM held since the fork arrives now
        if in_worker is not None:
            in_worker()
        pending: list[str] = []
        for start in _blocks(tasks):
            for i in range(start, min(start + block, count)):
                pending.append(f"{i}\t{_escape(work(i))}\n")
                if len(pending) >= _FLUSH_EVERY:
                    _write_all(results, "".join(pending).encode("utf-8", "surrogateescape"))
                    pending.clear()
        if pending:
            _write_all(results, "".join(pending).encode("utf-8", "surrogateescape"))
    except BaseException:  # noqa: BLE001 - a worker never unwinds into its parent's code
        code = 1
    finally:
        os._exit(code)  # no atexit handlers, no flushing the parent's buffers a second time


def _exit_with_parent(parent: int) -> None:
    """A worker's watch thread: once the parent is gone, end the worker at once, even in the middle
    of a long piece of work (which leaves at most an unnamed or temporary file, never a partial
    object). An orphan is adopted by another process, so its parent's id changes.

    Polled, not the end of file of a pipe only the parent writes to: puts running in two threads of
    one process fork workers that hold copies of each other's pipes, and would wait on each other.
    Nor ``PR_SET_PDEATHSIG``: it needs ctypes, whose import cost each worker 7 ms before its first
    file, and it fires when the forking *thread* ends, not the process.
    """
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


def _escape(text: str) -> str:
    """One line whatever ``text`` holds: backslashes and newlines escaped (undone by ``_unescape``)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n") if ("\\" in text or "\n" in text) else text


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped("stopped by the parent process")


def _blocks(tasks: int) -> Iterator[int]:
    """The first index of each block of work, until the task pipe is empty and closed. (A parent
    that dies is noticed by the watch thread, _exit_with_parent, not here.)"""
    while True:
        data = os.read(tasks, _INDEX.size)
        if len(data) < _INDEX.size:
            return
        yield _INDEX.unpack(data)[0]


def _collect(pids: dict[int, int], on_result: Callable[[int, str], None], tasks: int, payload: bytes) -> set[int]:
    """Feed ``payload`` to the task pipe and read result lines from every worker until all have
    finished; return the indices done. Closes ``tasks`` once the payload is written."""
    done: set[int] = set()
    partial = {fd: b"" for fd in pids}
    view = memoryview(payload)
    os.set_blocking(tasks, False)
    with selectors.DefaultSelector() as selector:
        for fd in pids:
            selector.register(fd, selectors.EVENT_READ)
        selector.register(tasks, selectors.EVENT_WRITE)
        open_pipes = len(pids)
        while open_pipes:
            for key, _ in selector.select():
                fd = int(key.fd)
                if fd == tasks:
                    with contextlib.suppress(BlockingIOError):
                        view = view[os.write(tasks, view) :]
                    if not view:
                        selector.unregister(tasks)
                        _close(tasks)
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    selector.unregister(fd)
                    open_pipes -= 1
                    continue
                lines = (partial[fd] + chunk).split(b"\n")
                partial[fd] = lines.pop()
                for line in lines:
                    index, _, text = line.decode("utf-8", "surrogateescape").partition("\t")
                    i = int(index)
                    done.add(i)
                    on_result(i, _unescape(text))
        if view:  # every worker ended before taking all the work (they died): stop offering it
            selector.unregister(tasks)
            _close(tasks)
    for fd, pid in list(pids.items()):
        os.waitpid(pid, 0)
        del pids[fd]  # reaped: never signalled again (its number may be reused)
    return done


def _stop(pids: dict[int, int]) -> None:
    """Ask every worker to stop, wait for them (killing any that outstay the grace period)."""
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE
    for fd, pid in list(pids.items()):
        while True:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
                if finished:
                    break
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.005)
            except ChildProcessError:
                break
            except BaseException:  # noqa: BLE001 - a second Ctrl-C while stopping: keep waiting
                continue
        del pids[fd]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def wait_through_interrupts(finished: threading.Event, on_interrupt: Callable[[], None] | None = None) -> None:
    """Wait until ``finished`` is set even if signals interrupt the wait, then re-raise the first.

    For cleanup that must complete (a helper thread still using a file about to be removed). Waits
    on an event the thread sets, not ``Thread.join()``: on Python 3.11 a join interrupted by a signal
    marks the thread stopped while it still runs, so a second join would not wait. ``on_interrupt``
    runs at each interrupt: it can tell the thread to stop early.
    """
    interrupted: BaseException | None = None
    while True:
        try:
            finished.wait()
            break
        except BaseException as exc:  # noqa: BLE001 - re-raised below, once the wait is over
            interrupted = interrupted or exc
            if on_interrupt is not None:
                on_interrupt()
    if interrupted is not None:
        raise interrupted


__all__ = ["available_cpus", "can_fork", "run_forked", "wait_through_interrupts"]
