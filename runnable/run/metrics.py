"""Metrics logged while a job runs: ``runnable.log_metric("loss", 0.31, step=3)``.

The runner names a metrics file in the job's environment (``RUNNABLE_METRICS_FILE``, in the run's
scratch folder); every process of the job - the Python function, a notebook's kernel, a Python
program a shell job starts - appends to it, and the runner folds it into the record's ``metrics``
when the job ends, failed or not. A shell job can append lines itself::

    echo "loss 0.31 3" >> "$RUNNABLE_METRICS_FILE"             # name value [step]
    echo '{"name": "loss", "value": 0.31, "step": 3}' >> "$RUNNABLE_METRICS_FILE"

A call only appends to a list in memory (about 1 us); the list is written out at most once a second,
by a background thread or by the next call after a second, and at exit, each time in one append.
So a process that is killed (SIGKILL) loses at most the last second of what it logged.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from runnable.errors import UsageError
from runnable.run import environment as _environment

# Re-exported: the runner sets both for the job it runs.
from runnable.run.environment import ENV_METRICS_FILE as ENV_METRICS_FILE
from runnable.run.environment import ENV_SECRET_NAMES as ENV_SECRET_NAMES

METRICS_NAME = "metrics.jsonl"
FLUSH_SECONDS = 1.0


class _Buffer:
    """Lines waiting to be appended to one metrics file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[str] = []
        self.steps: dict[str, int] = {}  # the next step of each name, when a call gives none
        self.last_flush = time.monotonic()
        self.lock = threading.Lock()
        from runnable.backends.secrets import Masker

        names = (_environment.text(ENV_SECRET_NAMES) or "").split(",")
        self.masker = Masker(os.environ.get(n) or "" for n in names if n)

    def flush(self) -> None:
        with self.lock:
            lines, self.lines = self.lines, []
            self.last_flush = time.monotonic()
        if not lines:
            return
        # One write with O_APPEND: the lines of several processes never interleave within a line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, "".join(lines).encode())
        finally:
            os.close(fd)


_buffer: _Buffer | None = None
_guard = threading.Lock()
_flusher: threading.Thread | None = None
_stopped = threading.Event()
_finalized_in: int | None = None  # the process whose multiprocessing exit hook flushes


def _flush_loop() -> None:
    while True:
        buffer = _buffer
        # Wake a second after the last flush (a call may have flushed in between): a line waits at
        # most about a second, and the file is appended to at most about once a second.
        due = FLUSH_SECONDS if buffer is None else buffer.last_flush + FLUSH_SECONDS - time.monotonic()
        if _stopped.wait(max(due, 0.01)):
            return
        buffer = _buffer
        if buffer is not None and buffer.lines and time.monotonic() - buffer.last_flush >= FLUSH_SECONDS:
            try:
                buffer.flush()
            except OSError:
                pass  # the scratch folder is gone (the run ended): nothing can keep these


def flush() -> None:
    """Write out what this process logged (the runner calls it when the job returns)."""
    buffer = _buffer
    if buffer is not None:
        try:
            buffer.flush()
        except OSError:
            pass


atexit.register(flush)


def _forget_in_child() -> None:
    """A forked child (multiprocessing) starts with an empty buffer of its own: the parent's lines
    are the parent's to write, and the flusher thread did not survive the fork."""
    global _buffer, _flusher, _guard
    _buffer = None
    _flusher = None
    _guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _switch(path: str) -> _Buffer:
    global _buffer, _flusher, _finalized_in
    with _guard:
        if _buffer is not None and _buffer.path != path:
            flush()
        if _buffer is None or _buffer.path != path:
            _buffer = _Buffer(path)
            # A multiprocessing child ends with os._exit, which skips atexit, after running the
            # finalizers registered with multiprocessing (registered here: its start clears them).
            util = sys.modules.get("multiprocessing.util")
            if util is not None and _finalized_in != os.getpid():  # once per process
                util.Finalize(None, flush, exitpriority=0)
                _finalized_in = os.getpid()
        if _flusher is None or not _flusher.is_alive():
            _flusher = threading.Thread(target=_flush_loop, name="runnable-metrics", daemon=True)
            _flusher.start()
        return _buffer


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Append ``value`` to the history of the metric ``name`` of the running job.

    ``step`` defaults to one more than this process's last step for ``name`` (0 first). Call it
    from inside a job (a Python function, a notebook, or a Python program a shell job starts);
    outside one it raises UsageError.

    >>> # runnable.log_metric("loss", 0.31, step=3)
    """
    path = _environment.text(ENV_METRICS_FILE)
    buffer = _buffer
    if buffer is None or buffer.path != path:
        if not path:
            raise UsageError(
                f"log_metric({name!r}, ...) was called outside a running job (no ${ENV_METRICS_FILE}): "
                "call it from the function, notebook or command a runnable job runs"
            )
        buffer = _switch(path)
    if not isinstance(name, str) or not name:
        raise UsageError(f"log_metric(name=...) takes a non-empty string, not {name!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"log_metric({name!r}, value=...) takes a finite number, not {value!r}")
    if step is None:
        step = buffer.steps.get(name, 0)
    elif isinstance(step, bool) or not isinstance(step, int):
        raise UsageError(f"log_metric({name!r}, step=...) takes an integer, not {step!r}")
    buffer.steps[name] = step + 1
    line = f'{json.dumps(buffer.masker.text(name))} {step} {float(value)!r}\n'
    with buffer.lock:  # not appended to a list the flusher has just taken
        buffer.lines.append(line)
    if time.monotonic() - buffer.last_flush > FLUSH_SECONDS:
        try:
            buffer.flush()
        except OSError:
            pass


def read(path: Path) -> dict[str, list[list[float]]]:
    """The histories in a metrics file, each in the order logged; lines that do not parse are skipped.

    A line is ``"name" step value`` (as log_metric writes it), ``name value [step]`` or a JSON object
    ``{"name": ..., "value": ..., "step": ...}``. A line without a step takes the next one.
    """
    out: dict[str, list[list[float]]] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return out
    skipped = 0
    for line in text.splitlines():
        parsed = _parse(line.strip())
        if parsed is None:
            skipped += bool(line.strip())
            continue
        name, value, step = parsed
        history = out.setdefault(name, [])
        if step is None:
            step = int(history[-1][0]) + 1 if history else 0
        history.append([step, value])
    if skipped:  # once per file, not once per line: the good lines are kept
        sys.stderr.write(f"runnable: warning: {skipped} line(s) of the metrics file were not metrics and were "
                         "skipped (a line is 'name value [step]' or a JSON object with name, value, step)\n")
    return out


def _parse(line: str) -> tuple[str, float, int | None] | None:
    if not line:
        return None
    try:
        if line.startswith("{"):
            data: Any = json.loads(line)
            name, value, step = data["name"], data["value"], data.get("step")
        elif line.startswith('"'):
            name, end = json.JSONDecoder().raw_decode(line)
            step_text, value_text = line[end:].split()
            value, step = float(value_text), int(step_text)
        else:
            parts = line.split()
            if len(parts) not in (2, 3):
                return None
            name, value = parts[0], float(parts[1])
            step = int(parts[2]) if len(parts) == 3 else None
        value = float(value)
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        return None  # RecursionError: JSON nested thousands deep (a shell job writes what it likes)
    if not isinstance(name, str) or not math.isfinite(value) or (step is not None and not isinstance(step, int)):
        return None
    return name, value, step


def merge(into: dict[str, list[list[float]]], logged: dict[str, list[list[float]]]) -> None:
    """Add logged histories to returned ones (a name in both keeps the logged steps first)."""
    for name, history in logged.items():
        into[name] = history + into.get(name, [])
