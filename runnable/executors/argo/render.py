"""A neutral description of a pipeline's steps -> an Argo Workflow (or CronWorkflow) -> YAML.

The description says only what Argo needs to run the steps: which container each kind of step runs
(``Kind``: its command, input and output parameters, environment, Secrets), and the DAG over them
(``Step``: its kind, arguments, ``depends``, ``when``, ``withParam``). ``render`` builds the
workflow with hera (Argo's own Python SDK, the ``runnable[argo]`` extra) from hera's models of Argo's
API, so a misspelt field fails here and not in the cluster; ``write_yaml`` writes it. No YAML is
pasted together from strings.

What is rendered:

* one container template per ``Kind``, named after it, running its ``argv`` (normally
  ``runnable execute-step {{workflow.parameters.run_id}} FILE STEP ...``: ``step_argv``);
* one DAG template ``main`` (the entrypoint) with one task per ``Step``;
* the run id as the workflow parameter ``run_id``, ``{{workflow.name}}`` unless given
  (``argo submit -p run_id=...``), so a resubmitted or retried workflow keeps its run;
* secrets only as ``secretKeyRef`` (a ``SecretRef`` has no value to write), the S3 credentials of
  the catalog and run-log store among them; file-system stores on the configured PVC;
* ``onExit`` as a DAG template ``exit-handler`` with the exit step.

The description itself (``Kind``, ``Step``, ...) and the DAG of a pipeline live in runnable.pipeline.dag,
which needs no hera: the local-container pipeline executor runs the same DAG.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hera.workflows import CronWorkflow, Workflow
from hera.workflows import models as m

from runnable.errors import ConfigurationError
from runnable.executors.argo.config import LABEL, ArgoConfig, Override, Retry

# Re-exported: the description render takes (runnable.pipeline.dag, which needs no hera).
from runnable.pipeline.dag import RUN_ID, Description, Kind, Mount, Output, SecretRef, Step, step_argv  # noqa: F401

if TYPE_CHECKING:
    from runnable.config.loading import Configuration

ENTRYPOINT = "main"
EXIT_HANDLER = "exit-handler"
PVC_VOLUME = "runnable-data"


def secret_env(variables: Iterable[str], config: ArgoConfig, needed_by: str) -> tuple[SecretRef, ...]:
    """Each variable from the Secret the configuration names for it (``secret_refs``, else
    ``secret_name`` under the variable's own name); one line naming the variable when neither does.

    >>> secret_env(["AWS_ACCESS_KEY_ID"], ArgoConfig(image="p", secret_name="s3"), "the S3 catalog")
    (SecretRef(variable='AWS_ACCESS_KEY_ID', secret='s3', key='AWS_ACCESS_KEY_ID', optional=False),)
    """
    refs = []
    for variable in variables:
        secret, key = config.secret_refs.get(variable, (config.secret_name, variable))
        if secret is None:
            raise ConfigurationError(
                f"{needed_by} needs {variable!r}: set {LABEL} config 'secret_name' (the Kubernetes Secret with a key "
                f"{variable!r}) or 'secret_refs: {{{variable}: {{name: ..., key: ...}}}}'"
            )
        refs.append(SecretRef(variable, secret, key))
    return tuple(refs)


def pvc_mounts(folders: Mapping[str, str], config: ArgoConfig) -> tuple[Mount, ...]:
    """The PVC mount of each file-system store (``{sub_path: path in the image}``); one line when
    there is a folder to share and no ``pvc_claim_name``."""
    if folders and not config.pvc_claim_name:
        raise ConfigurationError(
            f"the {' and '.join(sorted(folders))} folder must be shared by every step's pod, which a persistent "
            f"volume claim does: set {LABEL} config 'pvc_claim_name', or use object storage (type s3)"
        )
    working = Path(config.working_dir)
    return tuple(Mount(os.path.normpath(working / path), sub) for sub, path in folders.items())


def storage(configuration: Configuration, config: ArgoConfig) -> tuple[tuple[SecretRef, ...], tuple[Mount, ...]]:
    """What every pod needs to reach the catalog and the run-log store of ``configuration``.

    A file-system store is a sub-folder of the PVC (``catalog``, ``run_log_store``, as the k8s-job
    executor mounts them). An object store's credential variables come from ``secret_refs`` when it
    names them, else from ``secret_name`` as optional keys (a Secret often holds no session token);
    with neither, none are set and the pods use their own identity (a workload role).
    """
    from runnable.config.loading import LOCATION_KEYS
    from runnable.executors.remote import refuse_home_locations

    refuse_home_locations(configuration, "each pod")
    folders: dict[str, str] = {}
    variables: dict[str, None] = {}
    for section in LOCATION_KEYS:
        service = configuration[section]
        key = service.folder_setting()
        if key is not None:
            folders[section.replace("-", "_")] = str(service.config.get(key))
        variables.update(dict.fromkeys(service.credential_variables()))
    refs = []
    for variable in variables:
        if variable in config.secret_refs:
            refs.append(SecretRef(variable, *config.secret_refs[variable]))
        elif config.secret_name:
            refs.append(SecretRef(variable, config.secret_name, variable, optional=True))
    return tuple(refs), pvc_mounts(folders, config)


def _env(kind: Kind, description: Description, config: ArgoConfig, override: Override) -> list[m.EnvVar]:
    plain = {**config.environment, **override.environment, **kind.env}
    env = [m.EnvVar(name=k, value=v) for k, v in plain.items()]
    for ref in (*description.secrets, *kind.secrets):
        selector = m.SecretKeySelector(name=ref.secret, key=ref.key, optional=ref.optional or None)
        env.append(m.EnvVar(name=ref.variable, value_from=m.EnvVarSource(secret_key_ref=selector)))
    return env


def _retry(retry: Retry | None) -> m.RetryStrategy | None:
    if retry is None:
        return None
    backoff = None
    if retry.backoff_duration or retry.backoff_factor or retry.backoff_max_duration:
        backoff = m.Backoff(duration=retry.backoff_duration, max_duration=retry.backoff_max_duration,
                            factor=_int_or_string(retry.backoff_factor))
    return m.RetryStrategy(limit=_int_or_string(retry.limit), retry_policy=retry.policy, backoff=backoff)


def _resources(resources: dict[str, dict[str, str]] | None) -> m.ResourceRequirements | None:
    if not resources:
        return None
    def amounts(part: str) -> dict[str, m.Quantity] | None:
        given = resources.get(part)
        return None if given is None else {k: m.Quantity(v) for k, v in given.items()}

    return m.ResourceRequirements(requests=amounts("requests"), limits=amounts("limits"))


def _container_template(kind: Kind, description: Description, config: ArgoConfig) -> m.Template:
    override = config.override(kind.override)
    container = m.Container(
        name="main",  # Argo's own default; the Kubernetes API's models require a container name
        image=override.image or config.image,
        image_pull_policy=override.image_pull_policy or config.image_pull_policy,
        command=list(kind.argv[:1]),
        args=list(kind.argv[1:]) or None,
        working_dir=config.working_dir,
        env=_env(kind, description, config, override) or None,
        resources=_resources(override.resources or config.resources),
        volume_mounts=[m.VolumeMount(name=PVC_VOLUME, mount_path=mount.path, sub_path=mount.sub_path)
                       for mount in description.mounts] or None,
    )
    outputs = None
    if kind.outputs:
        outputs = m.Outputs(parameters=[m.Parameter(name=o.name, value_from=m.ValueFrom(path=o.path))
                                        for o in kind.outputs])
    return m.Template(
        name=kind.name,
        container=container,
        inputs=m.Inputs(parameters=[m.Parameter(name=n) for n in kind.inputs]) if kind.inputs else None,
        outputs=outputs,
        retry_strategy=_retry(kind.retry or override.retry or config.retry),
        active_deadline_seconds=_int_or_string(override.max_step_duration_in_seconds
                                               or config.max_step_duration_in_seconds),
        node_selector=override.node_selector,
        tolerations=[m.Toleration(**t) for t in override.tolerations] if override.tolerations else None,
    )


def _int_or_string(value: int | None) -> m.IntOrString | None:
    # As text ("2"): Argo reads either, and its published JSON schema types IntOrString as a string.
    return None if value is None else m.IntOrString(str(value))


def _task(step: Step, kinds: Mapping[str, Kind]) -> m.DAGTask:
    kind = kinds.get(step.kind)
    if kind is None:
        raise ConfigurationError(f"step {step.name!r} runs the kind {step.kind!r}, which the description does not "
                                 f"define; known kinds: {', '.join(sorted(kinds))}")
    missing = [n for n in kind.inputs if n not in step.arguments]
    extra = [n for n in step.arguments if n not in kind.inputs]
    if missing or extra:
        raise ConfigurationError(f"step {step.name!r} must give exactly the inputs of kind {kind.name!r} "
                                 f"({', '.join(kind.inputs) or 'none'}); missing: {', '.join(missing) or 'none'}, "
                                 f"unknown: {', '.join(extra) or 'none'}")
    arguments = None
    if step.arguments:
        arguments = m.Arguments(parameters=[m.Parameter(name=k, value=v) for k, v in step.arguments.items()])
    return m.DAGTask(name=step.name, template=step.kind, arguments=arguments, depends=step.depends,
                     when=step.when, with_param=step.with_param)


def render(description: Description, config: ArgoConfig) -> Workflow:
    """The hera ``Workflow`` (a ``CronWorkflow`` with ``cron_schedule``) for ``description``.

    No side effects; a description naming an unknown kind or override, or two steps of one name,
    is one ConfigurationError line.
    """
    kinds = {kind.name: kind for kind in description.kinds}
    names = [s.name for s in description.steps]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice or len(kinds) != len(description.kinds):
        raise ConfigurationError(f"names must be unique: steps {twice} and kinds of {len(description.kinds)} appear "
                                 "more than once")
    for step in description.steps:
        unknown = sorted(set(_depends_on(step.depends)) - set(names))
        if unknown:
            raise ConfigurationError(f"step {step.name!r} depends on {', '.join(map(repr, unknown))}, which is not a "
                                     "step of this description")
    if {ENTRYPOINT, EXIT_HANDLER} & set(kinds):
        raise ConfigurationError(f"a kind cannot be named {ENTRYPOINT!r} or {EXIT_HANDLER!r}: the DAGs are")
    templates = [_container_template(kind, description, config) for kind in description.kinds]
    templates.append(m.Template(name=ENTRYPOINT, dag=m.DAGTemplate(tasks=[_task(s, kinds) for s in description.steps]),
                                parallelism=config.parallelism))
    if description.on_exit is not None:
        templates.append(m.Template(name=EXIT_HANDLER, dag=m.DAGTemplate(tasks=[_task(description.on_exit, kinds)])))
    # The run id: the one the description gives (runnable execute --run-id), else the workflow's name.
    parameters = [m.Parameter(name="run_id", value=description.parameters.get("run_id", "{{workflow.name}}"))]
    parameters += [m.Parameter(name=k, value=v) for k, v in description.parameters.items() if k != "run_id"]
    labels = {**config.labels, "app.kubernetes.io/managed-by": "runnable"}
    volumes = None
    if description.mounts:
        if config.pvc_claim_name is None:
            raise ConfigurationError(f"the description mounts folders of a PVC: set {LABEL} config 'pvc_claim_name'")
        claim = m.PersistentVolumeClaimVolumeSource(claim_name=config.pvc_claim_name)
        volumes = [m.Volume(name=PVC_VOLUME, persistent_volume_claim=claim)]
    settings: dict[str, Any] = dict(
        generate_name=f"{config.name}{_dns(description.name)}-"[:58],
        namespace=config.namespace,
        labels=labels,
        annotations=config.annotations or None,
        entrypoint=ENTRYPOINT,
        on_exit=EXIT_HANDLER if description.on_exit is not None else None,
        arguments=m.Arguments(parameters=parameters),
        service_account_name=config.service_account,
        node_selector=config.node_selector or None,
        tolerations=[m.Toleration(**t) for t in config.tolerations] if config.tolerations else None,
        active_deadline_seconds=config.active_deadline_seconds,
        volumes=volumes,
        templates=templates,
    )
    if config.cron_schedule:
        # A CronWorkflow's runs each get their own name, and so (run_id defaults to it) their own run id.
        return CronWorkflow(schedules=[config.cron_schedule], concurrency_policy="Forbid", **settings)
    return Workflow(**settings)


_RESULTS = "Succeeded|Failed|Errored|Skipped|Omitted|Daemoned|AnySucceeded|AllFailed"


def _depends_on(depends: str | None) -> list[str]:
    """The task names in an Argo ``depends`` expression: ``"a && (b.Failed || !c.Succeeded)"`` -> a, b, c."""
    return re.findall(rf"([A-Za-z0-9][\w-]*)(?:\.(?:{_RESULTS})\b)?", depends or "")


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "pipeline"


def to_dict(workflow: Workflow) -> dict[str, Any]:
    """The workflow as plain data with Argo's field names (camelCase), as ``argo submit`` takes it."""
    data: dict[str, Any] = workflow.to_dict()
    return data


def write_yaml(workflow: Workflow, path: str | os.PathLike[str]) -> Path:
    """Write the workflow as YAML to ``path`` atomically (a temporary name beside it, then a rename)."""
    import yaml

    target = Path(path)
    text = yaml.safe_dump(to_dict(workflow), sort_keys=False)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
