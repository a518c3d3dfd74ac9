"""``runnable execute pipeline.py --config argo.yaml``: the workflow written to the file it names,
a CronWorkflow with cron_schedule, --submit without a cluster in one line, and what a rendered
pipeline's DAG is made of (every construct), validated against Argo's schema."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli
from tests.executors.argo import schema

pytest.importorskip("hera")

PIPELINE = """
from runnable import Conditional, Map, Parallel, Pipeline, PythonTask, Stub

def items():
    return [1, 2]

def kind():
    return "a"

def fail():
    raise RuntimeError("no")

risky = PythonTask(name="risky", function=fail, overrides={"argo": "big"}, secrets=["DB_PASSWORD"])
risky.on_failure = Stub(name="recover").as_pipeline()
pipeline = Pipeline(steps=[
    PythonTask(name="items", function=items, returns=["items"]),
    PythonTask(name="kind", function=kind, returns=["kind"]),
    Parallel(name="fan", branches={"a": Stub(name="x").as_pipeline(), "b": Stub(name="y").as_pipeline()}),
    Map(name="each", iterate_on="items", iterate_as="item", branch=Stub(name="z").as_pipeline()),
    Conditional(name="pick", parameter="kind", branches={"a": Stub(name="p").as_pipeline()}),
    risky,
    Stub(name="end", terminate_with_success=True),
    Stub(name="never"),
])
"""


def project(tmp_path: Path, **config: Any) -> Path:
    (tmp_path / "pipe.py").write_text(textwrap.dedent(PIPELINE))
    settings = {"image": "proj:1", "namespace": "ml", "pvc_claim_name": "data",
                "overrides": {"big": {"resources": {"limits": {"memory": "8Gi"}}}},
                "secret_refs": {"DB_PASSWORD": {"name": "db", "key": "password"}}, **config}
    (tmp_path / "argo.yaml").write_text(yaml.safe_dump({"pipeline-executor": {"type": "argo", "config": settings}}))
    return tmp_path


def tasks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = data["spec"] if data["kind"] == "Workflow" else data["spec"]["workflowSpec"]
    main = next(t for t in spec["templates"] if t["name"] == "main")
    return {t["name"]: t for t in main["dag"]["tasks"]}


def test_the_workflow_of_every_construct(tmp_path: Path) -> None:
    folder = project(tmp_path)
    done = run_cli(folder, "execute", "pipe.py", "--config", "argo.yaml", "--output", "out/wf.yaml")
    assert done.returncode == 2 and done.stderr == "Error: cannot write the workflow to 'out/wf.yaml': No such file " \
        "or directory; give --output a file in a folder that exists and you can write to\n"
    (folder / "out").mkdir()
    done = run_cli(folder, "execute", "pipe.py", "--config", "argo.yaml", "--output", "out/wf.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "runnable: wrote the Argo Workflow to out/wf.yaml; submit it with: argo submit " \
                                  "out/wf.yaml -n ml"
    data = yaml.safe_load((folder / "out" / "wf.yaml").read_text())
    schema.validate(data)
    dag = tasks(data)
    assert list(dag) == ["items", "kind", "fan-a", "fan-b", "fan", "each-items", "each-item", "each", "pick-choice",
                         "pick-a", "pick", "risky", "risky-on-failure-recover", "end"]  # nothing after terminate_with_success
    step = {name: t["arguments"]["parameters"][0]["value"] for name, t in dag.items()}
    assert step["fan-a"] == "fan.a" and step["each-item"] == "each.{{item}}" and step["risky-on-failure-recover"] == "risky.on_failure.recover"
    assert dag["fan"]["depends"] == "(fan-a.Succeeded || fan-a.Failed || fan-a.Skipped) && " \
                                    "(fan-b.Succeeded || fan-b.Failed || fan-b.Skipped)"
    assert dag["each-item"]["withParam"] == "{{tasks.each-items.outputs.parameters.plan}}"
    assert dag["pick-a"]["when"] == "'{{tasks.pick-choice.outputs.parameters.plan}}' == 'a'"
    assert dag["fan-a"]["depends"] == "kind.Succeeded" and dag["each-item"]["depends"] == "each-items.Succeeded"
    # risky has an on_failure path: its pod reports its outcome, and when picks the way on.
    recover, end = dag["risky-on-failure-recover"], dag["end"]
    assert recover["depends"] == end["depends"] == "risky.Succeeded"
    assert recover["when"] == "'{{tasks.risky.outputs.parameters.outcome}}' == 'Failed'"
    assert end["when"] == "'{{tasks.risky.outputs.parameters.outcome}}' == 'Succeeded'"
    templates = {t["name"]: t for t in data["spec"]["templates"]}
    risky = templates[dag["risky"]["template"]]["container"]
    assert risky["resources"] == {"limits": {"memory": "8Gi"}}
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}} in risky["env"]
    assert risky["args"][-5:] == ["--config", "argo.yaml", "--partial", "--outcome", "/tmp/runnable/outcome"]
    assert templates["finish"]["container"]["args"][-1] == "--finish" and data["spec"]["onExit"] == "exit-handler"
    assert {"name": "runnable-data", "mountPath": "/app/.run_log_store", "subPath": "run_log_store"} in \
        risky["volumeMounts"]


def test_a_cron_schedule_makes_a_cron_workflow_and_the_default_file_is_named(tmp_path: Path) -> None:
    folder = project(tmp_path, cron_schedule="0 3 * * *")
    done = run_cli(folder, "execute", "pipe.py", "--config", "argo.yaml")
    assert done.returncode == 0, done.stderr
    assert "wrote the Argo CronWorkflow to argo-pipeline.yaml" in done.stderr
    data = yaml.safe_load((folder / "argo-pipeline.yaml").read_text())
    schema.validate(data)
    assert data["kind"] == "CronWorkflow" and data["spec"]["schedules"] == ["0 3 * * *"]


def test_the_run_id_is_the_workflow_parameter_default(tmp_path: Path) -> None:
    folder = project(tmp_path)
    done = run_cli(folder, "execute", "pipe.py", "--config", "argo.yaml", "--run-id", "nightly-7")
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load((folder / "argo-pipeline.yaml").read_text())
    assert data["spec"]["arguments"]["parameters"] == [{"name": "run_id", "value": "nightly-7"}]
    folder = project(tmp_path, cron_schedule="0 3 * * *")
    done = run_cli(folder, "execute", "pipe.py", "--config", "argo.yaml", "--run-id", "nightly-7")
    assert done.returncode == 2 and done.stderr.startswith("Error: a run id ('nightly-7') cannot be given to a "
                                                           "CronWorkflow")


def test_submit_without_a_cluster_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    folder = project(tmp_path)
    done = run_cli(folder, "execute", "pipe.py", "--config", "argo.yaml", "--submit",
                   env={"KUBECONFIG": str(tmp_path / "nope")})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: no kubeconfig: ") and "Traceback" not in done.stderr
    assert (folder / "argo-pipeline.yaml").is_file()  # written before the cluster was asked


@pytest.mark.parametrize(("config", "message"), [
    ({"paralelism": 2}, "unknown key 'paralelism' in section 'pipeline-executor'"),
    ({"pvc_claim_name": None}, "set pipeline-executor (argo) config 'pvc_claim_name', or use object storage"),
    ({"overrides": {}}, "a task asks for the argo override 'big', which pipeline-executor (argo) does not define"),
])
def test_a_bad_configuration_is_one_line(tmp_path: Path, config: dict[str, Any], message: str) -> None:
    folder = project(tmp_path, **config)
    done = run_cli(folder, "execute", "pipe.py", "--config", "argo.yaml")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
