"""The test-only Argo interpreter (interpreter.py) on small hand-written workflows whose containers
are real ``sh -c`` / ``python -c`` processes: fan-out, failure paths with ``depends``, retries,
``when``, the exit handler, parameters and secrets. Each workflow is first checked against Argo's
schema when it is here (schema.py), so the interpreter is shown what Argo would accept."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.executors.argo import interpreter, schema


def container(name: str, script: str, inputs: tuple[str, ...] = (), outputs: dict[str, str] | None = None,
              **extra: Any) -> dict[str, Any]:
    """A container template running ``sh -c SCRIPT``; inputs reach it as $1, $2, ..."""
    template: dict[str, Any] = {
        "name": name,
        "container": {"name": "main", "image": "alpine:3", "command": ["sh", "-c", script, name,
                                                        *[f"{{{{inputs.parameters.{i}}}}}" for i in inputs]],
                      "workingDir": "/work", **extra.pop("container", {})},
        **extra,
    }
    if inputs:
        template["inputs"] = {"parameters": [{"name": i} for i in inputs]}
    if outputs:
        template["outputs"] = {"parameters": [{"name": k, "valueFrom": {"path": v}} for k, v in outputs.items()]}
    return template


def workflow(tasks: list[dict[str, Any]], templates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    data = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "test-"},
            "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "run_id", "value": "{{workflow.name}}"}]},
                     "templates": [{"name": "main", "dag": {"tasks": tasks}}, *templates], **spec}}
    if schema.available():  # the schema's own tests (test_render.py) say when it is missing
        schema.validate(data)
    return data


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    made = {name: tmp_path / name for name in ("work", "claim", "scratch")}
    for folder in made.values():
        folder.mkdir()
    return made


def run(data: dict[str, Any], folders: dict[str, Path], **kwargs: Any) -> interpreter.Run:
    return interpreter.run(data, kwargs.pop("parameters", None), env={"PATH": os.environ["PATH"]},
                           paths={"/work": folders["work"]}, claims={"data": folders["claim"]},
                           commands={"python": [sys.executable]}, scratch=folders["scratch"], **kwargs)


def test_parameters_outputs_and_run_id(folders: dict[str, Path]) -> None:
    data = workflow(
        [{"name": "produce", "template": "produce"},
         {"name": "consume", "template": "consume", "depends": "produce",
          "arguments": {"parameters": [{"name": "got", "value": "{{tasks.produce.outputs.parameters.value}}"},
                                       {"name": "run", "value": "{{workflow.parameters.run_id}}"}]}}],
        [container("produce", "printf 'forty two\\n' > /tmp/value", outputs={"value": "/tmp/value"}),
         container("consume", 'echo "$1|$2" > consumed.txt', inputs=("got", "run"))],
    )
    result = run(data, folders, parameters={"run_id": "run-7"})
    assert result.phases() == {"produce": "Succeeded", "consume": "Succeeded", "main": "Succeeded"}
    assert result.phase == "Succeeded"
    assert result.nodes["produce"].outputs == {"value": "forty two"}
    assert (folders["work"] / "consumed.txt").read_text() == "forty two|run-7\n"
    # Without -p the run id is the workflow's generated name.
    assert run(data, folders).phase == "Succeeded"
    assert (folders["work"] / "consumed.txt").read_text().startswith("forty two|test-")


def test_fan_out_over_a_previous_output_and_fan_in(folders: dict[str, Path]) -> None:
    data = workflow(
        [{"name": "list", "template": "list"},
         {"name": "branch", "template": "branch", "depends": "list",
          "withParam": "{{tasks.list.outputs.parameters.items}}",
          "arguments": {"parameters": [{"name": "item", "value": "{{item}}"}]}},
         {"name": "collect", "template": "collect", "depends": "branch",
          "arguments": {"parameters": [{"name": "all", "value": "{{tasks.branch.outputs.parameters.square}}"}]}}],
        [container("list", "echo '[1, 2, 3, 4]' > /tmp/items", outputs={"items": "/tmp/items"}),
         container("branch", 'sleep 0.3; echo $(($1 * $1)) > /tmp/sq; echo "$1" > "/data/branch-$1"',
                   inputs=("item",), outputs={"square": "/tmp/sq"},
                   container={"volumeMounts": [{"name": "data", "mountPath": "/data", "subPath": "shared"}]}),
         container("collect", 'echo "$1" > collected.txt', inputs=("all",))],
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    )
    result = run(data, folders)
    assert result.phase == "Succeeded"
    assert sorted(n for n in result.nodes if n.startswith("branch(")) == ["branch(0:1)", "branch(1:2)", "branch(2:3)",
                                                                    "branch(3:4)"]
    assert result.nodes["branch"].phase == "Succeeded"
    # Each branch had its own /tmp, and all of them shared the claim.
    assert sorted(p.name for p in (folders["claim"] / "shared").iterdir()) == [f"branch-{i}" for i in range(1, 5)]
    assert json.loads((folders["work"] / "collected.txt").read_text()) == [1, 4, 9, 16]


def test_fan_out_runs_branches_concurrently_within_parallelism(folders: dict[str, Path]) -> None:
    script = 'date +%s.%N > "/data/start-$1"; sleep 1; date +%s.%N > "/data/end-$1"'  # 1 s: overlaps even on a loaded machine
    mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    data = workflow(
        [{"name": "branch", "template": "branch", "withParam": '["a", "b", "c", "d"]',
          "arguments": {"parameters": [{"name": "item", "value": "{{item}}"}]}}],
        [container("branch", script, inputs=("item",), container=mount)],
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}], parallelism=2,
    )
    assert run(data, folders).phase == "Succeeded"
    spans = [(float((folders["claim"] / f"start-{i}").read_text()), float((folders["claim"] / f"end-{i}").read_text()))
             for i in "abcd"]
    most = max(sum(1 for s, e in spans if s <= moment < e) for moment, _ in spans)
    assert most == 2  # two at a time: concurrent, and never more than spec.parallelism


def test_empty_fan_out_is_skipped_and_its_dependants_run(folders: dict[str, Path]) -> None:
    data = workflow(
        [{"name": "list", "template": "list"},
         {"name": "branch", "template": "ok", "depends": "list", "withParam": "{{tasks.list.outputs.parameters.items}}"},
         {"name": "after", "template": "ok", "depends": "branch"}],
        [container("list", "echo '[]' > /tmp/items", outputs={"items": "/tmp/items"}), container("ok", "true")],
    )
    result = run(data, folders)
    assert result.phases() == {"list": "Succeeded", "branch": "Skipped", "after": "Succeeded", "main": "Succeeded"}


def test_failure_paths_with_depends(folders: dict[str, Path]) -> None:
    tasks = [{"name": "train", "template": "fail"},
             {"name": "on-failure", "template": "ok", "depends": "train.Failed"},
             {"name": "report", "template": "ok", "depends": "train"},
             {"name": "either", "template": "ok", "depends": "(train.Succeeded || on-failure.Succeeded) && !report.Failed"},
             {"name": "never", "template": "ok", "depends": "train.Succeeded && on-failure.Succeeded"}]
    templates = [container("fail", "echo boom >&2; exit 3"), container("ok", "true")]
    result = run(workflow(tasks, templates), folders)
    assert result.phases() == {"train": "Failed", "on-failure": "Succeeded", "report": "Omitted",
                               "either": "Succeeded", "never": "Omitted", "main": "Failed"}
    assert result.nodes["train"].message == "Error (exit code 3)" and result.nodes["train"].attempts == [3]
    assert "boom" in result.nodes["train"].log
    # 'report' and 'never' are leaves whose path ends at the failed 'train': the workflow fails, as in Argo.
    assert result.phase == "Failed"
    # With only the handler as a leaf, the failure is handled and the workflow succeeds.
    handled = run(workflow(tasks[:2], templates), folders)
    assert handled.phases() == {"train": "Failed", "on-failure": "Succeeded", "main": "Succeeded"}
    assert handled.phase == "Succeeded"


def test_fail_fast_stops_new_tasks(folders: dict[str, Path]) -> None:
    tasks = [{"name": "a", "template": "fail"}, {"name": "slow", "template": "slow"},
             {"name": "after-slow", "template": "ok", "depends": "slow"}]
    templates = [container("fail", "exit 1"), container("slow", "sleep 0.5"), container("ok", "true")]
    result = run(workflow(tasks, templates), folders)
    assert result.phase == "Failed"
    assert result.phases() == {"a": "Failed", "slow": "Succeeded", "main": "Failed"}  # after-slow never started


def test_retries(folders: dict[str, Path]) -> None:
    # Fails on its first two tries (a counter on the claim), then succeeds.
    flaky = container("flaky", 'n=$(cat /data/n 2>/dev/null || echo 0); echo $((n + 1)) > /data/n; [ "$n" -ge 2 ]',
                      container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                      retryStrategy={"limit": "2"})
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    result = run(workflow([{"name": "step", "template": "flaky"}], [flaky], volumes=volumes), folders)
    assert result.phase == "Succeeded" and result.nodes["step"].attempts == [1, 1, 0]
    (folders["claim"] / "n").unlink()
    flaky["retryStrategy"] = {"limit": "1"}
    result = run(workflow([{"name": "step", "template": "flaky"}], [flaky], volumes=volumes), folders)
    assert result.phase == "Failed" and result.nodes["step"].attempts == [1, 1]
    # OnError retries errors only: a failing exit code is not retried.
    (folders["claim"] / "n").unlink()
    flaky["retryStrategy"] = {"limit": "3", "retryPolicy": "OnError"}
    result = run(workflow([{"name": "step", "template": "flaky"}], [flaky], volumes=volumes), folders)
    assert result.phase == "Failed" and result.nodes["step"].attempts == [1]


def test_when(folders: dict[str, Path]) -> None:
    tasks = [{"name": "choose", "template": "choose"},
             {"name": "heads", "template": "ok", "depends": "choose",
              "when": "{{tasks.choose.outputs.parameters.side}} == heads"},
             {"name": "tails", "template": "ok", "depends": "choose",
              "when": "'{{tasks.choose.outputs.parameters.side}}' == 'tails'"},
             {"name": "big", "template": "ok", "when": "{{workflow.parameters.size}} > 10 && true"},
             {"name": "after-tails", "template": "ok", "depends": "tails"}]
    templates = [container("choose", "echo heads > /tmp/side", outputs={"side": "/tmp/side"}), container("ok", "true")]
    data = workflow(tasks, templates)
    data["spec"]["arguments"]["parameters"].append({"name": "size", "value": "3"})
    result = run(data, folders)
    assert result.phases() == {"choose": "Succeeded", "heads": "Succeeded", "tails": "Skipped", "big": "Skipped",
                               "after-tails": "Succeeded", "main": "Succeeded"}
    assert run(data, folders, parameters={"size": "12"}).nodes["big"].phase == "Succeeded"


def test_exit_handler(folders: dict[str, Path]) -> None:
    notify = container("notify", 'echo "$1 $2" > exit.txt', inputs=("status", "failures"))
    exit_dag = {"name": "exit-handler", "dag": {"tasks": [
        {"name": "notify", "template": "notify", "arguments": {"parameters": [
            {"name": "status", "value": "{{workflow.status}}"}, {"name": "failures", "value": "{{workflow.failures}}"}]}}]}}
    failing = workflow([{"name": "work", "template": "fail"}], [container("fail", "exit 2"), notify, exit_dag],
                       onExit="exit-handler")
    result = run(failing, folders)
    assert result.phase == "Failed" and result.nodes["onExit.notify"].phase == "Succeeded"
    status, failures = (folders["work"] / "exit.txt").read_text().split(" ", 1)
    assert status == "Failed"
    assert [f["displayName"] for f in json.loads(failures)] == ["work"]
    # A failing exit handler fails a workflow that had succeeded.
    broken = workflow([{"name": "work", "template": "ok"}],
                      [container("ok", "true"), container("notify", "exit 1", inputs=("status", "failures")), exit_dag],
                      onExit="exit-handler")
    result = run(broken, folders)
    assert result.nodes["work"].phase == "Succeeded" and result.phase == "Failed"


def test_secrets_come_only_from_secret_refs(folders: dict[str, Path]) -> None:
    use = container("use", 'test "$DB_PASSWORD" = hunter2 && test "$MODE" = prod',
                    container={"env": [{"name": "MODE", "value": "prod"},
                                       {"name": "DB_PASSWORD",
                                        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]})
    data = workflow([{"name": "use", "template": "use"}], [use])
    assert run(data, folders, secrets={("db", "password"): "hunter2"}).phase == "Succeeded"
    missing = run(data, folders)
    assert missing.phase == "Error" and "secret 'db' has no key 'password'" in missing.nodes["use"].message


def test_python_command_and_deadline(folders: dict[str, Path]) -> None:
    code = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    py = {"name": "py", "container": {"name": "main", "image": "python:3.12", "command": ["python", "-c", code],
                                      "args": ["/tmp/out", "{{workflow.parameters.run_id}}"], "workingDir": "/work"},
          "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]}}
    slow = container("slow", "sleep 5", activeDeadlineSeconds="1")
    result = run(workflow([{"name": "py", "template": "py"}, {"name": "slow", "template": "slow"}], [py, slow]),
                 folders, parameters={"run_id": "r-1"})
    assert result.nodes["py"].outputs == {"out": "r-1"}
    assert result.nodes["slow"].phase == "Failed" and "deadline" in result.nodes["slow"].message


def test_unresolved_reference_is_an_error(folders: dict[str, Path]) -> None:
    data = workflow([{"name": "a", "template": "ok"},
                     {"name": "b", "template": "echo", "arguments": {"parameters": [
                         {"name": "x", "value": "{{tasks.a.outputs.parameters.nothing}}"}]}}],
                    [container("ok", "true"), container("echo", "true", inputs=("x",))])
    result = run(data, folders)
    assert result.nodes["b"].phase == "Error" and "not an ancestor" in result.nodes["b"].message
    not_json = workflow([{"name": "a", "template": "ok", "withParam": "[1, 2"}], [container("ok", "true")])
    assert run(not_json, folders).nodes["a"].phase == "Error"


def test_expressions() -> None:
    from tests.executors.argo.expressions import evaluate

    word = {"true": True, "false": False}.get
    assert evaluate("heads == heads", lambda n: word(n, n)) is True
    assert evaluate("'a b' != 'a b' || !(1 < 2)", lambda n: n) is False
    assert evaluate("abc =~ '^a'", lambda n: n) is True
    assert evaluate("heads == heads && !(1 > 2)", lambda n: n) is True
    assert evaluate("10 > 9", lambda n: n) is True  # numbers, not text ('10' < '9')
    with pytest.raises(ValueError):
        evaluate("a == (b", lambda n: n)


def test_fan_out_over_a_nested_dag(folders: dict[str, Path]) -> None:
    """A Map's branch is a DAG template run once per item: inputs reach its tasks, a failing item
    fails the branch, the group and the workflow, and the other items still run."""
    branch = {"name": "branch", "inputs": {"parameters": [{"name": "item"}]}, "dag": {"tasks": [
        {"name": "first", "template": "record", "arguments": {"parameters": [
            {"name": "what", "value": "first-{{inputs.parameters.item}}"}]}},
        {"name": "second", "template": "record", "depends": "first", "arguments": {"parameters": [
            {"name": "what", "value": "second-{{inputs.parameters.item}}"}]}}]}}
    record = container("record", 'echo "$1" > "/data/$1"; [ "$1" != second-bad ]', inputs=("what",),
                       container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]})
    data = workflow([{"name": "map", "template": "branch", "withParam": '["x", "bad", "y"]',
                      "arguments": {"parameters": [{"name": "item", "value": "{{item}}"}]}}],
                    [branch, record], volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
    result = run(data, folders)
    assert result.phases() == {
        "map(0:x).first": "Succeeded", "map(0:x).second": "Succeeded", "map(0:x)": "Succeeded",
        "map(1:bad).first": "Succeeded", "map(1:bad).second": "Failed", "map(1:bad)": "Failed",
        "map(2:y).first": "Succeeded", "map(2:y).second": "Succeeded", "map(2:y)": "Succeeded",
        "map": "Failed", "main": "Failed"}
    assert result.phase == "Failed"
    assert sorted(p.name for p in folders["claim"].iterdir()) == sorted(
        f"{step}-{item}" for step in ("first", "second") for item in ("x", "bad", "y"))


@pytest.mark.parametrize(("change", "named"), [
    (lambda t: t[0].update(continueOn={"failed": True}), "task 'a' uses continueOn"),
    (lambda t: t[1].update(script={"image": "x", "source": "x"}), "template 'ok' uses script"),
    (lambda t: t[2].update(target="a"), "DAG outputs or target"),
])
def test_unsupported_features_are_refused(folders: dict[str, Path], change: Any, named: str) -> None:
    data = workflow([{"name": "a", "template": "ok"}], [container("ok", "true")])
    task, template, dag = data["spec"]["templates"][0]["dag"]["tasks"][0], data["spec"]["templates"][1], \
        data["spec"]["templates"][0]["dag"]
    change([task, template, dag])
    with pytest.raises(interpreter.Unsupported, match=named):
        run(data, folders)


def test_enhanced_depends_as_argo_documents_it(folders: dict[str, Path]) -> None:
    """The cases of Argo's 'Enhanced Depends Logic' page: a bare name accepts Succeeded or Skipped,
    '||' runs when one side holds, an Omitted task's dependants can still run."""
    tasks = [{"name": "a", "template": "ok"},
             {"name": "b", "template": "ok", "depends": "a"},
             {"name": "c", "template": "fail", "depends": "a"},
             {"name": "either-result", "template": "ok", "depends": "a && (c.Succeeded || c.Failed)"},
             {"name": "b-or-c", "template": "ok", "depends": "b || c"},
             {"name": "b-and-c", "template": "ok", "depends": "b && c"},
             {"name": "after-omitted", "template": "ok", "depends": "b-or-c.Succeeded || b-and-c"},
             {"name": "skipped", "template": "ok", "when": "1 == 2"},
             {"name": "after-skipped", "template": "ok", "depends": "skipped"}]
    templates = [container("ok", "true"), container("fail", "exit 1")]
    result = run(workflow(tasks, templates), folders)
    assert result.phases() == {
        "a": "Succeeded", "b": "Succeeded", "c": "Failed", "either-result": "Succeeded", "b-or-c": "Succeeded",
        "b-and-c": "Omitted", "after-omitted": "Succeeded", "skipped": "Skipped", "after-skipped": "Succeeded",
        "main": "Succeeded"}
    assert result.phase == "Succeeded"  # every leaf succeeded; the failure was handled on the way


def test_fan_out_results_in_depends(folders: dict[str, Path]) -> None:
    """.AnySucceeded and .AllFailed of a fan-out; with failFast off every task runs, and the omitted
    leaf after the failed group fails the DAG."""
    tasks = [{"name": "fan", "template": "odd", "withParam": "[1, 2, 3]",
              "arguments": {"parameters": [{"name": "n", "value": "{{item}}"}]}},
             {"name": "all-failed", "template": "ok", "depends": "fan.AllFailed"},
             {"name": "any-succeeded", "template": "ok", "depends": "fan.AnySucceeded"}]
    data = workflow(tasks, [container("ok", "true"), container("odd", "[ $(($1 % 2)) -eq 0 ]", inputs=("n",))])
    data["spec"]["templates"][0]["dag"]["failFast"] = False
    result = run(data, folders)
    assert {k: v for k, v in result.phases().items() if "(" not in k} == {
        "fan": "Failed", "all-failed": "Omitted", "any-succeeded": "Succeeded", "main": "Failed"}
    assert result.nodes["fan(1:2)"].phase == "Succeeded" and result.nodes["fan(0:1)"].phase == "Failed"
