"""A folder the job made unlistable (mode 0300) fails the run naming the folder, as an unreadable
file does: the files inside it would be missing from a run that says SUCCESS. A real job, run as
the unprivileged user 'nobody' when the tests run as root (root lists any folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

JOB = """
from pathlib import Path
from runnable import Catalog, PythonJob

def work():
    Path("out/locked").mkdir(parents=True, exist_ok=True)
    Path("out/fine.txt").write_text("fine\\n")
    Path("out/locked/model.bin").write_text("weights\\n")
    Path("out/locked").chmod(0o300)  # writable and enterable, not listable

PythonJob(function=work, name="job", catalog=Catalog(put=[PATTERN])).execute()
"""


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder every user can enter (pytest's own tmp folders are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="runnable-unlistable-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    for sub in folder.rglob("*"):
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def _command(script: Path) -> list[str]:
    if os.geteuid() != 0:
        return [sys.executable, str(script)]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a folder unlistable to the job")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, str(script)]


@pytest.mark.parametrize("pattern", ["out/", "**/*.bin", "out/*/model.bin"])
def test_an_unlistable_folder_fails_the_run_naming_it(shared_tmp: Path, pattern: str) -> None:
    script = shared_tmp / "job.py"
    script.write_text(JOB.replace("PATTERN", repr(pattern)))
    script.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env.update(PYTHONPATH=str(REPO), HOME=str(shared_tmp))
    done = subprocess.run(_command(script), cwd=shared_tmp, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0, done.stdout + done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{\n"):])
    record = json.loads((shared_tmp / summary["run_record"]).read_text())
    assert record["status"] == "FAIL"
    message = record["error"]["message"]
    assert "'out/locked'" in message and "cannot be listed (permission denied)" in message, message
    assert {"path": "out/locked", "reason": "folder cannot be listed (permission denied)"} in record["skipped"]
    assert "runnable: error: could not store the files in 'out/locked'" in done.stderr
    if pattern == "out/":
        assert [f["path"] for f in record["files"]] == ["out/fine.txt"]  # the rest is still stored
