"""The execution log: everything a job writes reaches the console live and ``{name}.execution.log``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runnable import Catalog, PythonJob
from tests.conftest import REPO

NOISY = """
import logging, subprocess, sys, time
from pathlib import Path
from runnable import Catalog, PythonJob

logging.basicConfig(level=logging.INFO, format="LOG %(levelname)s %(message)s")

def noisy():
    print("printed to stdout")
    print("printed to stderr", file=sys.stderr)
    logging.getLogger("job").warning("a logging record")
    subprocess.run([sys.executable, "-c", "import os; os.write(1, b'child fd 1\\\\n'); os.write(2, b'child fd 2\\\\n')"],
                   check=True)
    Path("out.txt").write_text("x")
    if {fail}:
        raise RuntimeError("the job broke")

PythonJob(function=noisy, catalog=Catalog(put=["out.txt"], store_copy={copy})).execute()
"""

EXPECTED_LINES = ["printed to stdout", "printed to stderr", "LOG WARNING a logging record", "child fd 1", "child fd 2"]


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    out["PYTHONPATH"] = str(REPO)
    return out


def run_noisy(folder: Path, fail: bool, copy: bool) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], str]:
    script = folder / "job.py"
    script.write_text(NOISY.format(fail=fail, copy=copy))
    done = subprocess.run([sys.executable, str(script)], cwd=folder, env=env(), capture_output=True, text=True,
                          timeout=60, check=False)
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    record = json.loads((folder / summary["run_record"]).read_text())
    log = (folder / ".catalog" / record["run_id"] / "noisy.execution.log").read_text()
    return done, record, log


@pytest.mark.parametrize(("fail", "copy"), [(False, True), (False, False), (True, True), (True, False)])
def test_all_output_reaches_console_and_log(tmp_path: Path, fail: bool, copy: bool) -> None:
    done, record, log = run_noisy(tmp_path, fail, copy)
    console = done.stdout + done.stderr
    for line in EXPECTED_LINES:
        assert line in log, f"{line!r} missing from the log:\n{log}"
        assert line in console, f"{line!r} missing from the console"
    assert "printed to stdout" in done.stdout and "printed to stderr" in done.stderr  # streams kept apart
    assert "child fd 1" in done.stdout and "child fd 2" in done.stderr
    assert record["status"] == ("FAIL" if fail else "SUCCESS")
    assert record["execution_log"]["stored"] is True
    assert record["execution_log"]["path"] == "noisy.execution.log"
    if fail:
        assert done.returncode != 0
        assert "Traceback (most recent call last)" in log and "RuntimeError: the job broke" in log
        assert "RuntimeError: the job broke" in done.stderr
    else:
        assert done.returncode == 0 and "Traceback" not in log
    assert '"Output catalog content"' not in log  # the summary is printed after capture ends


def test_order_of_lines_is_kept_within_a_stream(workdir: Path) -> None:
    def count() -> None:
        for i in range(200):
            print(f"line {i}")

    record = PythonJob(function=count, catalog=Catalog(put=[])).execute()
    log = Path(".catalog", record.run_id, "count.execution.log").read_text().splitlines()
    assert log == [f"line {i}" for i in range(200)]


LIVE = """
import sys, time
from pathlib import Path
from runnable import PythonJob

def wait_for_go():
    print("ready", flush=True)
    for _ in range(600):  # at most 60 s, so a broken test cannot hang the suite
        if Path("go").exists():
            print("went")
            return
        time.sleep(0.1)
    raise TimeoutError("nobody said go")

PythonJob(function=wait_for_go).execute()
"""


def test_output_reaches_the_console_while_the_job_runs(tmp_path: Path) -> None:
    """The job blocks until the test has read its first line: only live forwarding lets it finish."""
    (tmp_path / "job.py").write_text(textwrap.dedent(LIVE))
    proc = subprocess.Popen([sys.executable, "job.py"], cwd=tmp_path, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == "ready\n"
        assert proc.poll() is None  # still running: the line came before the job ended
        (tmp_path / "go").write_text("")
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert rest.startswith("went\n") and '"status": "SUCCESS"' in rest


def test_background_process_holding_the_pipe_does_not_block_the_run(tmp_path: Path) -> None:
    """A job may leave a child running with our stdout; the run still ends and records its log."""
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        import subprocess, sys
        from pathlib import Path
        from runnable import PythonJob
        from runnable.run.capture import OutputCapture

        OutputCapture.DRAIN_SECONDS = 0.5  # the bound under test, shortened to keep the test quick

        def spawn():
            print("spawning", flush=True)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            Path("child.pid").write_text(str(child.pid))

        PythonJob(function=spawn).execute()
    """))
    try:
        done = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, env=env(), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=60, check=False)
    finally:
        pid_file = tmp_path / "child.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), 9)
            except ProcessLookupError:
                pass
    assert done.returncode == 0
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    assert summary["status"] == "SUCCESS"
    assert (tmp_path / summary["execution_log"]).read_text() == "spawning\n"


def test_a_partial_line_and_a_line_from_the_other_stream_do_not_interleave_in_the_log(workdir: Path) -> None:
    def job() -> None:
        import time

        os.write(1, b"progress: ")
        time.sleep(0.2)  # the other stream's line arrives while the first line is half written
        os.write(2, b"a warning\n")
        time.sleep(0.2)
        os.write(1, b"done\n")

    record = PythonJob(function=job, name="interleave").execute()
    assert record is not None
    log = (workdir / ".catalog" / record.run_id / "interleave.execution.log").read_text()
    assert "progress: done\n" in log and "a warning\n" in log


KILLED = """
import os, signal, time
from runnable import PythonJob

def train():
    for epoch in range(3):
        print(f"epoch {epoch}", flush=True)
    time.sleep(0.5)  # working on, then killed as the out-of-memory killer would
    os.kill(os.getpid(), signal.SIGKILL)

PythonJob(function=train).execute(job_id="killed-1")
"""


def test_a_killed_run_leaves_what_it_printed_in_its_scratch_folder_named_in_its_record(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(KILLED)
    temp = tmp_path / "tmp"  # the run's scratch folder goes here, where this test can look
    temp.mkdir()
    done = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, env={**env(), "TMPDIR": str(temp)},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -9
    assert done.stdout == "epoch 0\nepoch 1\nepoch 2\n"
    record = json.loads((tmp_path / ".run_log_store" / "killed-1.json").read_text())
    assert record["status"] == "RUNNING"  # it never got to write more
    scratch = Path(record["environment"]["scratch"])
    assert scratch.parent == temp and scratch.stat().st_mode & 0o777 == 0o700
    assert (scratch / "execution.log").read_text() == "epoch 0\nepoch 1\nepoch 2\n"


def test_runs_leave_no_process_and_no_descriptor_behind(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        import os, sys
        from runnable import PythonJob

        def hello():
            print("hello")
            os.write(2, b"to fd 2\\n")

        before = sorted(os.listdir("/proc/self/fd"))
        for _ in range(5):
            PythonJob(function=hello).execute()
        after = sorted(os.listdir("/proc/self/fd"))

        def parent_of(pid):
            try:
                with open(f"/proc/{pid}/status") as status:
                    return next(line.split()[1] for line in status if line.startswith("PPid:"))
            except OSError:  # it ended while we looked
                return None

        children = [p for p in os.listdir("/proc") if p.isdigit() and parent_of(p) == str(os.getpid())]
        print("fds", before == after, "children", children, file=sys.stderr)
    """))
    done = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, env=env(), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "fds True children []"
    assert done.stdout.count("hello\n") == 5 and done.stderr.count("to fd 2\n") == 5
