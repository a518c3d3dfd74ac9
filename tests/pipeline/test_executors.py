"""The pipeline executors: local with max_workers, and local-container through execute-step.

No container engine runs here (no docker or podman on this machine): the commands are checked from
a real dry run, and the stand-in engine of tests/run/test_executors.py (it runs the built command
on this machine, with only the variables the command passes) runs each step end to end. Every
example of examples/pipelines run through local-container must leave the record a local run leaves
(``comparable``), failures and retries included.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, run_cli, run_python
from tests.pipeline.helpers import comparable, only_record, step, write
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
    assert len(lines) == 5  # make, pause, check, its on_failure path's recover, and --finish (the record)
    argv = shlex.split(lines[0])
    assert argv[:3] == ["docker", "run", "--rm"] and "proj:1" in argv
    tail = argv[argv.index("proj:1") + 1:]
    # The Argo executor's step command (runnable.pipeline.dag): each step writes its own partial entry.
    assert tail == ["runnable", "execute-step", "boxed", str(tmp_path / "pipe.py"), "make", "--config",
                    str(tmp_path / "config.yaml"), "--partial"]
    assert "DB_PASSWORD" in argv and "s3cr3t-value" not in done.stdout
    check = shlex.split(lines[2])
    assert check[check.index("proj:1") + 5:][:4] == ["check", "--config", str(tmp_path / "config.yaml"), "--partial"]
    assert check[-2] == "--outcome" and check[-1].startswith(str(tmp_path / ".runnable-steps-boxed") + "/")
    assert shlex.split(lines[3])[-4] == "check.on_failure.recover"
    assert shlex.split(lines[4])[-3:] == ["--config", str(tmp_path / "config.yaml"), "--finish"]
    assert not (tmp_path / ".run_log_store").exists() and not (tmp_path / ".runnable-steps-boxed").exists()


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


EXAMPLES = REPO / "examples" / "pipelines"
EXAMPLE_RUNS = {
    "sequential.py": {}, "catalog.py": {}, "parallel.py": {}, "map_reduce.py": {}, "conditional.py": {},
    "on_failure.py": {}, "loop.py": {}, "shell_and_notebook.py": {"RUNNABLE_PRM_who": "world"},
}
CONTAINER = {"type": "local-container", "config": {"image": "stand-in:latest", "user": None}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder: the examples, and a configuration with only the local-container executor."""
    folder = tmp_path / "app"
    shutil.copytree(EXAMPLES, folder / "examples" / "pipelines")
    (folder / "container.yaml").write_text(yaml.safe_dump({"pipeline-executor": CONTAINER}))
    return folder


def record_of(folder: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / ".run_log_store" / f"{run_id}.json").read_text())
    return data


def in_containers(folder: Path, script: str, run_id: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python(folder / script, folder, env={**env, "RUNNABLE_CONFIGURATION_FILE": "container.yaml",
                                                   "RUNNABLE_RUN_ID": run_id})


@pytest.mark.parametrize("example", sorted(EXAMPLE_RUNS))
def test_each_example_in_containers_records_what_a_local_run_records(example: str, project: Path,
                                                                     engine: dict[str, str]) -> None:
    if example == "shell_and_notebook.py":
        pytest.importorskip("papermill")
    script = f"examples/pipelines/{example}"
    env = {**engine, **EXAMPLE_RUNS[example]}
    local = run_python(project / script, project, env={**env, "RUNNABLE_RUN_ID": "local-1"})
    assert local.returncode == 0, local.stdout + local.stderr
    boxed = in_containers(project, script, "boxed-1", env)
    assert boxed.returncode == 0, boxed.stdout + boxed.stderr
    assert boxed.stdout.count('"status"') == 1  # one summary: the --finish container's
    expected, got = record_of(project, "local-1"), record_of(project, "boxed-1")
    assert got["status"] == "SUCCESS"
    assert comparable(got) == comparable(expected)
    assert not list(project.glob(".runnable-steps-*"))  # the plans and outcomes are cleaned up


def test_a_failed_step_fails_alike_and_a_retry_runs_only_what_is_left(project: Path, engine: dict[str, str]) -> None:
    """retry.py fails in 'train' until a file 'ready' exists; ``runnable retry`` with local-container
    runs 'train' only (its container), reusing 'prepare', and records what a local retry records."""
    script = "examples/pipelines/retry.py"
    local = run_python(project / script, project, env={**engine, "RUNNABLE_RUN_ID": "local-1"})
    assert local.returncode == 1
    boxed = in_containers(project, script, "boxed-1", engine)
    assert boxed.returncode == 1
    assert "run boxed-1 failed" in boxed.stderr and "the GPU is not ready" in boxed.stderr
    assert "Traceback" not in boxed.stderr.split("the GPU is not ready")[-1]
    failed = record_of(project, "boxed-1")
    assert failed["status"] == "FAIL"
    assert comparable(failed) == comparable(record_of(project, "local-1"))

    (project / "ready").write_text("")
    retried = run_cli(project, "retry", "boxed-1", script, "--config", "container.yaml",
                      env={**engine, "RUNNABLE_RUN_ID": "boxed-2"})
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "preparing" not in retried.stdout and "training with seed 7 on prepared data" in retried.stdout
    local_2 = run_cli(project, "retry", "local-1", script, env={**engine, "RUNNABLE_RUN_ID": "local-2"})
    assert local_2.returncode == 0, local_2.stderr
    boxed_2 = record_of(project, "boxed-2")
    assert boxed_2["job"]["retry_of"] == "boxed-1" and boxed_2["steps"][0]["reused_from"] == "boxed-1"
    assert comparable(boxed_2) == comparable(record_of(project, "local-2"))


def test_local_container_runs_parallel_branches_at_once_up_to_max_workers(tmp_path: Path,
                                                                          engine: dict[str, str]) -> None:
    body = """
        import time
        from runnable import Parallel, Pipeline, PythonTask
        def wait(): time.sleep(1)
        Pipeline(steps=[Parallel(name="fan", branches={k: PythonTask(name="w", function=wait).as_pipeline()
                                                       for k in "ab"})]).execute()
        """
    write(tmp_path, body)
    spans = {}
    for workers in (1, 2):
        config(tmp_path, {"type": "local-container", "config": {**CONTAINER["config"], "max_workers": workers}})
        done = run_python(tmp_path / "pipe.py", tmp_path, env={**engine, "RUNNABLE_CONFIGURATION_FILE": "config.yaml",
                                                               "RUNNABLE_RUN_ID": f"fan-{workers}"})
        assert done.returncode == 0, done.stderr
        branches = step(record_of(tmp_path, f"fan-{workers}"), "fan")["branches"]
        starts = sorted(datetime.fromisoformat(b[0]["start"]) for b in branches.values())
        spans[workers] = (starts[1] - starts[0]).total_seconds()
    assert spans[1] >= 1.0 > spans[2]  # one container at a time, then both at once


MAP_FAILS = """
from runnable import Map, Pipeline, PythonTask

def items():
    return [1, 2, 3]

def check(n):
    if n == 2:
        raise ValueError(f"item {n} is bad")
    return n * 10

def after(out):
    print("after ran")

if __name__ == "__main__":
    Pipeline(steps=[
        PythonTask(name="items", function=items, returns=["items"]),
        Map(name="each", iterate_on="items", iterate_as="n",
            branch=PythonTask(name="check", function=check, returns=["out"]).as_pipeline()),
        PythonTask(name="after", function=after),
    ]).execute()
"""


def test_a_failing_map_item_fails_the_run_alike(project: Path, engine: dict[str, str]) -> None:
    (project / "map_fails.py").write_text(MAP_FAILS)
    local = run_python(project / "map_fails.py", project, env={**engine, "RUNNABLE_RUN_ID": "local-1"})
    assert local.returncode == 1
    boxed = in_containers(project, "map_fails.py", "boxed-1", engine)
    assert boxed.returncode == 1 and "after ran" not in boxed.stdout
    assert "run boxed-1 failed" in boxed.stderr and "item 2 is bad" in boxed.stderr
    got = record_of(project, "boxed-1")
    assert got["status"] == "FAIL" and "item 2 is bad" in got["error"]["message"]
    assert comparable(got) == comparable(record_of(project, "local-1"))


def test_a_missing_image_still_leaves_a_failed_record(project: Path, engine: dict[str, str]) -> None:
    """No container starts (the engine exits 125): the record is written here, every step failed,
    never left RUNNING or missing."""
    (project / "container.yaml").write_text(yaml.safe_dump({"pipeline-executor": {
        "type": "local-container", "config": {"image": "no-such:image", "user": None}}}))
    done = in_containers(project, "examples/pipelines/sequential.py", "boxed-1", engine)
    assert done.returncode == 1
    assert "Unable to find image 'no-such:image'" in done.stderr
    assert "the last container did not write the record of run boxed-1" in done.stderr
    assert "run boxed-1 failed" in done.stderr and "Traceback" not in done.stderr
    record = record_of(project, "boxed-1")
    assert record["status"] == "FAIL" and "did not report an outcome" in record["error"]["message"]
    assert not list(project.glob(".runnable-steps-*"))


def test_local_container_needs_no_hera(tmp_path: Path) -> None:
    """The DAG it runs (runnable.pipeline.dag) is the Argo executor's, without the argo extra."""
    config(tmp_path, {"type": "local-container", "config": {"image": "p", "engine": "docker", "dry_run": True}})
    write(tmp_path, """
        import sys
        sys.modules["hera"] = None  # as if runnable[argo] were not installed: importing hera fails
        from runnable import Map, Pipeline, PythonTask
        def items(): return [1, 2]
        def one(n): return n
        Pipeline(steps=[PythonTask(name="items", function=items, returns=["items"]),
                        Map(name="each", iterate_on="items", iterate_as="n",
                            branch=PythonTask(name="one", function=one).as_pipeline())]).execute()
        """)
    done = run_python(tmp_path / "pipe.py", tmp_path, env={"RUNNABLE_CONFIGURATION_FILE": "config.yaml",
                                                           "RUNNABLE_RUN_ID": "nohera"})
    assert done.returncode == 0, done.stderr
    steps = [shlex.split(line)[shlex.split(line).index("p") + 5:] for line in done.stdout.strip().splitlines()]
    assert [s[0] for s in steps] == ["items", "each", "each.{{item}}", "each", "--config"]
    assert "--plan" in steps[1] and "--collect" in steps[3] and steps[4][-1] == "--finish"
