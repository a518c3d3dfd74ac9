"""Run a job script and crash it at an exact point: ``python crashpoint.py SCRIPT``.

Fault injection for crash-consistency tests, in the spirit of ALICE/CrashMonkey: every call that
runnable's own code makes to a state-changing file-system function (``os.link``, ``os.replace``,
``os.unlink``, ``os.chmod``, ``os.write``, ``os.copy_file_range``, ``os.fsync``, ``os.mkdir``) is counted, and at call
number ``FAULT_AT`` the process sends itself ``FAULT_SIGNAL`` (default SIGKILL), either just before
the call (``FAULT_WHEN=before``) or just after it. Nothing of runnable is replaced: its real code
runs and really dies at that point.

``FAULT_FIRED=FILE`` is created when the signal is sent. ``FAULT_TRACE=FILE`` appends one line per counted call (``n op args``), to list the crash points.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading

OPS = ("link", "replace", "unlink", "chmod", "write", "fsync", "mkdir", "rename", "copy_file_range")
_lock = threading.Lock()
_count = 0
_at = int(os.environ.get("FAULT_AT", "0"))
_when = os.environ.get("FAULT_WHEN", "before")
_signal = signal.Signals[os.environ.get("FAULT_SIGNAL", "SIGKILL")]
_trace = os.environ.get("FAULT_TRACE")
_trace_fd = os.open(_trace, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if _trace else None
_real_write = os.write
_STDLIB = {"pathlib", "shutil", "os", "tempfile", "posixpath"}


def _fire() -> None:
    fired = os.environ.get("FAULT_FIRED")
    if fired:  # tell the test this point was reached (a run may make fewer calls than the traced one)
        os.close(os.open(fired, os.O_WRONLY | os.O_CREAT))
    os.kill(os.getpid(), _signal)


def _counted(name: str, real):  # type: ignore[no-untyped-def]
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        global _count
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__") in _STDLIB:
            frame = frame.f_back
        caller = frame.f_globals.get("__name__", "") if frame is not None else ""
        # Only runnable's own calls, and not the console/log tee threads (their timing is free).
        if not caller.startswith("runnable") or caller == "runnable.run.capture":
            return real(*args, **kwargs)
        with _lock:
            _count += 1
            n = _count
        if _trace_fd is not None:
            shown = " ".join(str(a)[-60:] for a in args if not isinstance(a, (bytes, memoryview, bytearray)))
            _real_write(_trace_fd, f"{n} {name} {caller} {shown}\n".encode())
        if n == _at and _when == "before":
            _fire()
        result = real(*args, **kwargs)
        if n == _at and _when == "after":
            _fire()
        return result

    return wrapper


for _name in OPS:
    setattr(os, _name, _counted(_name, getattr(os, _name)))

sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
