"""Concurrent branches (``Parallel``, ``Map``) as forked processes, at most ``max_workers`` at once.

Each branch runs in a child process forked from the pipeline's: the child sees the same steps,
parameters and services, runs its branch, pickles what it produced (step entries, file entries,
returns) into a file of the run's scratch folder, and ends with ``os._exit``. The parent waits for
every child (a failed branch never stops the others), then reads their results in the branches'
order. A child that dies (a signal, the out-of-memory killer) leaves no result file: its branch is
reported failed with the signal. The parent alone writes the run's record.

Forking rather than starting interpreters: a Map over 100 items would pay ~100 ms of interpreter
and import start-up per item; a fork costs ~2 ms, and functions defined in ``__main__`` work.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_WORKERS_DEFAULT = os.cpu_count() or 2


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
    try:
        while pending or running:
            while pending and len(running) < max(1, max_workers):
                index, function = pending.pop(0)
                result_file = scratch / f"branch-{token}-{index}.pickle"
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    _child(function, result_file)
                running[pid] = (index, result_file)
            pid, status = os.waitpid(-1, 0)
            if pid not in running:
                continue
            index, result_file = running.pop(pid)
            results[index] = _read(result_file, status)
    except BaseException:
        # Ctrl-C or SIGTERM in the pipeline's process: its branches end with it, recording FAIL
        # themselves (SIGTERM is their Terminated too), rather than running on unwatched.
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in running:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        raise
    return results


def _child(function: Callable[[], Any], result_file: Path) -> None:
    code = 0
    try:
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
