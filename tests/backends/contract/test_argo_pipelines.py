"""Every example pipeline as an Argo workflow, run: the proof that the rendered workflow does what a
local run does (no cluster exists here; see docs/argo.md).

For each example in examples/pipelines: ``runnable execute FILE --config argo.yaml`` renders the
Workflow, it is validated against Argo's schema (tests/executors/argo/schema.py), and the test-only
controller (tests/executors/argo/interpreter.py) runs it, each pod's ``runnable execute-step ...`` a
real process, with the catalog and the run-log store in the real local S3 server. The record it
leaves must equal the record of the same script run locally on the same S3 server, up to times,
hosts and ids (``comparable``). A failing step gives the same FAIL; ``runnable retry`` works from
an Argo run with the local configuration, and from a local run with the Argo one.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, run_cli, run_python
from tests.executors.argo import interpreter, schema
from tests.pipeline.helpers import comparable

from .conftest import ACCESS_KEY, SECRET_KEY, S3Server, subprocess_env

pytest.importorskip("hera")
EXAMPLES = REPO / "examples" / "pipelines"


def _config(folder: Path, server: S3Server, bucket: str, executor: dict[str, Any] | None) -> Path:
    store = {"bucket": bucket, "endpoint_url": server.endpoint, "region": "us-east-1"}
    data: dict[str, Any] = {"catalog": {"type": "s3", "config": {**store, "prefix": "catalog"}},
                            "run-log-store": {"type": "s3", "config": {**store, "prefix": "runs"}}}
    if executor is not None:
        data["pipeline-executor"] = executor
    name = "argo.yaml" if executor else "local.yaml"
    (folder / name).write_text(yaml.safe_dump(data))
    return folder / name


ARGO = {"type": "argo", "config": {"image": "registry.example.com/examples:1", "namespace": "ml",
                                   "secret_name": "s3-credentials"}}


@pytest.fixture
def project(tmp_path: Path, s3_server: S3Server, bucket: str) -> Path:
    """A project folder (what the image holds at /app): the examples, both configurations."""
    folder = tmp_path / "app"
    shutil.copytree(EXAMPLES, folder / "examples" / "pipelines")
    _config(folder, s3_server, bucket, None)
    _config(folder, s3_server, bucket, ARGO)
    return folder


def record_of(folder: Path, run_id: str, env: dict[str, str]) -> dict[str, Any]:
    shown = run_cli(folder, "runs", "show", run_id, "--json", "--config", "local.yaml", env=env)
    assert shown.returncode == 0, shown.stderr
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def render(folder: Path, script: str, env: dict[str, str], *extra: str) -> dict[str, Any]:
    """``runnable execute SCRIPT --config argo.yaml --output wf.yaml`` (or another command in ``extra``)."""
    args = extra or ("execute", script, "--config", "argo.yaml")
    done = run_cli(folder, *args, "--output", "wf.yaml", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wrote the Argo Workflow to wf.yaml" in done.stderr
    data: dict[str, Any] = yaml.safe_load((folder / "wf.yaml").read_text())
    if schema.available():
        schema.validate(data)
    return data


def run_workflow(folder: Path, data: dict[str, Any], run_id: str, server: S3Server, env: dict[str, str],
                 scratch: Path) -> interpreter.Run:
    scratch.mkdir(exist_ok=True)
    secrets = {("s3-credentials", "AWS_ACCESS_KEY_ID"): ACCESS_KEY,
               ("s3-credentials", "AWS_SECRET_ACCESS_KEY"): SECRET_KEY}
    pod_env = {k: v for k, v in env.items() if not k.startswith("AWS_")}  # the Secret gives those
    return interpreter.run(data, {"run_id": run_id}, env=pod_env, secrets=secrets, paths={"/app": folder},
                           commands={"runnable": [sys.executable, "-m", "runnable"]}, scratch=scratch)


EXAMPLE_RUNS = {
    "sequential.py": {}, "catalog.py": {}, "parallel.py": {}, "map_reduce.py": {}, "conditional.py": {},
    "on_failure.py": {}, "loop.py": {}, "shell_and_notebook.py": {"RUNNABLE_PRM_who": "world"},
}


@pytest.mark.parametrize("example", sorted(EXAMPLE_RUNS))
def test_each_example_on_argo_records_what_a_local_run_records(example: str, project: Path, tmp_path: Path,
                                                                s3_server: S3Server) -> None:
    if example == "shell_and_notebook.py":
        pytest.importorskip("papermill")
    script = f"examples/pipelines/{example}"
    env = {**subprocess_env(s3_server), **EXAMPLE_RUNS[example]}
    local = run_python(project / script, project, env={**env, "RUNNABLE_CONFIGURATION_FILE": "local.yaml",
                                                        "RUNNABLE_RUN_ID": "local-1"})
    assert local.returncode == 0, local.stdout + local.stderr
    data = render(project, script, env)
    result = run_workflow(project, data, "argo-1", s3_server, env, tmp_path / "pods")
    assert result.phases().get("onExit.finish") == "Succeeded", {n: (v.phase, v.log) for n, v in result.nodes.items()}
    assert result.phase == "Succeeded"  # on_failure.py too: its failed step was recovered, as the record says
    pods = {name: node.phase for name, node in result.nodes.items() if node.attempts}
    if example == "map_reduce.py":  # one pod per item, then the fan-in
        assert sorted(n for n in pods if n.startswith("squares-item(")) == [f"squares-item({i}:{i})" for i in range(4)]
    if example == "parallel.py":
        assert pods["prepare-features"] == pods["prepare-labels"] == "Succeeded"
    expected, got = record_of(project, "local-1", env), record_of(project, "argo-1", env)
    assert got["status"] == "SUCCESS"
    assert comparable(got) == comparable(expected)


def test_a_failed_step_fails_alike_and_retries_across_executors(project: Path, tmp_path: Path,
                                                                s3_server: S3Server) -> None:
    """retry.py fails in 'train' until a file 'ready' exists: the same FAIL on Argo and locally;
    ``runnable retry`` on Argo renders only 'train'; each failed run is retried by the other executor."""
    script = "examples/pipelines/retry.py"
    env = subprocess_env(s3_server)
    local = run_python(project / script, project, env={**env, "RUNNABLE_CONFIGURATION_FILE": "local.yaml",
                                                        "RUNNABLE_RUN_ID": "local-1"})
    assert local.returncode == 1
    data = render(project, script, env)
    result = run_workflow(project, data, "argo-1", s3_server, env, tmp_path / "pods-1")
    assert result.phases()["train"] == "Failed" and result.phase == "Failed"
    failed_local, failed_argo = record_of(project, "local-1", env), record_of(project, "argo-1", env)
    assert failed_argo["status"] == "FAIL"
    assert comparable(failed_argo) == comparable(failed_local)

    (project / "ready").write_text("")
    # The Argo run retried on Argo: a workflow without 'prepare', which the pods reuse.
    data = render(project, script, env, "retry", "argo-1", script, "--config", "argo.yaml")
    tasks = [t["name"] for t in next(t for t in data["spec"]["templates"] if t["name"] == "main")["dag"]["tasks"]]
    assert tasks == ["train"]
    result = run_workflow(project, data, "argo-2", s3_server, env, tmp_path / "pods-2")
    assert result.phase == "Succeeded", {n: (v.phase, v.log) for n, v in result.nodes.items()}
    # The local run retried locally: the same record.
    retried = run_cli(project, "retry", "local-1", script, "--config", "local.yaml", env={
        **env, "RUNNABLE_RUN_ID": "local-2"})
    assert retried.returncode == 0, retried.stderr
    argo_2, local_2 = record_of(project, "argo-2", env), record_of(project, "local-2", env)
    assert argo_2["job"]["retry_of"] == "argo-1" and argo_2["steps"][0]["reused_from"] == "argo-1"
    assert comparable(argo_2) == comparable(local_2)

    # Across: the failed Argo run retried locally, the failed local run retried on Argo.
    across = run_cli(project, "retry", "argo-1", script, "--config", "local.yaml", env={
        **env, "RUNNABLE_RUN_ID": "local-3"})
    assert across.returncode == 0, across.stderr
    data = render(project, script, env, "retry", "local-1", script, "--config", "argo.yaml")
    assert run_workflow(project, data, "argo-3", s3_server, env, tmp_path / "pods-3").phase == "Succeeded"
    assert comparable(record_of(project, "local-3", env)) == comparable(local_2)
    assert comparable(record_of(project, "argo-3", env)) == comparable(local_2)


MAP_FAILS = '''
import os, signal
from runnable import Map, Pipeline, PythonTask

def items():
    return [1, 2, 3]

def check(n):
    if n == 2:
        raise ValueError(f"item {n} is bad")
    if n == 3 and os.environ.get("KILL_ITEM_3"):
        os.kill(os.getpid(), signal.SIGKILL)
    return n * 10

def after(out):
    print(out)

def main():
    return Pipeline(steps=[
        PythonTask(name="items", function=items, returns=["items"]),
        Map(name="each", iterate_on="items", iterate_as="n",
            branch=PythonTask(name="check", function=check, returns=["out"]).as_pipeline()),
        PythonTask(name="after", function=after),
    ])

if __name__ == "__main__":
    main().execute()
'''


def test_a_failing_map_item_fails_the_run_alike(project: Path, tmp_path: Path, s3_server: S3Server) -> None:
    (project / "map_fails.py").write_text(MAP_FAILS)
    env = subprocess_env(s3_server)
    local = run_python(project / "map_fails.py", project, env={**env, "RUNNABLE_CONFIGURATION_FILE": "local.yaml",
                                                               "RUNNABLE_RUN_ID": "local-1"})
    assert local.returncode == 1
    result = run_workflow(project, render(project, "map_fails.py", env), "argo-1", s3_server, env, tmp_path / "pods")
    phases = result.phases()
    assert phases["each-item(1:1)"] == "Failed" and phases["each-item(0:0)"] == phases["each-item(2:2)"] == "Succeeded"
    assert phases["each"] == "Failed" and phases["after"] == "Omitted" and phases["onExit.finish"] == "Failed"
    got, expected = record_of(project, "argo-1", env), record_of(project, "local-1", env)
    assert got["status"] == "FAIL" and "item 2 is bad" in got["error"]["message"]
    assert comparable(got) == comparable(expected)


def test_a_killed_pod_leaves_a_failed_step_not_a_lie(project: Path, tmp_path: Path, s3_server: S3Server) -> None:
    """A pod killed before it reported (SIGKILL, an evicted node): the exit handler finds no entry
    for its step and records the step, and the run, as failed, the other items as they ended."""
    (project / "map_fails.py").write_text(MAP_FAILS.replace("n == 2", "n == 0"))
    env = {**subprocess_env(s3_server), "KILL_ITEM_3": "1"}
    result = run_workflow(project, render(project, "map_fails.py", env), "argo-k", s3_server, env, tmp_path / "pods")
    assert result.phases()["each-item(2:2)"] == "Failed"
    record = record_of(project, "argo-k", env)
    assert record["status"] == "FAIL"
    items = next(e for e in record["steps"] if e["path"] == "each")["branches"]
    assert [b[0]["status"] for b in items.values()] == ["SUCCESS", "SUCCESS", "FAIL"]
    assert items["2"][0]["error"]["message"] == "step 'each.2.check': its process did not report an outcome: " \
                                                "it never started, or it was stopped"
    assert "each.2.check.execution.log" not in {f["path"] for f in record["files"]}
