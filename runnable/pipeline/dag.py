"""A pipeline as a DAG of ``runnable execute-step`` commands: what the Argo and local-container
pipeline executors both run (needs no hera; runnable.executors.argo.render turns it into a workflow).

``describe`` turns a pipeline into a ``Description``: container kinds (``Kind``: a command, its
inputs and output files, environment, secrets by reference) and DAG tasks over them (``Step``:
``depends``, ``when``, ``withParam``, in Argo's own expression syntax, which the local-container
executor evaluates the way Argo's controller does):

* a task or stub: one DAG task, ``depends`` on the step before it;
* Parallel: one task per branch (each runs its branch's steps in order), then a fan-in task
  (``--collect``) that depends on all of them ending, Succeeded or Failed;
* Map: a plan task (``--plan``) writing the item keys as an output parameter, one task per item
  (``withParam``; ``STEP`` is ``map.{{item}}``), and the fan-in, which runs the reducer;
* Conditional: the plan task writes the branch's name; each branch task runs ``when`` it is its own;
* Loop: one task (its iterations depend on its returns, which a DAG fixed in advance cannot);
* ``on_failure``: the step's process reports its outcome (``--outcome``) and ends well either way;
  the path's steps run ``when`` it is Failed, the steps after it ``when`` it is Succeeded, so the
  DAG ends as the run does; after ``terminate_with_*`` nothing is included;
* a retry: the steps the original run finished successfully are left out (the processes reuse
  them, ``RUNNABLE_RETRY_RUN_ID``);
* the exit step (``--finish``) writes the run's record, last.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnable.executors.argo.config import Retry
    from runnable.pipeline.dsl import BaseStep, BaseTask, Pipeline
    from runnable.record import RunRecord

RUN_ID = "{{workflow.parameters.run_id}}"


@dataclass(frozen=True)
class SecretRef:
    """An environment variable filled from a key of a Kubernetes Secret: a reference, never a value
    (the local-container executor passes ``variable`` by name, its value from its own environment).

    ``optional``: a Secret without that key leaves the variable unset instead of stopping the pod.
    """

    variable: str
    secret: str
    key: str
    optional: bool = False


@dataclass(frozen=True)
class Output:
    """An output parameter: the text of ``path`` in the container when it ends (``valueFrom.path``)."""

    name: str
    path: str


@dataclass(frozen=True)
class Kind:
    """One container template: what every step of this kind runs.

    ``argv`` may use ``{{workflow.parameters.run_id}}`` and ``{{inputs.parameters.NAME}}`` for each
    name in ``inputs``; ``override`` names an entry of the executor's ``overrides`` (image,
    resources, node selector, ...); ``retry`` replaces the configured one for this kind.
    """

    name: str
    argv: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    outputs: tuple[Output, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[SecretRef, ...] = ()
    override: str | None = None
    retry: Retry | None = None


@dataclass(frozen=True)
class Step:
    """One DAG task: the kind it runs and the values of that kind's inputs.

    ``depends`` is Argo's expression over earlier steps (``"prepare"``, ``"train.Failed ||
    check.Succeeded"``); ``when`` a condition on parameters; ``with_param`` a JSON list (normally
    ``{{tasks.STEP.outputs.parameters.NAME}}``) to run the step once per item, ``{{item}}`` being it.
    """

    name: str
    kind: str
    arguments: Mapping[str, str] = field(default_factory=dict)
    depends: str | None = None
    when: str | None = None
    with_param: str | None = None


@dataclass(frozen=True)
class Mount:
    """A sub-folder of the configured PVC, mounted at ``path`` in every container."""

    path: str
    sub_path: str


@dataclass(frozen=True)
class Description:
    """What Argo's ``render`` builds a workflow from, and what the local-container executor runs."""

    name: str
    kinds: tuple[Kind, ...]
    steps: tuple[Step, ...]
    on_exit: Step | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[SecretRef, ...] = ()
    mounts: tuple[Mount, ...] = ()


def step_argv(file: str, step: str, *extra: str) -> tuple[str, ...]:
    """The step entry point: ``runnable execute-step {{workflow.parameters.run_id}} FILE STEP ...``.

    >>> step_argv("pipeline.py", "{{inputs.parameters.step}}")[:3]
    ('runnable', 'execute-step', '{{workflow.parameters.run_id}}')
    """
    return ("runnable", "execute-step", RUN_ID, file, step, *extra)


STEP_INPUT = "{{inputs.parameters.step}}"
PLAN_PATH = "/tmp/runnable/plan.json"  # noqa: S108 - inside the pod, which has its own /tmp
PLAN = "plan"
OUTCOME_PATH = "/tmp/runnable/outcome"  # noqa: S108 - inside the pod
OUTCOME = "outcome"


@dataclass
class _Builder:
    """Collects the kinds and DAG tasks of one pipeline."""

    script: str
    config_file: str
    env: dict[str, str]
    override: Callable[[BaseTask], str | None]
    secret_refs: Callable[[tuple[str, ...], str], tuple[SecretRef, ...]]
    kinds: dict[str, Kind] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def argv(self, *extra: str, step: str = STEP_INPUT) -> tuple[str, ...]:
        return step_argv(self.script, step, "--config", self.config_file, "--partial", *extra)

    def kind(self, role: str, step: BaseStep | None = None, recoverable: bool = False) -> str:
        """The container template for ``role`` (run, plan, collect) and the task's override and secrets;
        ``recoverable``: the step has an on_failure path, so its pod reports its outcome as an output
        parameter and ends well either way (Argo's ``when`` then takes the path)."""
        from runnable.pipeline.dsl import BaseTask
        from runnable.pipeline.local import _tasks_of

        override = None
        secrets: tuple[str, ...] = ()
        if role == "run" and step is not None:
            if isinstance(step, BaseTask):
                override = self.override(step)
            secrets = tuple(sorted({n for task in _tasks_of(step) for n in task.secrets}))
        name = "-".join(part for part in (role, override, *(s.lower().replace("_", "-") for s in secrets),
                                          "recoverable" if recoverable else "") if part)
        name = _dns(name)[:50]
        if name not in self.kinds and recoverable:
            base = self.kinds[self.kind(role, step)]
            self.kinds[name] = replace(base, name=name, argv=(*base.argv, "--outcome", OUTCOME_PATH),
                                       outputs=(*base.outputs, Output(OUTCOME, OUTCOME_PATH)))
        if name not in self.kinds:
            if role == PLAN:
                kind = Kind(name, self.argv("--plan", PLAN_PATH), inputs=("step",),
                              outputs=(Output(PLAN, PLAN_PATH),), env=self.env)
            elif role == "collect":
                kind = Kind(name, self.argv("--collect"), inputs=("step",), env=self.env)
            else:
                kind = Kind(name, self.argv(), inputs=("step",), env=self.env, override=override,
                              secrets=self.secret_refs(secrets, f"the secrets of step {step.name!r}")
                              if step is not None and secrets else ())
            self.kinds[name] = kind
        return name

    def task(self, name: str, kind: str, step: str, depends: str | None, **more: Any) -> str:
        base = _dns(name)[:60]
        unique, n = base, 2
        while unique in self.names:
            unique, n = f"{base[:56]}-{n}", n + 1
        self.names.add(unique)
        self.steps.append(Step(unique, kind, {"step": step}, depends=depends, **more))
        return unique

    def sequence(self, pipeline: Pipeline, prefix: str, depends: str | None, when: str | None,
                 skip: set[str]) -> None:
        """The steps of ``pipeline`` in order, the first after ``depends`` succeeded and ``when`` holds.

        Each later step depends on its predecessor's ``.Succeeded`` (not the bare name, which a
        skipped task satisfies): a step skipped by ``when`` stops the steps after it too.
        """
        for step in pipeline.steps:
            path = prefix + step.name
            if path in skip:
                continue
            recoverable = step.on_failure is not None
            last = self.one(step, path, depends, when, recoverable)
            depends, when = f"{last}.Succeeded", None
            if recoverable:
                assert step.on_failure is not None
                outcome = f"'{{{{tasks.{last}.outputs.parameters.{OUTCOME}}}}}'"
                self.sequence(step.on_failure, f"{path}.on_failure.", depends, f"{outcome} == 'Failed'", skip)
                when = f"{outcome} == 'Succeeded'"
            if step.terminate_with_success or step.terminate_with_failure:
                return  # nothing after it ever runs

    def one(self, step: BaseStep, path: str, depends: str | None, when: str | None, recoverable: bool) -> str:
        """The tasks of one step; the name of the task whose outcome is the step's."""
        from runnable.pipeline.dsl import Conditional, Map, Parallel

        if isinstance(step, Parallel):
            branches = [self.task(f"{path}-{key}", self.kind("run", _only(step.branches[key]) or step),
                                  f"{path}.{key}", depends, when=when)
                        for key in step.branches]
            return self.task(path, self.kind("collect", recoverable=recoverable), path,
                             " && ".join(map(_ended, branches)))
        if isinstance(step, Map):
            plan = self.task(f"{path}-items", self.kind(PLAN), path, depends, when=when)
            items = self.task(f"{path}-item", self.kind("run", _only(step.branch) or step), f"{path}.{{{{item}}}}",
                              f"{plan}.Succeeded", with_param=f"{{{{tasks.{plan}.outputs.parameters.{PLAN}}}}}")
            return self.task(path, self.kind("collect", recoverable=recoverable), path, _ended(items))
        if isinstance(step, Conditional):
            plan = self.task(f"{path}-choice", self.kind(PLAN), path, depends, when=when)
            branches = [self.task(f"{path}-{key}", self.kind("run", _only(step.branches[key]) or step),
                                  f"{path}.{key}", f"{plan}.Succeeded",
                                  when=f"'{{{{tasks.{plan}.outputs.parameters.{PLAN}}}}}' == '{key}'")
                        for key in step.branches]
            return self.task(path, self.kind("collect", recoverable=recoverable), path,
                             " && ".join(map(_ended, branches)))
        # a task, a stub, a Loop
        return self.task(path, self.kind("run", step, recoverable=recoverable), path, depends, when=when)


def _only(pipeline: Pipeline) -> BaseStep | None:
    """The one step of a branch of one step (its override then applies to the branch's pod)."""
    return pipeline.steps[0] if len(pipeline.steps) == 1 else None


def _ended(task: str) -> str:
    """Argo's ``depends`` for a task that ended, whatever its outcome (a fan-in runs after failures too)."""
    return f"({task}.Succeeded || {task}.Failed || {task}.Skipped)"


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "step"


def describe(pipeline: Pipeline, script: str, config_file: str, *, env: Mapping[str, str] | None = None,
             override: Callable[[BaseTask], str | None] = lambda task: None,
             secret_refs: Callable[[tuple[str, ...], str], tuple[SecretRef, ...]] | None = None,
             retry_of: RunRecord | None = None, run_id: str | None = None,
             storage_secrets: tuple[SecretRef, ...] = (), mounts: tuple[Mount, ...] = ()) -> Description:
    """The description of ``pipeline`` (module docstring): ``execute-step RUN_ID SCRIPT STEP --config
    CONFIG_FILE --partial ...`` for every task, ``--finish`` on exit.

    ``override`` names a task's override (Argo's ``overrides={"argo": NAME}``); ``secret_refs``
    turns a step's secret names into references (by default each is passed under its own name).
    """
    from runnable.run import environment as _environment

    variables = dict(env or {})
    skip: set[str] = set()
    if retry_of is not None:
        from runnable.pipeline.retry import succeeded_steps

        variables[_environment.ENV_RETRY_RUN_ID] = retry_of.run_id
        skip = set(succeeded_steps(retry_of))
    builder = _Builder(script, config_file, variables, override,
                       secret_refs or (lambda names, needed_by: tuple(SecretRef(n, n, n) for n in names)))
    builder.sequence(pipeline, "", None, None, skip)
    # execute-step RUN_ID FILE --config CONFIG --finish (no STEP): the record, assembled, last.
    finish = Kind("finish", step_argv(script, "--config", config_file, "--finish"), env=variables)
    return Description(
        name=pipeline.name, kinds=(*builder.kinds.values(), finish), steps=tuple(builder.steps),
        on_exit=Step("finish", "finish"), parameters={"run_id": run_id} if run_id else {},
        secrets=storage_secrets, mounts=mounts)
