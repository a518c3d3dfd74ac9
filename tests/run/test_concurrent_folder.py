"""Two runs at once in one working folder: neither records the other's bytes as its own silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.pipeline.helpers import records, write

JOB = """
    import sys, time
    from pathlib import Path
    from runnable import Catalog, PythonJob

    def f():
        Path("data.txt").write_text(sys.argv[1])
        time.sleep(float(sys.argv[2]))

    PythonJob(function=f, catalog=Catalog(put=["data.txt"])).execute()
"""

PIPELINE = """
    import sys, time
    from pathlib import Path
    from runnable import Catalog, Pipeline, PythonTask

    def make():
        Path("data.txt").write_text(sys.argv[1])
        time.sleep(float(sys.argv[2]))

    Pipeline(steps=[PythonTask(name="make", function=make, catalog=Catalog(put=["data.txt"]))]).execute()
"""


def _start(folder: Path, script: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    return subprocess.Popen([sys.executable, str(script), *args], cwd=folder, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _overlap(folder: Path, body: str) -> tuple[str, str]:
    script = write(folder, body)
    first = _start(folder, script, "A", "2")
    deadline = time.monotonic() + 30
    while not (folder / "data.txt").exists() and time.monotonic() < deadline:  # A is running its code
        time.sleep(0.02)
    second = _start(folder, script, "B", "0")
    _, second_err = second.communicate(timeout=60)
    _, first_err = first.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), first_err + second_err
    return first_err, second_err


def _check(folder: Path, first_err: str, second_err: str) -> None:
    found = records(folder)
    assert len(found) == 2
    by_order = sorted(found, key=lambda r: r["start"])
    a, b = by_order[0]["run_id"], by_order[1]["run_id"]
    assert by_order[0]["environment"]["concurrent_runs"] == [b]
    assert by_order[1]["environment"]["concurrent_runs"] == [a]
    assert f"run {a} already running in this working folder" in second_err
    assert f"run {b} started in this working folder while run {a} was running" in first_err
    json.dumps(found)


def test_two_jobs_at_once_in_one_folder_both_say_so(tmp_path: Path) -> None:
    _check(tmp_path, *_overlap(tmp_path, JOB))


def test_two_pipelines_at_once_in_one_folder_both_say_so(tmp_path: Path) -> None:
    _check(tmp_path, *_overlap(tmp_path, PIPELINE))


def test_runs_one_after_another_say_nothing(tmp_path: Path) -> None:
    script = write(tmp_path, JOB)
    for name in ("A", "B"):
        process = _start(tmp_path, script, name, "0")
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0 and "warning" not in err, err
    assert all("concurrent_runs" not in r["environment"] for r in records(tmp_path))
