"""A run's scratch folder: where its execution log (and an executed notebook) is written while it runs.

The folder is made in the system's temporary folder before the run is reserved, and its path goes
into the run record (``environment.scratch``). It is removed once the run has stored what it holds.
A run whose process was killed (SIGKILL, the out-of-memory killer, a power cut on a machine whose
temporary folder survives it) leaves the folder behind with everything the job printed until
then, the only copy of that log. ``runnable logs`` shows it for such a run, and for a run still in
progress, on the machine that ran it. ``runnable gc`` removes it with the run. Either only touches
the folder its record names, and only if it is a real folder owned by the current user, with the
name and the mark runnable gives its scratch folders. A run whose log could not be stored keeps
its scratch folder too.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from runnable.run.liveness import host_name

LOG_NAME = "execution.log"
_PREFIX = "runnable-"
_NAME = re.compile(re.escape(_PREFIX) + r"[a-z0-9_]{8}")  # mkdtemp's eight random characters
_MARK = ".runnable-scratch"  # an empty file ``make`` puts in every scratch folder


def make() -> Path:
    """A new, private (mode 0700) scratch folder, marked as runnable's."""
    folder = Path(tempfile.mkdtemp(prefix=_PREFIX))
    os.close(os.open(folder / _MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return folder


def left_by(environment: dict[str, Any]) -> Path | None:
    """The scratch folder a run's record names (``environment``), if it is on this machine and is a
    scratch folder (not a link) that the current user owns; else None.

    >>> left_by({}) is None
    True
    """
    folder = environment.get("scratch")
    if environment.get("host") != host_name() or not isinstance(folder, str):
        return None
    # Only a name ``make`` gives: a record is data, and must not point gc at any other folder.
    if not os.path.isabs(folder) or not _NAME.fullmatch(os.path.basename(folder)):
        return None
    try:
        info = os.lstat(folder)
    except OSError:
        return None
    getuid = getattr(os, "getuid", None)  # not on Windows, where temporary folders are per user
    if not stat.S_ISDIR(info.st_mode) or (getuid is not None and info.st_uid != getuid()):
        return None
    try:  # and made by ``make``: a folder of the user's that happens to have such a name is not
        marked = stat.S_ISREG(os.lstat(os.path.join(folder, _MARK)).st_mode)
    except OSError:
        return None
    return Path(folder) if marked else None


def log_left_by(environment: dict[str, Any]) -> Path | None:
    """The execution log in the scratch folder of ``left_by``, if it is a regular file (not a link)."""
    base = left_by(environment)
    if base is None:
        return None
    log = base / LOG_NAME
    try:
        info = os.lstat(log)
    except OSError:
        return None
    return log if stat.S_ISREG(info.st_mode) else None


def remove_left_by(environment: dict[str, Any]) -> None:
    """Remove the scratch folder of ``left_by`` (anything else is left alone)."""
    base = left_by(environment)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)
