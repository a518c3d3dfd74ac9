"""What a run tells the user and how it reacts to signals: the JSON summary, the one line a failure
ends with, tracebacks without runnable's own frames, and SIGTERM turned into an exception.

Shared by a job's run (``runner.py``) and a pipeline's (``runnable.pipeline.engine``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

from runnable.errors import DefinitionError, JobFailedError, RunnableError
from runnable.files import progress as _progress
from runnable.record import RunRecord

# In the record's ``catalog`` and in the summary when the job failed before its code started.
NOT_COLLECTED_KEY = "not_collected"
NOT_COLLECTED = (
    "the job failed before its code started, so its put patterns were not collected (files that match "
    "them were not written by this run)"
)
SUMMARY_CONTENT_KEY = "Output catalog content"
# Past this many files the summary lists the first ones and counts the rest under SUMMARY_MORE_KEY.
SUMMARY_FILES = 20
SUMMARY_MORE_KEY = "more_files"
SUMMARY_HINT_KEY = "hint"
class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM during a run."""


# The whole package (this module is in runnable/run/): frames of runnable's own code are left out of
# the traceback a failed job shows.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def exit_code(failure: BaseException) -> int | None:
    """A failed command's exit code (JobFailedError); None for anything else, whatever it holds."""
    code = getattr(failure, "exit_code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without runnable's own frames at the top (they only distract).

    An error raised inside runnable itself keeps its full traceback.
    """
    import traceback  # only when a run fails: it costs ~2 ms of every start otherwise

    return "".join(traceback.format_exception(type(exc), exc, _user_frames(exc)))


def _user_frames(exc: BaseException) -> TracebackType | None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return tb if tb is not None else exc.__traceback__


@contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """Turn SIGTERM into an exception so the run records FAIL itself (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"received signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while a run commits (log, then record), and deliver them after.

    Without this, a signal arriving while the execution log is stored kills the process (SIGTERM)
    or unwinds it (Ctrl-C) before the final record is written, leaving it RUNNING.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, hold) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for pending in dict.fromkeys(caught):
            signal.raise_signal(pending)


def reason(failure: BaseException) -> str:
    """Why a run failed, naming the error once: 'ValueError: bad row', but 'command exited with
    code 3' for a job that failed on its own terms (a JobFailedError says that much by its name)."""
    return str(failure) if isinstance(failure, JobFailedError) else f"{type(failure).__name__}: {failure}"


def where_kept(record: RunRecord, run_log_location: str) -> str:
    log = record.execution_log.location if record.execution_log else "none stored"
    return f"log {log}, record {_record_path(record, run_log_location)}"


def _record_path(record: RunRecord, run_log_location: str) -> str:
    return f"{run_log_location.rstrip('/')}/{record.run_id}.json"


def failure_line(error: JobFailedError, exit_code: int) -> str:
    """The one line that ends a failed run's console output, when the process exits because of it."""
    return f"{type(error).__name__}: {error}; exiting with code {exit_code}"


def report_uncaught_failures_in_one_line() -> None:
    """Make an uncaught ``JobFailedError`` end the script with one line, not a second traceback: the
    job's own traceback and the summary are already on the console (``python job.py``). Installed by
    the first failed run, not at import; any other exception goes to the hook that was there."""
    global _previous_hook
    if sys.excepthook is not _one_line_hook:
        _previous_hook = sys.excepthook
        sys.excepthook = _one_line_hook


_previous_hook = sys.__excepthook__


def _one_line_hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if isinstance(value, DefinitionError) or (isinstance(value, RunnableError) and value.refused_before_run):
        # what to change is all in the message; nothing ran
        sys.stderr.write(f"{type(value).__name__}: {value}\n")
        sys.stderr.flush()
    elif isinstance(value, JobFailedError) and value.record is not None:
        line = failure_line(value, 1)  # Python exits 1 after an uncaught exception
        if sys.stderr.isatty():  # broken at spaces only: the record's path stays whole, to copy
            import shutil

            line = _progress.wrap_at_spaces(line, shutil.get_terminal_size().columns, indent=4)
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    else:
        _previous_hook(kind, value, tb)


def summary(record: RunRecord, run_log_location: str, hint: str | None = None) -> dict[str, Any]:
    """The JSON summary printed at the end of a run.

    It lists the first ``SUMMARY_FILES`` stored files and says how many more there are (a job that
    stored 450 files printed 463 lines); ``runnable runs show`` lists them all. ``hint`` says how to
    keep what the job returned but did not declare.
    """
    content = record.catalog_content
    out: dict[str, Any] = {SUMMARY_CONTENT_KEY: content[:SUMMARY_FILES]}
    if len(content) > SUMMARY_FILES:
        out[SUMMARY_MORE_KEY] = f"... and {len(content) - SUMMARY_FILES} more (runnable runs show {record.run_id})"
    out |= {
        "status": record.status,
        "run_id": record.run_id,
        "catalog": record.catalog.get("run_folder"),
        "run_record": _record_path(record, run_log_location),
        "execution_log": record.execution_log.location if record.execution_log else None,
        "duration_seconds": record.duration_seconds,
    }
    if record.inputs:  # only for jobs that declare inputs: other summaries keep their shape
        out["inputs"] = [i.path for i in record.inputs]
    if NOT_COLLECTED_KEY in record.catalog:
        out[NOT_COLLECTED_KEY] = record.catalog[NOT_COLLECTED_KEY]
    if record.error:
        message = record.error["message"]  # empty for a bare KeyboardInterrupt: no dangling ': '
        out["error"] = f"{record.error['type']}: {message}" if message else record.error["type"]
    if hint is not None:
        out[SUMMARY_HINT_KEY] = hint
    return out
