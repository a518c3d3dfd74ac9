"""The ``argo`` pipeline executor: a pipeline as an Argo Workflow (``pipeline-executor: {type: argo}``).

``runnable execute pipeline.py --config argo.yaml`` writes the workflow as YAML (``--output FILE``,
else the configured ``output_file``) and names the file in one line; ``--submit`` also creates it in
the cluster through the Kubernetes API, printing the workflow's name. Nothing runs here: every pod
runs ``runnable execute-step {{workflow.parameters.run_id}} FILE STEP --config CONFIG --partial``
(runnable.pipeline.replay), and the exit handler ``--finish`` writes the run's record, last.

``describe`` turns a pipeline into the neutral ``Description`` of runnable.pipeline.dag (shared with
the local-container pipeline executor), with Argo's overrides and Secrets:

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

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable.errors import ConfigurationError
from runnable.executors.argo.config import LABEL, ArgoConfig
from runnable.pipeline import dag

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.pipeline.dsl import BaseTask, Pipeline
    from runnable.record import RunRecord
    from runnable.run.runner import RunOptions


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
             run_id: str | None = None) -> dag.Description:
    """The description of ``pipeline`` (runnable.pipeline.dag) with Argo's overrides, Secrets and
    storage; paths relative to the working folder."""
    from runnable.executors.argo import render as r
    from runnable.run import environment as _environment

    storage_secrets, mounts = r.storage(configuration, config)
    env: dict[str, str] = {}
    if parameters_file:
        env[_environment.ENV_PARAMETERS_FILE] = parameters_file

    def override(task: BaseTask) -> str | None:
        name = task.overrides.get("argo")
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"pipeline step {task.name!r}: overrides={{'argo': ...}} must name an "
                                     f"override of {LABEL} config 'overrides', not {name!r}")
        config.override(name)  # an unknown name is one line, now
        return name

    return dag.describe(pipeline, script, config_file, env=env, override=override,
                        secret_refs=lambda names, needed_by: r.secret_env(names, config, needed_by),
                        retry_of=retry_of, run_id=run_id, storage_secrets=storage_secrets, mounts=mounts)


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
