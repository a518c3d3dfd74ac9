"""The code's identity for a run record: git commit and whether tracked files had local changes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _maybe_in_repository(folder: Path) -> bool:
    """False only when git certainly finds no repository: no ``.git`` in the folder or any parent
    and no ``GIT_DIR`` set. Saves starting ``git`` (a few ms) on every run outside a repository."""
    if os.environ.get("GIT_DIR"):
        return True
    try:
        here = folder.resolve()
    except OSError:
        return True
    return any(os.path.lexists(os.path.join(parent, ".git")) for parent in (here, *here.parents))


def git_identity(folder: Path) -> dict[str, Any]:
    """``{"git_commit": ..., "git_dirty": ..., "git_root": ...}``, or ``{}`` outside a git repository.

    Untracked files do not count as dirty: a job's own outputs are usually untracked.
    """

    if not _maybe_in_repository(folder):
        return {}
    import subprocess  # here: a PythonJob outside a repository never needs it

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    root = git("rev-parse", "--show-toplevel")
    if root is None:
        return {}
    commit = git("rev-parse", "HEAD")  # None in a repository without commits
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None, "git_root": root}
