"""The pipeline executors: local with max_workers, and local-container through execute-step.

No container engine runs here: the commands are checked from a real dry run, and the stand-in
engine of tests/run/test_executors.py (it runs the built command on this machine, with only the
variables the command passes) runs each step end to end.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli, run_python
from tests.pipeline.helpers import only_record, step, write
from tests.run.test_executors import STAND_IN_ENGINE

PIPELINE = """
import os, time
from runnable import Catalog, Pipeline, PythonTask, Stub

def make(rows: int = 2):
    with open("made.txt", "w") as f:
        f.write("x" * rows)
    print("in container:", os.environ.get("RUNNABLE_IN_EXECUTOR"), len(os.environ.get("DB_PASSWORD", "")))
    return rows * 10

def check(total):
    if total != 30:
        raise ValueError(f"total is {total}")

def recover():
    print("recovered")

checking = PythonTask(name="check", function=check, catalog=Catalog(get=["made.txt"]))
checking.on_failure = PythonTask(name="recover", function=recover).as_pipeline()
pipeline = Pipeline(steps=[
    PythonTask(name="make", function=make, returns=["total"], catalog=Catalog(put=["made.txt"]),
               secrets=["DB_PASSWORD"]),
    Stub(name="pause"),
    checking,
])
if __name__ == "__main__":
    pipeline.execute()
"""


def config(folder: Path, executor: dict[str, Any]) -> None:
    (folder / "config.yaml").write_text(yaml.safe_dump({"pipeline-executor": executor}))


@pytest.fixture
def engine(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"#!{sys.executable}\n" + STAND_IN_ENGINE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_local_max_workers_one_runs_branches_one_after_the_other(tmp_path: Path) -> None:
    config(tmp_path, {"type": "local", "config": {"max_workers": 1}})
    done = run_python(write(tmp_path, """
        import time
        from runnable import Parallel, Pipeline, PythonTask
        def wait(): time.sleep(0.3)
        Pipeline(steps=[Parallel(name="fan", branches={k: PythonTask(name="w", function=wait).as_pipeline()
                                                       for k in "ab"})]).execute()
        """), tmp_path, env={"RUNNABLE_CONFIGURATION_FILE": "config.yaml"})
    assert done.returncode == 0, done.stderr
    assert step(only_record(tmp_path), "fan")["duration_seconds"] >= 0.6


def test_a_bad_max_workers_is_one_line(tmp_path: Path) -> None:
    config(tmp_path, {"type": "local", "config": {"max_workers": 0}})
    write(tmp_path, PIPELINE)
    done = run_cli(tmp_path, "execute", "pipe.py", "--config", "config.yaml")
    assert done.returncode == 2
    assert "max_workers must be at least 1, not 0" in done.stderr and "Traceback" not in done.stderr


def test_local_container_dry_run_prints_one_command_per_step(tmp_path: Path) -> None:
    config(tmp_path, {"type": "local-container", "config": {"image": "proj:1", "engine": "docker", "dry_run": True}})
    write(tmp_path, PIPELINE)
    done = run_cli(tmp_path, "execute", "pipe.py", "--config", "config.yaml", "--run-id", "boxed",
                   env={"DB_PASSWORD": "s3cr3t-value"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4  # make, pause, check and its on_failure path's recover
    argv = shlex.split(lines[0])
    assert argv[:3] == ["docker", "run", "--rm"] and "proj:1" in argv
    tail = argv[argv.index("proj:1") + 1:]
    assert tail == ["runnable", "execute-step", "boxed", str(tmp_path / "pipe.py"), "make", "--config",
                    str(tmp_path / "config.yaml")]
    assert "DB_PASSWORD" in argv and "s3cr3t-value" not in done.stdout
    assert shlex.split(lines[3])[-3] == "check.on_failure.recover"
    assert not (tmp_path / ".run_log_store").exists()


def test_local_container_runs_every_step_in_its_own_container(tmp_path: Path, engine: dict[str, str]) -> None:
    config(tmp_path, {"type": "local-container", "config": {"image": "stand-in:latest", "user": None}})
    write(tmp_path, PIPELINE)
    done = run_python(tmp_path / "pipe.py", tmp_path, env={**engine, "DB_PASSWORD": "abc123",
                                                          "RUNNABLE_CONFIGURATION_FILE": "config.yaml",
                                                          "RUNNABLE_RUN_ID": "boxed-2"})
    assert done.returncode == 0, done.stderr
    assert "in container: 1 6" in done.stdout and "recovered" in done.stdout
    record = only_record(tmp_path)
    assert record["run_id"] == "boxed-2" and record["status"] == "SUCCESS"
    assert [(e["path"], e["status"]) for e in record["steps"]] == [
        ("make", "SUCCESS"), ("pause", "SUCCESS"), ("check", "FAIL")]
    assert step(record, "check.on_failure.recover")["status"] == "SUCCESS"  # where a local run puts it
    assert step(record, "check")["error"]["message"] == "total is 20"
    assert step(record, "check")["inputs"][0]["source"]["step"] == "make"
    assert (tmp_path / ".catalog" / "boxed-2" / "made.txt").read_text() == "xx"
    assert "abc123" not in (tmp_path / ".run_log_store" / "boxed-2.json").read_text()


def test_local_container_refuses_composites_before_starting(tmp_path: Path) -> None:
    config(tmp_path, {"type": "local-container", "config": {"image": "p", "engine": "docker", "dry_run": True}})
    write(tmp_path, """
        from runnable import Parallel, Pipeline, Stub
        pipeline = Pipeline(steps=[Parallel(name="fan", branches={"a": Stub(name="s").as_pipeline()})])
        """)
    done = run_cli(tmp_path, "execute", "pipe.py", "--config", "config.yaml")
    assert done.returncode == 2
    assert "pipeline step 'fan' is a parallel step, which the local-container pipeline executor" in done.stderr
