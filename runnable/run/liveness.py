"""Is the process that owns a RUNNING record still alive?

A run records the host name and process id of its owner. On the same host we can tell that the
owner died: no such process, a zombie, or a process with that id that started after the run did
(the id was reused). On another host we cannot tell, and say so (None).

>>> import os, socket
>>> owner_alive({"host": socket.gethostname(), "pid": os.getpid()}, None)
True
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import lru_cache
from typing import Any

# The boot time in /proc/stat has one-second resolution, so a process start computed from it can
# be late by up to a second; 2 s of slack keeps a live owner from ever being declared dead.
_SLACK_SECONDS = 2.0


@lru_cache(maxsize=1)
def host_name() -> str:
    """This machine's name as records store it (``environment.host``): the kernel's node name, the
    same as ``socket.gethostname()`` returns, without importing socket at every run's start."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


@lru_cache(maxsize=1)
def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """(state letter, start time in epoch seconds) from /proc, or None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except FileNotFoundError:
        return ("X", None) if os.path.isdir("/proc/self") else None
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = text[text.rfind(")") + 2 :].split()
    state = fields[0]
    boot = _boot_time()
    if boot is None:
        return state, None
    ticks = os.sysconf("SC_CLK_TCK")
    return state, boot + int(fields[19]) / ticks


def pid_alive(pid: int, started_by: datetime | None = None) -> bool:
    """True if ``pid`` is a live process that started no later than ``started_by``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    info = _proc_stat(pid)
    if info is None:
        return True
    state, process_start = info
    if state in ("Z", "X", "x"):  # a zombie has finished; only its exit status is left
        return False
    if started_by is not None and process_start is not None:
        return process_start <= started_by.timestamp() + _SLACK_SECONDS
    return True


def owner_alive(environment: dict[str, Any], run_start: datetime | None) -> bool | None:
    """True/False for an owner on this host; None when the record does not let us tell."""
    host, pid = environment.get("host"), environment.get("pid")
    if not isinstance(pid, int) or not isinstance(host, str) or host != host_name():
        return None
    return pid_alive(pid, run_start)
