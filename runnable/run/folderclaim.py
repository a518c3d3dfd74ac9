"""Which other runs on this machine use the same working folder at the same time.

Two runs in one working folder share its files: a file both write is stored by each with whatever
bytes the folder held when it stored it, so one run's record can name the other's bytes as its
own, and nothing in either record could tell afterwards. Runs therefore register while they run:
each holds an exclusive ``flock`` on a file named after its run id, in a folder per working folder
under the system's temporary folder (``runnable-{uid}/folders/{hash of the folder's real path}``;
the working folder itself is left alone: a ``put`` glob could store a lock file).

A run that starts sees the runs registered before it (their locks are held); it tells each of them
by appending its id to their ``.met`` file, since they cannot see it: so both runs of every
overlapping pair know of the other, however short the overlap. The lock goes with the process
(a SIGKILLed run's is released by the kernel; forked branch processes inherit it, and keep it while
they run). Detection is best effort: on another machine (a network folder), or when the temporary
folder cannot be written, nothing is seen, and nothing fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO


def _registry(working_folder: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(working_folder))).hexdigest()[:32]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"runnable-{uid}" / "folders" / key


class FolderClaim:
    """``claim = FolderClaim(folder, run_id)``; ``claim.others()`` once the run ends; ``claim.release()``."""

    def __init__(self, working_folder: Path, run_id: str) -> None:
        self.run_id = run_id
        self.seen: set[str] = set()  # runs already in the folder when this one started
        self._lock: IO[bytes] | None = None
        self._folder = _registry(working_folder)
        try:
            self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Locked under a temporary name, then renamed: a run looking meanwhile never finds the
            # file unlocked (it would take it for a dead run's and remove it).
            temporary = self._folder / f"{run_id}.{os.getpid()}.tmp"
            lock = open(temporary, "ab")  # noqa: SIM115 - held for the run
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(temporary, self._folder / f"{run_id}.lock")
            except OSError:
                lock.close()
                with contextlib.suppress(OSError):
                    temporary.unlink()
                raise
            self._lock = lock
            for other in self._folder.glob("*.lock"):
                if other.stem != run_id and self._alive(other):
                    self.seen.add(other.stem)
                    with open(self._folder / f"{other.stem}.met", "a", encoding="utf-8") as met:
                        met.write(run_id + "\n")
        except OSError:  # best effort: no registry, no detection
            self.release()

    def _alive(self, lock_file: Path) -> bool:
        """True if the run owning ``lock_file`` still holds it; a stale one is removed."""
        try:
            with open(lock_file, "rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
        except FileNotFoundError:
            return False
        for stale in (lock_file, lock_file.with_suffix(".met")):
            with contextlib.suppress(OSError):
                stale.unlink()
        return False

    def others(self) -> list[str]:
        """The runs that used the folder at some moment of this one, sorted."""
        met: set[str] = set()
        with contextlib.suppress(OSError):
            met = {line.strip() for line in (self._folder / f"{self.run_id}.met").read_text("utf-8").splitlines()}
        return sorted((self.seen | met) - {"", self.run_id})

    def release(self) -> None:
        if self._lock is None:
            return
        for mine in (f"{self.run_id}.lock", f"{self.run_id}.met"):
            with contextlib.suppress(OSError):
                (self._folder / mine).unlink()
        self._lock.close()
        self._lock = None
        with contextlib.suppress(OSError):  # the last run of the folder leaves no empty folder behind
            self._folder.rmdir()
