"""The code's identity for a run record: git commit and whether tracked files had local changes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def git_identity(folder: Path) -> dict[str, Any]:
    """``{"git_commit": ..., "git_dirty": ..., "git_root": ...}``, or ``{}`` outside a git repository.

    Untracked files do not count as dirty: a job's own outputs are usually untracked.
    """

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
