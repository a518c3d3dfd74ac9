"""A workflow rendered by runnable.executors.argo.render, run by the interpreter: the run id
parameter, Secret references, the PVC, a fan-out over an output parameter, a failure path and the
exit handler work together as rendered. The steps are ``python -c`` programs standing in for
``runnable execute-step``, which the pipelines bring."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from runnable.executors.argo import render as r
from runnable.executors.argo.config import ArgoConfig
from tests.executors.argo import interpreter, schema

# Each step appends "step run-id item secret-length" to the shared log on the claim; 'fail' exits 1.
STEP = ("import os, sys, pathlib; step, run_id, item = sys.argv[1:4]; "
        "pathlib.Path('/data/log').open('a').write(f'{step} {run_id} {item} {len(os.environ[\"DB_PASSWORD\"])}\\n'); "
        "pathlib.Path('/tmp/out').write_text('[\"a\", \"b\", \"c\"]' if step == 'list' else item); "
        "sys.exit(1 if item == 'fail' else 0)")


def test_rendered_workflow_runs(tmp_path: Path) -> None:
    config = ArgoConfig(image="proj:1", pvc_claim_name="claim", secret_refs={"DB_PASSWORD": {"name": "db",
                                                                                          "key": "pw"}},
                        retry={"limit": 1})
    argv = ("python", "-c", STEP.replace("/data/", "/app/.shared/"), "{{inputs.parameters.step}}",
            r.RUN_ID, "{{inputs.parameters.item}}")
    kind = r.Kind("step", argv, inputs=("step", "item"), outputs=(r.Output("out", "/tmp/out"),))
    description = r.Description(
        "demo", (kind,),
        (r.Step("list", "step", {"step": "list", "item": "-"}),
         r.Step("branch", "step", {"step": "branch", "item": "{{item}}"}, depends="list",
                with_param="{{tasks.list.outputs.parameters.out}}"),
         r.Step("collect", "step", {"step": "collect", "item": "{{tasks.branch.outputs.parameters.out}}"},
                depends="branch"),
         r.Step("broken", "step", {"step": "broken", "item": "fail"}, depends="collect"),
         r.Step("recover", "step", {"step": "recover", "item": "-"}, depends="broken.Failed")),
        on_exit=r.Step("exit", "step", {"step": "exit", "item": "{{workflow.status}}"}),
        secrets=r.secret_env(["DB_PASSWORD"], config, "the steps"),
        mounts=r.pvc_mounts({"shared": ".shared"}, config),
    )
    data = r.to_dict(r.render(description, config))
    if schema.available():  # the schema's own tests (test_render.py) say when it is missing
        schema.validate(data)
    work, claim, scratch = tmp_path / "app", tmp_path / "claim", tmp_path / "scratch"
    for folder in (work, claim, scratch):
        folder.mkdir()
    result = interpreter.run(data, {"run_id": "r-42"}, env={"PATH": os.environ["PATH"]}, paths={"/app": work},
                             claims={"claim": claim}, secrets={("db", "pw"): "hunter2"},
                             commands={"python": [sys.executable]}, scratch=scratch)
    assert result.phase == "Succeeded", {n.name: (n.phase, n.message, n.log) for n in result.nodes.values()}
    assert result.phases() == {
        "list": "Succeeded", "branch(0:a)": "Succeeded", "branch(1:b)": "Succeeded", "branch(2:c)": "Succeeded",
        "branch": "Succeeded", "collect": "Succeeded", "broken": "Failed", "recover": "Succeeded",
        "main": "Succeeded", "onExit.exit": "Succeeded", "onExit": "Succeeded"}
    assert result.nodes["broken"].attempts == [1, 1]  # the configured retry: one more try
    lines = (claim / "shared" / "log").read_text().splitlines()
    assert {line.split()[1] for line in lines} == {"r-42"}  # every step saw the run id given with -p
    assert {line.rsplit(" ", 1)[1] for line in lines} == {"7"}  # and the secret, from its secretKeyRef
    assert json.loads(next(line.split(" ", 2)[2].rsplit(" ", 1)[0] for line in lines
                           if line.startswith("collect"))) == ["a", "b", "c"]
    assert lines[-1].split()[:3] == ["exit", "r-42", "Succeeded"]


def test_storage_from_the_configuration(tmp_path: Path) -> None:
    """An S3 catalog's credentials come from the Secret (optional keys), a file-system run-log store
    is a sub-folder of the PVC; a pod sees exactly the keys the Secret holds."""
    from runnable.config.loading import parse

    configuration = parse({"catalog": {"type": "s3", "config": {"bucket": "b", "prefix": "cat",
                                                                "endpoint_url": "http://127.0.0.1:9"}},
                           "run-log-store": {"type": "file-system", "config": {"log_folder": "runs"}}})
    config = ArgoConfig(image="p:1", pvc_claim_name="claim", secret_name="aws",
                        secret_refs={"AWS_REGION": {"name": "region", "key": "name"}})
    secrets, mounts = r.storage(configuration, config)
    assert mounts == (r.Mount("/app/runs", "run_log_store"),)
    assert r.SecretRef("AWS_ACCESS_KEY_ID", "aws", "AWS_ACCESS_KEY_ID", optional=True) in secrets
    assert r.SecretRef("AWS_REGION", "region", "name") in secrets  # named in secret_refs: required
    script = "import os, pathlib; pathlib.Path('/app/runs/env').write_text(' '.join(sorted(k for k in os.environ if k.startswith('AWS_'))))"
    description = r.Description("s", (r.Kind("k", ("python", "-c", script)),), (r.Step("only", "k"),),
                                secrets=secrets, mounts=mounts)
    data = r.to_dict(r.render(description, config))
    if schema.available():
        schema.validate(data)
    (container,) = [t["container"] for t in data["spec"]["templates"] if t["name"] == "k"]
    assert {"name": "AWS_SESSION_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "aws", "key": "AWS_SESSION_TOKEN", "optional": True}}} in container["env"]
    claim, scratch = tmp_path / "claim", tmp_path / "scratch"
    for folder in (claim, scratch):
        folder.mkdir()
    result = interpreter.run(data, env={"PATH": os.environ["PATH"]}, claims={"claim": claim},
                             paths={"/app": tmp_path}, commands={"python": [sys.executable]}, scratch=scratch,
                             secrets={("aws", "AWS_ACCESS_KEY_ID"): "id", ("aws", "AWS_SECRET_ACCESS_KEY"): "key",
                                      ("region", "name"): "eu-west-1"})
    assert result.phase == "Succeeded", result.nodes["only"].log
    assert (claim / "run_log_store" / "env").read_text() == "AWS_ACCESS_KEY_ID AWS_REGION AWS_SECRET_ACCESS_KEY"
    # Without the required key, the pod cannot start.
    result = interpreter.run(data, env={"PATH": os.environ["PATH"]}, claims={"claim": claim},
                             paths={"/app": tmp_path}, commands={"python": [sys.executable]}, scratch=scratch)
    assert result.phase == "Error" and "secret 'region' has no key 'name'" in result.nodes["only"].message
