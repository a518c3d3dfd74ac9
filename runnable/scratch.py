"""A run's scratch folder: where its execution log (and an executed notebook) is written while it runs.

The folder is in the system's temporary folder, named after the run, and removed once the run has
stored what it holds. A run whose process was killed (SIGKILL, the out-of-memory killer, a power
cut) leaves it behind, holding everything the job printed until then: the only copy of that log.
``runnable logs`` shows it for such a run, on the same machine, and ``runnable gc`` removes it
with the run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

LOG_NAME = "execution.log"
_PREFIX = "runnable-"
_RANDOM_CHARS = 8  # mkdtemp's random suffix: the pattern below never matches a longer run id


def make(run_id: str) -> Path:
    """A new, private scratch folder for ``run_id`` (a valid run id)."""
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{run_id}-"))


def leftovers(run_id: str) -> list[Path]:
    """Scratch folders of ``run_id`` still on this machine (a valid run id: no glob characters).

    >>> leftovers("no-such-run-0000")
    []
    """
    pattern = f"{_PREFIX}{run_id}-{'?' * _RANDOM_CHARS}"
    return sorted(p for p in Path(tempfile.gettempdir()).glob(pattern) if p.is_dir() and not p.is_symlink())


def remove(run_id: str) -> None:
    """Remove the scratch folders ``run_id`` left on this machine."""
    for folder in leftovers(run_id):
        shutil.rmtree(folder, ignore_errors=True)
