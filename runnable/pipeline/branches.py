"""Concurrent branches (``Parallel``, ``Map``) as forked processes, at most ``max_workers`` at once.

Each branch runs in a child process forked from the pipeline's: the child sees the same steps,
parameters and services, runs its branch, pickles what it produced (step entries, file entries,
returns) into a file of the run's scratch folder, and ends with ``os._exit``. The parent waits for
every child (a failed branch never stops the others), then reads their results in the branches'
order. A child that dies (a signal, the out-of-memory killer) leaves no result file: its branch is
reported failed with the signal. The parent alone writes the run's record.

Forking rather than starting interpreters: a Map over 100 items would pay ~100 ms of interpreter
and import start-up per item; a fork costs ~2 ms, and functions defined in ``__main__`` work.

A branch never outlives its pipeline: each child asks the kernel for SIGKILL when its parent dies
(``die_with_parent``), even by SIGKILL, which no handler of the parent's can see; otherwise the
branches of a killed run would go on writing into the working folder and the dead run's catalog
folder while ``retry`` (which sees only the pipeline's pid) already runs the same steps again. Each
child also leads its own process group, so that a stopping parent ends a branch's commands with it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

MAX_WORKERS_DEFAULT = os.cpu_count() or 2

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@lru_cache(maxsize=1)
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, else None. Looked up in the parent, before it forks: importing
    ctypes costs ~7 ms, once per pipeline rather than once per branch."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return function


def die_with_parent(parent: int) -> None:
    """Make the calling process (a branch, just started by ``parent``) end by SIGKILL when its
    parent does. The kernel sends it when the parent's forking thread ends: the pipeline forks from
    the thread that runs it, which waits for its branches. Checked against ``parent`` afterwards: a
    parent that died before the request leaves the child adopted, and it ends now."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


@dataclass
class Died:
    """A branch whose process ended without a result."""

    why: str


def run_concurrently(work: Sequence[Callable[[], Any]], max_workers: int, scratch: Path) -> list[Any]:
    """``[w() for w in work]``, each in its own forked process, ``max_workers`` at a time; a branch
    whose process died is a ``Died`` in its place."""
    pending = list(enumerate(work))
    running: dict[int, tuple[int, Path]] = {}  # pid -> (index, result file)
    results: list[Any] = [None] * len(work)
    token = f"{os.getpid()}-{id(work)}"
    parent = os.getpid()
    _prctl()
    try:
        while pending or running:
            while pending and len(running) < max(1, max_workers):
                index, function = pending.pop(0)
                result_file = scratch / f"branch-{token}-{index}.pickle"
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    _child(function, result_file, parent)
                with contextlib.suppress(OSError):  # also here: the group exists before any killpg
                    os.setpgid(pid, pid)
                running[pid] = (index, result_file)
            pid, status = os.waitpid(-1, 0)
            if pid not in running:
                continue
            index, result_file = running.pop(pid)
            results[index] = _read(result_file, status)
    except BaseException:
        # Ctrl-C or SIGTERM in the pipeline's process: its branches end with it, recording FAIL
        # themselves (SIGTERM is their Terminated too), rather than running on unwatched.
        for pid in running:  # the branch and the commands it started: its process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        for pid in running:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        raise
    return results


def guard_group() -> int:
    """Start a watcher that SIGKILLs the calling process's group (a branch and the commands it
    started) once the caller ends without saying it is done (``release``): the kernel's
    parent-death signal reaches the branch only, not a shell command the branch is waiting for.

    A forked process waiting on a pipe whose write end only the branch holds (a pipe's fds are
    closed in the commands the branch starts): it reads end-of-file when the branch dies, however
    it dies. Returns the write end, for ``release``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the watcher: never returns
        try:
            os.close(write_end)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if os.read(read_end, 1) == b"":
                os.killpg(0, signal.SIGKILL)
        finally:
            os._exit(0)
    os.close(read_end)
    return write_end


def release(guard: int) -> None:
    """The branch ended as it should: its watcher leaves its group alone and ends."""
    with contextlib.suppress(OSError):
        os.write(guard, b"1")


def _child(function: Callable[[], Any], result_file: Path, parent: int) -> None:
    code = 0
    guard = -1
    try:
        os.setpgid(0, 0)
        die_with_parent(parent)
        guard = guard_group()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        result = function()
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        temporary = result_file.with_suffix(".tmp")
        temporary.write_bytes(data)
        os.replace(temporary, result_file)  # complete or absent: a killed child leaves no half result
    except BaseException as exc:  # noqa: BLE001 - the parent reports the branch failed with this
        try:
            sys.stderr.write(f"runnable: error: a branch's process failed: {type(exc).__name__}: {exc}\n")
            result_file.write_bytes(pickle.dumps(Died(f"{type(exc).__name__}: {exc}")))
        except BaseException:  # noqa: BLE001 - nothing more can be said
            pass
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            if guard >= 0:
                release(guard)
        finally:
            os._exit(code)


def _read(result_file: Path, status: int) -> Any:
    try:
        with open(result_file, "rb") as handle:
            return pickle.load(handle)  # noqa: S301 - written by our own child, just now
    except FileNotFoundError:
        if os.WIFSIGNALED(status):
            return Died(f"its process was killed by signal {signal.Signals(os.WTERMSIG(status)).name}")
        return Died(f"its process ended with code {os.waitstatus_to_exitcode(status)} and no result")
    finally:
        result_file.unlink(missing_ok=True)
