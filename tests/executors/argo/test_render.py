"""Rendering a neutral description into an Argo Workflow / CronWorkflow with hera, checked against
Argo's published JSON schema (tests/executors/argo/schema.py) and field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runnable.errors import ConfigurationError
from runnable.executors.argo import render as r
from runnable.executors.argo.config import ArgoConfig
from tests.executors.argo.schema import validate

SECRET_VALUE = "s3cr3t-value-never-in-yaml"
CONFIG: dict[str, Any] = {
    "image": "registry.example.com/proj:1.4", "namespace": "ml", "service_account": "argo-runner",
    "resources": {"requests": {"cpu": 1, "memory": "2Gi"}}, "node_selector": {"pool": "cpu"},
    "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}], "parallelism": 4,
    "retry": {"limit": 2, "policy": "OnFailure", "backoff": {"duration": "30s", "factor": 2, "max_duration": "10m"}},
    "active_deadline_seconds": 86400, "max_step_duration_in_seconds": 7200, "pvc_claim_name": "runnable-data",
    "secret_name": "proj-secrets", "secret_refs": {"DB_PASSWORD": {"name": "db", "key": "password"}},
    "environment": {"MODE": "prod"}, "labels": {"team": "ml"}, "annotations": {"owner": "ml-team"},
    "overrides": {"gpu": {"image": "proj-gpu:1.4", "resources": {"limits": {"nvidia.com/gpu": 1}},
                          "node_selector": {"pool": "gpu"}, "retry": {"limit": 0},
                          "tolerations": [{"key": "gpu", "operator": "Exists"}]}},
}


def description(config: ArgoConfig) -> r.Description:
    task = r.Kind("task", r.step_argv("pipeline.py", "{{inputs.parameters.step}}"), inputs=("step",),
                  secrets=r.secret_env(["DB_PASSWORD"], config, "the step"))
    fan_out = r.Kind("fan-out", r.step_argv("pipeline.py", "{{inputs.parameters.step}}", "--fan-out"),
                     inputs=("step",), outputs=(r.Output("items", "/tmp/runnable/items.json"),))
    branch = r.Kind("branch-gpu", r.step_argv("pipeline.py", "{{inputs.parameters.step}}", "--item",
                                              "{{inputs.parameters.item}}"), inputs=("step", "item"), override="gpu")
    steps = (
        r.Step("prepare", "fan-out", {"step": "prepare"}),
        r.Step("train", "branch-gpu", {"step": "train", "item": "{{item}}"}, depends="prepare",
               with_param="{{tasks.prepare.outputs.parameters.items}}"),
        r.Step("report", "task", {"step": "report"}, depends="train.Succeeded"),
        r.Step("on-failure", "task", {"step": "on-failure"}, depends="train.Failed || report.Failed",
               when="'{{workflow.parameters.notify}}' == 'yes'"),
    )
    return r.Description(
        "Nightly Train", (task, fan_out, branch), steps, on_exit=r.Step("cleanup", "task", {"step": "cleanup"}),
        parameters={"notify": "yes"}, secrets=r.secret_env(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], config,
                                                           "the S3 catalog"),
        mounts=r.pvc_mounts({"run_log_store": ".run_log_store"}, config),
    )


def rendered(**changes: Any) -> dict[str, Any]:
    config = ArgoConfig(**{**CONFIG, **changes})
    data = r.to_dict(r.render(description(config), config))
    validate(data)
    return data


def templates(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in spec["templates"]}


def test_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET_VALUE)
    data = rendered()
    assert (data["apiVersion"], data["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    assert data["metadata"] == {"generateName": "runnable-nightly-train-", "namespace": "ml",
                                "labels": {"team": "ml", "app.kubernetes.io/managed-by": "runnable"},
                                "annotations": {"owner": "ml-team"}}
    spec = data["spec"]
    assert spec["entrypoint"] == "main" and spec["onExit"] == "exit-handler"
    assert spec["arguments"]["parameters"] == [{"name": "run_id", "value": "{{workflow.name}}"},
                                               {"name": "notify", "value": "yes"}]
    assert (spec["serviceAccountName"], spec["activeDeadlineSeconds"]) == ("argo-runner", 86400)
    assert spec["nodeSelector"] == {"pool": "cpu"} and spec["tolerations"] == CONFIG["tolerations"]
    assert spec["volumes"] == [{"name": "runnable-data", "persistentVolumeClaim": {"claimName": "runnable-data"}}]
    by_name = templates(spec)
    assert sorted(by_name) == ["branch-gpu", "exit-handler", "fan-out", "main", "task"]
    task = by_name["task"]
    container = task["container"]
    assert container["command"] + container["args"] == [
        "runnable", "execute-step", "{{workflow.parameters.run_id}}", "pipeline.py", "{{inputs.parameters.step}}"]
    assert container["image"] == CONFIG["image"] and container["workingDir"] == "/app"
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}
    assert container["env"] == [
        {"name": "MODE", "value": "prod"},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "proj-secrets", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY",
         "valueFrom": {"secretKeyRef": {"name": "proj-secrets", "key": "AWS_SECRET_ACCESS_KEY"}}},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
    ]
    assert container["volumeMounts"] == [{"name": "runnable-data", "mountPath": "/app/.run_log_store",
                                          "subPath": "run_log_store"}]
    assert task["retryStrategy"] == {"limit": "2", "retryPolicy": "OnFailure",
                                     "backoff": {"duration": "30s", "factor": "2", "maxDuration": "10m"}}
    assert task["activeDeadlineSeconds"] == "7200"
    assert by_name["fan-out"]["outputs"] == {"parameters": [{"name": "items",
                                                             "valueFrom": {"path": "/tmp/runnable/items.json"}}]}
    gpu = by_name["branch-gpu"]
    assert gpu["container"]["image"] == "proj-gpu:1.4"
    assert gpu["container"]["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert gpu["nodeSelector"] == {"pool": "gpu"} and gpu["retryStrategy"] == {"limit": "0"}
    assert gpu["inputs"] == {"parameters": [{"name": "step"}, {"name": "item"}]}
    main = by_name["main"]
    assert main["parallelism"] == 4
    tasks = {t["name"]: t for t in main["dag"]["tasks"]}
    assert tasks["train"]["withParam"] == "{{tasks.prepare.outputs.parameters.items}}"
    assert tasks["train"]["arguments"] == {"parameters": [{"name": "step", "value": "train"},
                                                          {"name": "item", "value": "{{item}}"}]}
    assert tasks["on-failure"]["depends"] == "train.Failed || report.Failed"
    assert tasks["on-failure"]["when"] == "'{{workflow.parameters.notify}}' == 'yes'"
    assert "depends" not in tasks["prepare"]
    assert by_name["exit-handler"]["dag"]["tasks"][0]["name"] == "cleanup"
    assert SECRET_VALUE not in yaml.safe_dump(data)


def test_cron_workflow() -> None:
    data = rendered(cron_schedule="0 3 * * *")
    assert data["kind"] == "CronWorkflow"
    assert data["spec"]["schedules"] == ["0 3 * * *"] and data["spec"]["concurrencyPolicy"] == "Forbid"
    workflow = data["spec"]["workflowSpec"]
    assert workflow["entrypoint"] == "main" and workflow["arguments"]["parameters"][0]["name"] == "run_id"


def test_minimal_workflow() -> None:
    config = ArgoConfig(image="p:1")
    one = r.Description("one", (r.Kind("task", r.step_argv("p.py", "only")),), (r.Step("only", "task"),))
    data = r.to_dict(r.render(one, config))
    validate(data)
    assert data["metadata"]["namespace"] == "default"
    assert set(data["spec"]) == {"arguments", "entrypoint", "templates"}
    (task,) = [t for t in data["spec"]["templates"] if t["name"] == "task"]
    assert set(task) == {"name", "container"} and "env" not in task["container"]


def test_write_yaml(tmp_path: Path) -> None:
    config = ArgoConfig(**CONFIG)
    workflow = r.render(description(config), config)
    path = r.write_yaml(workflow, tmp_path / "workflow.yaml")
    assert yaml.safe_load(path.read_text()) == r.to_dict(workflow)
    assert [p.name for p in tmp_path.iterdir()] == ["workflow.yaml"]


def test_description_errors() -> None:
    config = ArgoConfig(image="p:1")
    task = r.Kind("task", r.step_argv("p.py", "{{inputs.parameters.step}}"), inputs=("step",))
    cases = [
        (r.Description("x", (task,), (r.Step("a", "tsk", {"step": "a"}),)), "step 'a' runs the kind 'tsk'"),
        (r.Description("x", (task,), (r.Step("a", "task"),)), "missing: step"),
        (r.Description("x", (task,), (r.Step("a", "task", {"step": "a"}), r.Step("a", "task", {"step": "b"}))),
         "steps ['a']"),
        (r.Description("x", (r.Kind("k", ("true",), override="gpu"),), (r.Step("a", "k"),)),
         "the argo override 'gpu'"),
        (r.Description("x", (task,), (r.Step("a", "task", {"step": "a"}),
                                      r.Step("b", "task", {"step": "b"}, depends="a.Succeeded || (c.Failed && !a)"))),
         "step 'b' depends on 'c', which is not a step"),
    ]
    for bad, expected in cases:
        with pytest.raises(ConfigurationError, match=expected.replace("[", r"\[").replace("]", r"\]")):
            r.render(bad, config)
    with pytest.raises(ConfigurationError, match="the S3 catalog needs 'AWS_ACCESS_KEY_ID': set pipeline-executor"):
        r.secret_env(["AWS_ACCESS_KEY_ID"], config, "the S3 catalog")
    with pytest.raises(ConfigurationError, match="the catalog folder must be shared .* 'pvc_claim_name'"):
        r.pvc_mounts({"catalog": ".catalog"}, config)
