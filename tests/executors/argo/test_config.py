"""The argo pipeline executor's settings: upstream's names work, and each malformed key is one line naming it.

Read from a real configuration file (``config.load``), as the executor will read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runnable.errors import ConfigurationError
from runnable.executors.argo import config

SECRET = "hunter2-do-not-show"


def load(folder: Path, settings: dict[str, Any]) -> config.ArgoConfig:
    path = folder / "argo.yaml"
    path.write_text(yaml.safe_dump({"pipeline-executor": {"type": "argo", "config": settings}}))
    return config.load(str(path))


FULL = {
    "image": "registry.example.com/proj:1.4", "namespace": "ml", "service_account": "argo-runner",
    "resources": {"requests": {"cpu": 1, "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    "node_selector": {"pool": "cpu", "zone": 3}, "tolerations": [{"key": "spot", "operator": "Exists",
                                                                "effect": "NoSchedule"}],
    "parallelism": 5, "retry": {"limit": 2, "policy": "OnFailure",
                                "backoff": {"duration": "30s", "factor": 2, "max_duration": "10m"}},
    "active_deadline_seconds": 86400, "max_step_duration_in_seconds": 7200, "cron_schedule": "0 3 * * *",
    "pvc_claim_name": "runnable-data", "secret_name": "proj-secrets",
    "secret_refs": {"DB_PASSWORD": {"name": "db", "key": "password"}},
    "overrides": {"gpu": {"image": "proj-gpu:1.4", "resources": {"limits": {"nvidia.com/gpu": 1}},
                          "node_selector": {"pool": "gpu"}, "retry": {"limit": 0}}},
}


def test_full_configuration(tmp_path: Path) -> None:
    c = load(tmp_path, FULL)
    assert (c.image, c.namespace, c.service_account, c.parallelism) == (FULL["image"], "ml", "argo-runner", 5)
    assert c.resources == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
    assert c.node_selector == {"pool": "cpu", "zone": "3"}
    assert c.retry == config.Retry(2, "OnFailure", "30s", 2, "10m")
    assert (c.active_deadline_seconds, c.max_step_duration_in_seconds, c.cron_schedule) == (86400, 7200, "0 3 * * *")
    assert c.secret_refs == {"DB_PASSWORD": ("db", "password")}
    gpu = c.override("gpu")
    assert gpu.image == "proj-gpu:1.4" and gpu.resources == {"limits": {"nvidia.com/gpu": "1"}}
    assert gpu.retry == config.Retry(0) and gpu.parallelism is None
    assert c.override(None) == config.Override()


def test_upstream_names(tmp_path: Path) -> None:
    """A configuration written for upstream runnable's argo executor keeps its meaning."""
    c = load(tmp_path, {
        "image": "p:1", "service_account_name": "sa", "max_workflow_duration_in_seconds": 3600,
        "retry_strategy": {"limit": 3}, "output_file": "wf.yaml",
        "secrets_from_k8s": [{"environment_variable": "DB", "secret_name": "database", "secret_key": "url"}],
        "overrides": {"big": {"resources": {"requests": {"memory": "8Gi"}}, "parallelism": 1}},
    })
    assert (c.service_account, c.active_deadline_seconds, c.retry, c.output_file) == ("sa", 3600, config.Retry(3),
                                                                                      "wf.yaml")
    assert c.secret_refs == {"DB": ("database", "url")}
    assert c.override("big").parallelism == 1


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"image": "p", "paralelism": 3}, "unknown key 'paralelism' in section 'pipeline-executor' (type 'argo'); "
                                          "did you mean 'parallelism'?"),
        ({"image": "p", "parallelism": "3"}, "'parallelism' in section 'pipeline-executor' of '{file}' must be a whole "
                                             "number, not a string (1 character); write it without quotes"),
        ({"image": "p", "parallelism": 0}, "pipeline-executor (argo): 'parallelism' must be 1 or more (in '{file}')"),
        ({"image": "p", "active_deadline_seconds": 0}, "'active_deadline_seconds' must be 1 or more"),
        ({"image": "p", "max_workflow_duration_in_seconds": 0}, "'max_workflow_duration_in_seconds' must be 1 or more"),
        ({"image": "p", "service_account": ""}, "'service_account' is empty"),
        ({}, "section 'pipeline-executor' (type 'argo') needs the key 'image'"),
        ({"image": " "}, "pipeline-executor (argo): 'image' is empty"),
        ({"image": "p", "namespace": "ML"}, "pipeline-executor (argo): 'namespace' is not a Kubernetes namespace"),
        ({"image": "p", "retry": {"limit": -1}}, "pipeline-executor (argo): 'retry.limit' must be 0 or more"),
        ({"image": "p", "retry": {"limt": 1}}, "pipeline-executor (argo): 'retry' has the unknown key 'limt'"),
        ({"image": "p", "retry": {"limit": 1, "backoff": {"duration": "30x"}}},
         "pipeline-executor (argo): 'retry.backoff.duration' must be seconds or a duration"),
        ({"image": "p", "retry": {"limit": 1, "policy": "Sometimes"}},
         "pipeline-executor (argo): 'retry.policy' must be one of Always, OnFailure"),
        ({"image": "p", "cron_schedule": "0 3 * *"},
         "pipeline-executor (argo): 'cron_schedule' is not a cron expression: it has 4 field(s)"),
        ({"image": "p", "resources": {"requests": {"cpu": "lots"}}},
         "pipeline-executor (argo): 'resources' requests['cpu'] is not a Kubernetes quantity"),
        ({"image": "p", "resources": {"limit": {}}}, "'resources' has the key 'limit'; it takes 'requests' and 'limits'"),
        ({"image": "p", "tolerations": [{"key": "a", "operator": "Maybe"}]},
         "pipeline-executor (argo): 'tolerations[0]' 'operator' must be one of Exists, Equal"),
        ({"image": "p", "tolerations": [{"ky": "a"}]}, "'tolerations[0]' has the unknown key 'ky'"),
        ({"image": "p", "overrides": {"gpu": {"resource": {}}}},
         "pipeline-executor (argo): overrides['gpu'] has the unknown key 'resource'"),
        ({"image": "p", "overrides": {"gpu": {"parallelism": "x"}}},
         "'parallelism' in overrides['gpu'] of section 'pipeline-executor' must be a whole number"),
        ({"image": "p", "overrides": {"gpu": {"parallelism": 0}}},
         "pipeline-executor (argo): overrides['gpu']: 'parallelism' must be 1 or more"),
        ({"image": "p", "overrides": {"gpu": "big"}}, "overrides['gpu'] in section 'pipeline-executor' of '{file}' must be a mapping, not a string"),
        ({"image": "p", "service_account": "a", "service_account_name": "b"},
         "'service_account' and 'service_account_name' (upstream's name for it) are both given; keep one"),
        ({"image": "p", "secrets_from_k8s": [{"environment_variable": "A", "secret_name": "s"}]},
         "'secrets_from_k8s[0]' must have the keys environment_variable, secret_name and secret_key"),
        ({"image": "p", "secret_refs": {"A": {"name": "s"}}}, "'secret_refs['A']' must be {name: <Secret>, key: <key>}"),
        ({"image": "p", "working_dir": "app"}, "'working_dir' must be an absolute path in the image"),
        ({"image": "p", "name": "My Pipeline"}, "'name' is the prefix of the workflow's name"),
        ({"image": "p", "pvc_claim_name": "Data_1"}, "'pvc_claim_name' is not a Kubernetes object name"),
        ({"image": "p", "image_pull_policy": "Sometimes"}, "'image_pull_policy' in section 'pipeline-executor'"),
    ],
)
def test_malformed_key_is_one_line_naming_it(tmp_path: Path, settings: dict[str, Any], expected: str) -> None:
    # A credential-like value next to the mistake must not reach the message.
    settings = {**settings, "environment": {"TOKEN": SECRET}}
    with pytest.raises(ConfigurationError) as caught:
        load(tmp_path, settings)
    message = str(caught.value)
    assert expected.replace("{file}", str(tmp_path / "argo.yaml")) in message
    assert "\n" not in message and SECRET not in message


def test_section_shape(tmp_path: Path) -> None:
    path = tmp_path / "argo.yaml"
    path.write_text("pipeline-executor: {type: argo, confg: {image: p}}\n")
    with pytest.raises(ConfigurationError, match="unknown key 'confg' in section 'pipeline-executor'"):
        config.load(str(path))
    path.write_text("catalog: {type: file-system}\n")
    with pytest.raises(ConfigurationError, match="has no 'pipeline-executor' section"):
        config.load(str(path))


def test_unknown_override_named_by_a_task(tmp_path: Path) -> None:
    c = load(tmp_path, {"image": "p", "overrides": {"gpu": {"image": "g"}}})
    with pytest.raises(ConfigurationError, match="the argo override 'gpus'.*known overrides: gpu"):
        c.override("gpus")


def test_ready_for_the_configuration_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the pipelines add the 'pipeline-executor' section, registering ArgoConfig is all it takes:
    runnable.config's own Service checks and builds it, with the same one-line messages."""
    from runnable.backends import registry
    from runnable.config.loading import Service

    monkeypatch.setitem(registry.BUILTIN, "pipeline-executor",
                        {"argo": ("runnable.executors.argo.config:ArgoConfig", "argo")})
    service = Service("pipeline-executor", "argo", {"image": "p:1", "service_account_name": "sa"})
    service.validate("'c.yaml'")
    built = service.build()
    assert isinstance(built, config.ArgoConfig) and built.service_account == "sa"
    with pytest.raises(ConfigurationError, match="unknown key 'imag' in section 'pipeline-executor'"):
        Service("pipeline-executor", "argo", {"imag": "p:1"}).validate("'c.yaml'")
    with pytest.raises(ConfigurationError, match=r"^pipeline-executor \(argo\): 'parallelism' must be 1 or more$"):
        Service("pipeline-executor", "argo", {"image": "p", "parallelism": 0}).build()
