"""A test-only stand-in for Argo's workflow controller: walks a rendered Workflow and runs each pod's
command as a real local process.

No cluster and no image: each container's ``command + args`` runs in this environment, with the
container's environment variables (``secretKeyRef`` ones looked up in ``secrets``; a missing
``optional`` key leaves the variable unset, any other is an Error), so what is
checked is what the workflow asks Argo to do, not what Kubernetes does with an image. The semantics
follow Argo's controller (workflow/controller/dag.go, steps.go, operator.go) for what runnable emits:

* DAG tasks with ``dependencies`` (same as ``depends: "a && b"``) and ``depends`` over ``.Succeeded``,
  ``.Failed``, ``.Errored``, ``.Skipped``, ``.Omitted``, ``.AnySucceeded``, ``.AllFailed`` with ``&&``,
  ``||``, ``!`` and parentheses; a bare name means ``(a.Succeeded || a.Skipped || a.Daemoned)``; a
  task whose ``depends`` is false is Omitted;
* ``withParam`` fan-out over a JSON list (``{{item}}``, ``{{item.key}}``; an empty list: Skipped), the
  group Failed if any child failed, its outputs aggregated as JSON lists for later tasks;
* ``when`` evaluated as govaluate does after substitution (bare words are strings): false -> Skipped;
* ``{{workflow.parameters.X}}`` (``-p`` values over the defaults), ``{{workflow.name}}``,
  ``{{inputs.parameters.X}}``, ``{{tasks.T.outputs.parameters.P}}`` (T must be an ancestor), and in
  the exit handler ``{{workflow.status}}`` and ``{{workflow.failures}}``; an unresolved one is Error;
* output parameters read from ``valueFrom.path`` (or ``valueFrom.default``) when the pod ends;
* ``retryStrategy`` limit and retryPolicy (OnFailure by default, OnError, Always), without the
  backoff's waiting; a template's ``activeDeadlineSeconds`` as the process's time limit;
* a DAG's phase from its target (leaf) tasks, a skipped or omitted one taking the phase of the last
  completed task on its path (Failed preferred), failFast stopping new tasks; ``spec.onExit`` run
  after the entrypoint, and a failed exit handler failing a workflow that had succeeded;
* ``parallelism`` of the workflow (pods at once) and of a DAG template (tasks at once).

Files: each pod gets a private folder standing for its ``/tmp``; ``paths`` maps other container
paths (the image's working folder) to host folders, and each ``volumeMount`` of a PVC maps to
``claims[claimName] / subPath``. Mapped container paths in arguments (also words of a ``sh -c``
script) and environment values are rewritten to the host folder (the longest prefix wins); so are
``workingDir`` and ``valueFrom.path``. Anything else (steps templates, artifacts, ``dag.target``, ``continueOn``, hooks,
expressions ``{{=...}}``) is refused (``Unsupported``), never silently skipped; fields that only
say where a pod runs (node selector, service account, the workflow's deadline, ...) are ignored.
"""

from __future__ import annotations

import json
import re
import secrets as _random
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.executors.argo.expressions import evaluate, tokenize

SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED = "Succeeded", "Failed", "Error", "Skipped", "Omitted"
_REFERENCE = re.compile(r"{{\s*([^{}]*?)\s*}}")


class Unsupported(Exception):
    """The workflow uses a feature this interpreter does not implement."""


# What the interpreter reads, or may ignore because it changes where a pod runs, not what the
# workflow does. Anything else is refused (Unsupported), never silently skipped.
SCHEDULING = {"serviceAccountName", "nodeSelector", "tolerations", "affinity", "priorityClassName", "schedulerName",
              "securityContext", "metadata", "podMetadata", "imagePullSecrets", "automountServiceAccountToken",
              "podGC", "ttlStrategy", "workflowMetadata", "priority", "activeDeadlineSeconds"}
SPEC_KEYS = {"entrypoint", "templates", "arguments", "onExit", "parallelism", "volumes"} | SCHEDULING
TEMPLATE_KEYS = {"name", "container", "dag", "inputs", "outputs", "retryStrategy", "parallelism",
                 "failFast"} | SCHEDULING
TASK_KEYS = {"name", "template", "arguments", "depends", "dependencies", "when", "withParam"}


def _check_supported(spec: Mapping[str, Any]) -> None:
    for where, keys, allowed in [("spec", spec, SPEC_KEYS),
                                 *[(f"template {t['name']!r}", t, TEMPLATE_KEYS) for t in spec["templates"]],
                                 *[(f"task {task['name']!r}", task, TASK_KEYS) for t in spec["templates"]
                                   for task in t.get("dag", {}).get("tasks", [])]]:
        unknown = sorted(set(keys) - allowed)
        if unknown:
            raise Unsupported(f"{where} uses {', '.join(unknown)}")
    for template in spec["templates"]:
        if "dag" in template and ("outputs" in template or set(template["dag"]) - {"tasks", "failFast"}):
            raise Unsupported(f"template {template['name']!r}: DAG outputs or target")


@dataclass
class Node:
    """One node of the run: a pod, a DAG, a task group or a task that did not run."""

    name: str
    phase: str
    message: str = ""
    template: str = ""
    attempts: list[int | None] = field(default_factory=list)  # each try's exit code (None: did not start)
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class Run:
    """What ``run`` reports: the workflow's phase and every node by name (``train(1:b)``, ``onExit.cleanup``)."""

    phase: str
    nodes: dict[str, Node]
    name: str

    def phases(self) -> dict[str, str]:
        return {name: node.phase for name, node in self.nodes.items()}


class _Failure(Exception):
    """A node cannot run: it ends in Error with this message."""


def run(workflow: Mapping[str, Any], parameters: Mapping[str, str] | None = None, *, env: Mapping[str, str],
        secrets: Mapping[tuple[str, str], str] | None = None, paths: Mapping[str, Path] | None = None,
        claims: Mapping[str, Path] | None = None, commands: Mapping[str, list[str]] | None = None,
        scratch: Path) -> Run:
    """Run ``workflow`` (a Workflow or CronWorkflow as loaded from YAML) as Argo would, ``-p`` being
    ``parameters``; ``env`` is the environment every process starts from (PATH, ...), ``commands``
    replaces an argv[0] (``{"runnable": [sys.executable, "-m", "runnable"]}``)."""
    return _Controller(workflow, parameters or {}, env, secrets or {}, paths or {}, claims or {}, commands or {},
                       scratch).run()


class _Controller:
    def __init__(self, workflow: Mapping[str, Any], parameters: Mapping[str, str], env: Mapping[str, str],
                 secrets: Mapping[tuple[str, str], str], paths: Mapping[str, Path], claims: Mapping[str, Path],
                 commands: Mapping[str, list[str]], scratch: Path) -> None:
        kind = workflow.get("kind")
        if kind not in ("Workflow", "CronWorkflow"):
            raise Unsupported(f"kind {kind!r}")
        self.spec = workflow["spec"] if kind == "Workflow" else workflow["spec"]["workflowSpec"]
        meta = workflow.get("metadata", {})
        self.name = meta.get("name") or meta.get("generateName", "workflow-") + _random.token_hex(3)[:5]
        _check_supported(self.spec)
        self.templates = {t["name"]: t for t in self.spec["templates"]}
        self.env, self.secrets, self.paths, self.claims = dict(env), secrets, paths, claims
        self.commands, self.scratch = commands, scratch
        self.nodes: dict[str, Node] = {}
        self.problems: list[BaseException] = []
        self.lock = threading.Lock()
        self.pods = threading.BoundedSemaphore(self.spec.get("parallelism") or 1000)
        declared = {p["name"]: p.get("value", p.get("default")) for p in
                    self.spec.get("arguments", {}).get("parameters", [])}
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise ValueError(f"parameters not declared by the workflow: {unknown}")
        self.globals = {"workflow.name": self.name, "workflow.namespace": meta.get("namespace", "default"),
                        "workflow.uid": _random.token_hex(8)}
        for key, value in {**declared, **parameters}.items():
            if value is None:
                raise ValueError(f"workflow parameter {key!r} has no value: give it with -p")
            self.globals[f"workflow.parameters.{key}"] = _substitute(str(value), self.globals)

    # -- the workflow -----------------------------------------------------------------------
    def run(self) -> Run:
        phase = self._execute(self.spec["entrypoint"], "", {})
        if "onExit" in self.spec:
            failures = [{"displayName": n.name, "message": n.message, "templateName": n.template, "phase": n.phase}
                        for n in self.nodes.values() if n.phase in (FAILED, ERROR) and n.attempts]
            exit_scope = {"workflow.status": phase, "workflow.failures": json.dumps(failures)}
            exit_phase = self._execute(self.spec["onExit"], "onExit", {}, exit_scope)
            if phase == SUCCEEDED and exit_phase in (FAILED, ERROR):
                phase = exit_phase
        if self.problems:
            raise self.problems[0]
        return Run(phase, self.nodes, self.name)

    def _record(self, node: Node) -> Node:
        with self.lock:
            self.nodes[node.name] = node
        return node

    def _execute(self, template_name: str, node_name: str, arguments: Mapping[str, str],
                 extra: Mapping[str, str] | None = None) -> str:
        template = self.templates.get(template_name)
        name = node_name or template_name
        if template is None:
            return self._record(Node(name, ERROR, f"template {template_name!r} not found")).phase
        try:
            scope = {**self.globals, **(extra or {}), **self._inputs(template, arguments)}
        except _Failure as exc:
            return self._record(Node(name, ERROR, str(exc), template_name)).phase
        if "dag" in template:
            phase = self._dag(template, node_name, scope)
            self._record(Node(name, phase, template=template_name))
            return phase
        if "container" not in template:
            raise Unsupported(f"template {template_name!r}: only container and dag templates are interpreted")
        return self._with_retries(template, name, scope)

    @staticmethod
    def _inputs(template: Mapping[str, Any], arguments: Mapping[str, str]) -> dict[str, str]:
        values = {}
        for parameter in template.get("inputs", {}).get("parameters", []):
            name = parameter["name"]
            value = arguments.get(name, parameter.get("value", parameter.get("default")))
            if value is None:
                raise _Failure(f"inputs.parameters.{name} was not supplied")
            values[f"inputs.parameters.{name}"] = str(value)
        return values

    # -- pods -------------------------------------------------------------------------------
    def _with_retries(self, template: Mapping[str, Any], name: str, scope: Mapping[str, str]) -> str:
        strategy = template.get("retryStrategy") or {}
        if "expression" in strategy:
            raise Unsupported("retryStrategy.expression")
        limit = int(strategy.get("limit", 0)) if strategy else 0
        policy = strategy.get("retryPolicy", "OnFailure")
        retried = {"OnFailure": {FAILED}, "OnError": {ERROR}, "Always": {FAILED, ERROR},
                   "OnTransientError": set()}[policy]
        node = Node(name, ERROR, template=template["name"])
        for _attempt in range(limit + 1):
            phase, message, code, outputs, log = self._pod(template, scope)
            node.attempts.append(code)
            node.phase, node.message, node.outputs, node.log = phase, message, outputs, node.log + log
            if phase == SUCCEEDED or phase not in retried:
                break
        return self._record(node).phase

    def _pod(self, template: Mapping[str, Any], scope: Mapping[str, str]) -> tuple[str, str, int | None,
                                                                                 dict[str, str], str]:
        container = template["container"]
        root = Path(tempfile.mkdtemp(prefix="pod-", dir=self.scratch))
        (root / "tmp").mkdir()
        mapping = {"/tmp": root / "tmp", **self.paths}
        volumes = {v["name"]: v for v in self.spec.get("volumes", [])}
        try:
            for mount in container.get("volumeMounts", []):
                claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
                host = self.claims[claim] / mount.get("subPath", "")
                host.mkdir(parents=True, exist_ok=True)
                mapping[mount["mountPath"]] = host
            argv = [_host(_substitute(a, scope), mapping) for a in container.get("command", []) + container.get("args", [])]
            env = dict(self.env)
            for item in container.get("env", []):
                if "value" in item:
                    env[item["name"]] = _host(_substitute(item["value"], scope), mapping)
                    continue
                ref = item["valueFrom"]["secretKeyRef"]
                if (ref["name"], ref["key"]) not in self.secrets and ref.get("optional"):
                    continue  # an optional key the Secret lacks: the variable stays unset
                if (ref["name"], ref["key"]) not in self.secrets:
                    raise _Failure(f"secret {ref['name']!r} has no key {ref['key']!r}")
                env[item["name"]] = self.secrets[(ref["name"], ref["key"])]
            cwd = _host(container.get("workingDir", "/tmp"), mapping)
            if cwd == container.get("workingDir"):
                raise _Failure(f"workingDir {cwd!r} is not mapped to a host folder (paths=...)")
        except (_Failure, KeyError) as exc:
            return ERROR, f"CreateContainerConfigError: {exc}", None, {}, ""
        argv = [*self.commands.get(argv[0], argv[:1]), *argv[1:]]
        deadline = template.get("activeDeadlineSeconds")
        with self.pods:
            try:
                done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False,
                                      timeout=float(deadline) if deadline is not None else None)
            except FileNotFoundError as exc:
                return ERROR, f"StartError: {exc}", None, {}, ""
            except subprocess.TimeoutExpired as exc:
                log = str(exc.stdout or "") + str(exc.stderr or "")
                return FAILED, "Pod was active on the node longer than the specified deadline", None, {}, log
        log = done.stdout + done.stderr
        if done.returncode != 0:
            return FAILED, f"Error (exit code {done.returncode})", done.returncode, {}, log
        outputs = {}
        for parameter in template.get("outputs", {}).get("parameters", []):
            source = parameter["valueFrom"]
            path = Path(_host(source["path"], mapping))
            if path.is_file():
                outputs[parameter["name"]] = path.read_text().rstrip("\n")
            elif "default" in source:
                outputs[parameter["name"]] = str(source["default"])
            else:
                return ERROR, f"output parameter {parameter['name']!r}: {source['path']} does not exist", 0, {}, log
        return SUCCEEDED, "", done.returncode, outputs, log

    # -- DAGs -------------------------------------------------------------------------------
    def _dag(self, template: Mapping[str, Any], prefix: str, scope: Mapping[str, str]) -> str:
        dag = template["dag"]
        tasks = {t["name"]: t for t in dag["tasks"]}
        deps = {name: _dependencies(task) for name, task in tasks.items()}
        unknown = {d for ds in deps.values() for d in ds} - set(tasks)
        if unknown:
            return ERROR
        dependants = {d for ds in deps.values() for d in ds}
        targets = [n for n in tasks if n not in dependants]  # dag.target is refused by _check_supported
        fail_fast = dag.get("failFast", True)
        # The DAG's parallelism counts its running pods, a fan-out's each.
        slots = threading.BoundedSemaphore(template.get("parallelism") or 1000)
        state: dict[str, Node] = {}  # each task's node (for a fan-out, its group)
        children: dict[str, list[Node]] = {}
        running: dict[str, threading.Thread] = {}
        done_event = threading.Condition()
        local = dict(scope)

        def finish(task: str, node: Node) -> None:
            with done_event:
                state[task] = node
                done_event.notify_all()

        def start(task: str) -> None:
            try:
                run_task(task)
            except BaseException as exc:  # noqa: BLE001 - reported by run(), never lost in the thread
                self.problems.append(exc)
                finish(task, Node(task, ERROR, f"interpreter: {exc!r}"))

        def run_task(task: str) -> None:
            node_name = f"{prefix}.{task}" if prefix else task
            definition = tasks[task]
            try:
                resolved = self._resolve_task(definition, local, _ancestors(task, deps))
            except (_Failure, ValueError) as exc:  # ValueError: withParam is not JSON
                finish(task, self._record(Node(node_name, ERROR, str(exc), definition.get("template", ""))))
                return
            items = resolved.pop("_items")
            if items is None:
                with slots:
                    finish(task, self._run_one(definition, node_name, resolved, {}))
                return
            if not items:
                finish(task, self._record(Node(node_name, SKIPPED, "Skipped, empty params")))
                return
            group: list[Node] = [Node("", ERROR)] * len(items)

            def one(index: int, item: Any) -> None:
                with slots:
                    group[index] = self._run_one(definition, f"{node_name}({index}:{_item_label(item)})", resolved,
                                                 _item_scope(item))

            threads = [threading.Thread(target=one, args=pair) for pair in enumerate(items)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            children[task] = group
            phase = next((n.phase for n in reversed(group) if n.phase in (FAILED, ERROR)), SUCCEEDED)
            finish(task, self._record(Node(node_name, phase, template=definition.get("template", ""))))

        while True:
            with done_event:
                for task, node in list(state.items()):
                    if task in running:
                        running.pop(task).join()
                        _publish(local, task, node, children.get(task))
                stopped = fail_fast and _dag_phase(targets, deps, state, final=False) in (FAILED, ERROR)
                for task in tasks:
                    if task in state or task in running or stopped:
                        continue
                    if not all(d in state for d in deps[task]):
                        continue
                    if not _depends_true(tasks[task], deps[task], state, children):
                        node_name = f"{prefix}.{task}" if prefix else task
                        state[task] = self._record(Node(node_name, OMITTED, "omitted: depends condition not met"))
                        continue
                    thread = threading.Thread(target=start, args=(task,))
                    running[task] = thread
                    thread.start()
                if not running and (stopped or all(t in state for t in tasks) or not _any_startable(tasks, deps, state)):
                    break
                if running and not any(t in state for t in running):
                    done_event.wait()
        return _dag_phase(targets, deps, state, final=True)

    def _resolve_task(self, task: Mapping[str, Any], scope: Mapping[str, str], ancestors: set[str]) -> dict[str, Any]:
        for reference in _REFERENCE.findall(json.dumps(task)):
            parts = reference.split(".")
            if parts[0] == "tasks" and len(parts) > 1 and parts[1] not in ancestors:
                raise _Failure(f"{{{{{reference}}}}} names task {parts[1]!r}, which is not an ancestor of this task")
        items = None
        if "withParam" in task:
            items = json.loads(_substitute(task["withParam"], scope))
            if not isinstance(items, list):
                raise _Failure("withParam value is not a JSON list")
        elif "withItems" in task or "withSequence" in task:
            raise Unsupported("withItems / withSequence")
        arguments = {p["name"]: p.get("value", "") for p in task.get("arguments", {}).get("parameters", [])}
        return {"_items": items, "arguments": arguments, "when": task.get("when"), "scope": scope}

    def _run_one(self, task: Mapping[str, Any], node_name: str, resolved: Mapping[str, Any],
                 item_scope: Mapping[str, str]) -> Node:
        scope = {**resolved["scope"], **item_scope}
        template = task.get("template", "")
        try:
            arguments = {k: _substitute(v, scope) for k, v in resolved["arguments"].items()}
            if resolved["when"] is not None and not evaluate(_substitute(resolved["when"], scope), _word):
                return self._record(Node(node_name, SKIPPED, f"when '{resolved['when']}' evaluated false", template))
        except (_Failure, ValueError) as exc:
            return self._record(Node(node_name, ERROR, str(exc), template))
        self._execute(template, node_name, arguments)
        return self.nodes[node_name]


# -- scopes and substitution ----------------------------------------------------------------
def _substitute(text: str, scope: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("="):
            raise Unsupported("expression templates {{=...}}")
        if key not in scope:
            raise _Failure(f"failed to resolve {{{{{key}}}}}")
        return scope[key]

    return _REFERENCE.sub(one, text)


def _host(text: str, mapping: Mapping[str, Path]) -> str:
    """``text`` with each mapped container path in it (a whole argument, or a word of a ``sh -c``
    script) replaced by its host folder; the longest prefix wins."""
    prefixes = sorted((p.rstrip("/") for p in mapping), key=len, reverse=True)
    pattern = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(p) for p in prefixes) + r")(?=/|$|[\s\"';:)|&>])")
    hosts = {p.rstrip("/"): str(h) for p, h in mapping.items()}
    return pattern.sub(lambda m: hosts[m.group(1)], text)


def _item_label(item: Any) -> str:
    if isinstance(item, dict):
        return ",".join(f"{k}:{v}" for k, v in sorted(item.items()))
    return item if isinstance(item, str) else json.dumps(item)


def _item_scope(item: Any) -> dict[str, str]:
    scope = {"item": _item_label(item) if not isinstance(item, dict) else json.dumps(item)}
    if isinstance(item, dict):
        scope.update({f"item.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in item.items()})
    return scope


def _publish(scope: dict[str, str], task: str, node: Node, group: list[Node] | None) -> None:
    """Make a finished task's outputs visible to later tasks, aggregated for a fan-out."""
    scope[f"tasks.{task}.status"] = node.phase
    if group is None:
        for key, value in node.outputs.items():
            scope[f"tasks.{task}.outputs.parameters.{key}"] = value
        return
    done = [n for n in group if n.phase == SUCCEEDED]
    scope[f"tasks.{task}.outputs.parameters"] = json.dumps([n.outputs for n in done if n.outputs])
    for key in {k for n in done for k in n.outputs}:
        values = [n.outputs[key] for n in done if key in n.outputs]
        try:
            parsed = [json.loads(v) for v in values]
        except ValueError:
            parsed = values
        scope[f"tasks.{task}.outputs.parameters.{key}"] = json.dumps(parsed)


# -- depends, when and the DAG's phase --------------------------------------------------------
def _dependencies(task: Mapping[str, Any]) -> list[str]:
    if "depends" in task:
        names = [text.split(".")[0] for kind, text in tokenize(task["depends"]) if kind == "name"]
        return list(dict.fromkeys(names))
    return list(task.get("dependencies", []))


def _ancestors(task: str, deps: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(deps[task])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(deps.get(name, []))
    return seen


def _depends_true(task: Mapping[str, Any], deps: list[str], state: Mapping[str, Node],
                  children: Mapping[str, list[Node]]) -> bool:
    logic = task.get("depends") or " && ".join(deps)
    if not logic:
        return True

    def result(name: str) -> bool:
        task_name, _, which = name.partition(".")
        phase = state[task_name].phase
        group = children.get(task_name, [])
        if not which:
            return phase in (SUCCEEDED, SKIPPED)
        return {"Succeeded": phase == SUCCEEDED, "Failed": phase == FAILED, "Errored": phase == ERROR,
                "Skipped": phase == SKIPPED, "Omitted": phase == OMITTED, "Daemoned": False,
                "AnySucceeded": any(n.phase == SUCCEEDED for n in group),
                "AllFailed": bool(group) and all(n.phase == FAILED for n in group)}[which]

    return bool(evaluate(logic, result))


def _any_startable(tasks: Mapping[str, Any], deps: Mapping[str, list[str]], state: Mapping[str, Node]) -> bool:
    return any(t not in state and all(d in state for d in deps[t]) for t in tasks)


def _dag_phase(targets: list[str], deps: Mapping[str, list[str]], state: Mapping[str, Node], final: bool) -> str:
    """Argo's assessDAGPhase: each target task's phase; for a skipped or omitted one, the phases of
    the last completed tasks on the paths reaching it (Succeeded at the start), Failed preferred."""
    arriving: dict[str, set[str]] = {}

    def out(task: str) -> set[str]:
        node = state.get(task)
        if node is None:
            return set()
        if node.phase in (SUCCEEDED, FAILED, ERROR):
            return {node.phase}
        if task not in arriving:
            arriving[task] = {p for d in deps[task] for p in out(d)} or {SUCCEEDED}
        return arriving[task]

    phase = SUCCEEDED
    for target in targets:
        phases = out(target)
        if FAILED in phases or ERROR in phases:
            return FAILED if FAILED in phases else ERROR
        if not phases:
            phase = "Running"
    # At the end a target can be missing only when failFast stopped the DAG after a failure.
    return FAILED if final and phase == "Running" else phase


def _word(name: str) -> Any:
    """A bare word in ``when``: govaluate's variables are read as strings by Argo (true/false are booleans)."""
    return {"true": True, "false": False}.get(name, name)
