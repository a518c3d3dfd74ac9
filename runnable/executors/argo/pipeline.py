"""The ``argo`` pipeline executor: a pipeline as an Argo Workflow (``pipeline-executor: {type: argo}``).

``runnable execute pipeline.py --config argo.yaml`` writes the workflow as YAML (``--output FILE``,
else the configured ``output_file``) and names the file in one line; ``--submit`` also creates it in
the cluster through the Kubernetes API, printing the workflow's name. Nothing runs here: every pod
runs ``runnable execute-step {{workflow.parameters.run_id}} FILE STEP --config CONFIG --partial``
(runnable.pipeline.replay), and the exit handler ``--finish`` writes the run's record, last.

``describe`` turns a pipeline into the neutral ``render.Description``:

* a task or stub: one DAG task, ``depends`` on the step before it;
* Parallel: one task per branch (each runs its branch's steps in order), then a fan-in task
  (``--collect``) that depends on all of them ending, Succeeded or Failed;
* Map: a plan task (``--plan``) writing the item keys as an output parameter, one task per item
  (``withParam``; ``STEP`` is ``map.{{item}}``), and the fan-in, which runs the reducer;
* Conditional: the plan task writes the branch's name; each branch task runs ``when`` it is its own;
* Loop: one task (its iterations depend on its returns, which a DAG fixed in advance cannot);
* ``on_failure``: the step's pod reports its outcome (``--outcome``) and ends well either way; the
  path's steps run ``when`` it is Failed, the steps after it ``when`` it is Succeeded, so the
  workflow ends as the run does; after ``terminate_with_*`` nothing is rendered;
* a retry (``runnable retry RUN_ID --config argo.yaml``): the steps the original run finished
  successfully are not rendered (the pods reuse them, ``RUNNABLE_RETRY_RUN_ID``).

A task's ``overrides={"argo": NAME}`` picks the configured override (image, resources, node
selector, ...); its ``secrets`` reach its pod through ``secretKeyRef`` only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable.errors import ConfigurationError
from runnable.executors.argo.config import LABEL, ArgoConfig

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.executors.argo import render as r
    from runnable.pipeline.dsl import BaseStep, Pipeline
    from runnable.record import RunRecord
    from runnable.run.runner import RunOptions

STEP_INPUT = "{{inputs.parameters.step}}"
PLAN_PATH = "/tmp/runnable/plan.json"  # noqa: S108 - inside the pod, which has its own /tmp
PLAN = "plan"
OUTCOME_PATH = "/tmp/runnable/outcome"  # noqa: S108 - inside the pod
OUTCOME = "outcome"


@dataclass
class _Builder:
    """Collects the kinds and DAG tasks of one pipeline."""

    config: ArgoConfig
    script: str
    config_file: str
    env: dict[str, str]
    storage_secrets: tuple[r.SecretRef, ...]
    kinds: dict[str, r.Kind] = field(default_factory=dict)
    steps: list[r.Step] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def argv(self, *extra: str, step: str = STEP_INPUT) -> tuple[str, ...]:
        from runnable.executors.argo import render as r

        return r.step_argv(self.script, step, "--config", self.config_file, "--partial", *extra)

    def kind(self, role: str, step: BaseStep | None = None, recoverable: bool = False) -> str:
        """The container template for ``role`` (run, plan, collect) and the task's override and secrets;
        ``recoverable``: the step has an on_failure path, so its pod reports its outcome as an output
        parameter and ends well either way (Argo's ``when`` then takes the path)."""
        from runnable.executors.argo import render as r
        from runnable.pipeline.dsl import BaseTask
        from runnable.pipeline.local import _tasks_of

        override = None
        secrets: tuple[str, ...] = ()
        if role == "run" and step is not None:
            if isinstance(step, BaseTask):
                override = step.overrides.get("argo")
                if override is not None and not isinstance(override, str):
                    raise ConfigurationError(f"pipeline step {step.name!r}: overrides={{'argo': ...}} must name an "
                                             f"override of {LABEL} config 'overrides', not {override!r}")
            secrets = tuple(sorted({n for task in _tasks_of(step) for n in task.secrets}))
        self.config.override(override)  # an unknown name is one line, now
        name = "-".join(part for part in (role, override, *(s.lower().replace("_", "-") for s in secrets),
                                          "recoverable" if recoverable else "") if part)
        name = _dns(name)[:50]
        if name not in self.kinds and recoverable:
            base = self.kinds[self.kind(role, step)]
            self.kinds[name] = replace(base, name=name, argv=(*base.argv, "--outcome", OUTCOME_PATH),
                                       outputs=(*base.outputs, r.Output(OUTCOME, OUTCOME_PATH)))
        if name not in self.kinds:
            if role == PLAN:
                kind = r.Kind(name, self.argv("--plan", PLAN_PATH), inputs=("step",),
                              outputs=(r.Output(PLAN, PLAN_PATH),), env=self.env)
            elif role == "collect":
                kind = r.Kind(name, self.argv("--collect"), inputs=("step",), env=self.env)
            else:
                kind = r.Kind(name, self.argv(), inputs=("step",), env=self.env, override=override,
                              secrets=r.secret_env(secrets, self.config, f"the secrets of step {step.name!r}")
                              if step is not None and secrets else ())
            self.kinds[name] = kind
        return name

    def task(self, name: str, kind: str, step: str, depends: str | None, **more: Any) -> str:
        from runnable.executors.argo import render as r

        base = _dns(name)[:60]
        unique, n = base, 2
        while unique in self.names:
            unique, n = f"{base[:56]}-{n}", n + 1
        self.names.add(unique)
        self.steps.append(r.Step(unique, kind, {"step": step}, depends=depends, **more))
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


def _relative(path: str | Path, working_folder: Path, what: str) -> str:
    absolute = Path(path).absolute()
    try:
        return absolute.relative_to(working_folder).as_posix()
    except ValueError:
        raise ConfigurationError(
            f"the {what} {str(absolute)!r} is outside the working folder {str(working_folder)!r}; every pod sees "
            "the project at the image's working_dir only, so keep it inside the project folder"
        ) from None


def describe(pipeline: Pipeline, config: ArgoConfig, configuration: Configuration, script: str, config_file: str,
             parameters_file: str | None = None, retry_of: RunRecord | None = None,
             run_id: str | None = None) -> r.Description:
    """The neutral description of ``pipeline`` (module docstring); paths relative to the working folder."""
    from runnable.executors.argo import render as r
    from runnable.run import environment as _environment

    storage_secrets, mounts = r.storage(configuration, config)
    env: dict[str, str] = {}
    if parameters_file:
        env[_environment.ENV_PARAMETERS_FILE] = parameters_file
    skip: set[str] = set()
    if retry_of is not None:
        from runnable.pipeline.retry import succeeded_steps

        env[_environment.ENV_RETRY_RUN_ID] = retry_of.run_id
        skip = set(succeeded_steps(retry_of))
    builder = _Builder(config, script, config_file, env, storage_secrets)
    builder.sequence(pipeline, "", None, None, skip)
    # execute-step RUN_ID FILE --config CONFIG --finish (no STEP): the record, assembled, last.
    finish = r.Kind("finish", r.step_argv(script, "--config", config_file, "--finish"), env=env)
    return r.Description(
        name=pipeline.name, kinds=(*builder.kinds.values(), finish), steps=tuple(builder.steps),
        on_exit=r.Step("finish", "finish"), parameters={"run_id": run_id} if run_id else {},
        secrets=storage_secrets, mounts=mounts)


class ArgoPipelineExecutor(ArgoConfig):
    """``pipeline-executor: {type: argo, config: {...}}``: the settings are ``ArgoConfig``'s."""

    def execute(self, pipeline: Pipeline, configuration: Configuration, options: RunOptions,
                retry_of: RunRecord | None) -> RunRecord | None:
        from runnable.executors import remote
        from runnable.executors.argo import render as r
        from runnable.pipeline import graph
        from runnable.run.execute import current

        graph.check(pipeline, set(options.parameters))
        if retry_of is not None:
            from runnable.pipeline.retry import check_same_structure

            check_same_structure(retry_of, pipeline)
        working = Path.cwd().absolute()
        command_line = current()
        script = _relative(command_line.script, working, "pipeline script") if command_line and command_line.script \
            else remote.script_file(working).as_posix()
        if options.configuration_file is None:
            raise ConfigurationError("the argo pipeline executor needs its configuration file (--config FILE): "
                                     "every pod reads the catalog and run-log store from it")
        if options.run_id and self.cron_schedule:
            raise ConfigurationError(f"a run id ({options.run_id!r}) cannot be given to a CronWorkflow: each scheduled "
                                     "run needs its own (the workflow's name); leave out --run-id and RUNNABLE_RUN_ID")
        if options.run_id:
            from runnable.record import check_run_id

            check_run_id(options.run_id)
        config_file = _relative(options.configuration_file, working, "configuration file")
        parameters_file = _relative(options.parameters_file, working, "parameters file") \
            if options.parameters_file else None
        description = describe(pipeline, self, configuration, script, config_file, parameters_file, retry_of,
                               options.run_id)
        workflow = r.render(description, self)
        output = Path((command_line.output if command_line else None) or self.output_file or "argo-pipeline.yaml")
        try:
            r.write_yaml(workflow, output)
        except OSError as exc:
            from runnable.errors import UsageError

            raise UsageError(f"cannot write the workflow to {str(output)!r}: {exc.strerror or exc}; give --output a "
                             "file in a folder that exists and you can write to") from None
        kind = "CronWorkflow" if self.cron_schedule else "Workflow"
        sys.stderr.write(f"runnable: wrote the Argo {kind} to {output}"
                         + ("" if command_line and command_line.submit else
                            f"; submit it with: argo submit {output} -n {self.namespace}") + "\n")
        if command_line and command_line.submit:
            name = submit(r.to_dict(workflow), self.namespace, kind)
            sys.stdout.write(f"{name}\n")
            sys.stdout.flush()
        return None


def submit(manifest: dict[str, Any], namespace: str, kind: str) -> str:
    """Create the workflow in the cluster (the Kubernetes API, custom objects); its name."""
    from runnable.executors import kubeapi

    try:
        from kubernetes import client
    except ImportError:
        from runnable.errors import MissingExtraError

        raise MissingExtraError("--submit needs the Kubernetes client; install it with: "
                                "pip install 'runnable[k8s]'") from None
    kubeapi.connect()
    plural = "cronworkflows" if kind == "CronWorkflow" else "workflows"
    generate = manifest.get("metadata", {}).get("generateName", "")
    with kubeapi.calling(f"create the {kind} {generate}...", namespace):
        created = client.CustomObjectsApi().create_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, plural, manifest)
    metadata = created.get("metadata", {}) if isinstance(created, dict) else {}
    return str(metadata.get("name", generate))
