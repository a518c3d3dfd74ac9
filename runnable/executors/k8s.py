"""The ``k8s-job`` executor: run the job as a Kubernetes ``batch/v1`` Job (needs ``runnable[k8s]``).

::

    job-executor:
      type: k8s-job
      config:
        image: registry.example.com/my-project:1.4
        namespace: ml
        pvc_claim_name: runnable-data    # for a file-system catalog / run-log store
        secret_name: my-project-secrets  # the Kubernetes Secret holding the job's secrets

The image must contain the project at ``working_dir`` (the script and the configuration file, at
the same paths relative to it as on the machine that submits) and ``runnable`` itself. The pod runs
``runnable execute-job SCRIPT --config FILE --run-id ID`` with ``RUNNABLE_IN_EXECUTOR=1``. The
manifest is built from the Kubernetes client's own model classes, so a wrong field fails here, not
in the cluster. ``dry_run: true`` prints it as YAML; ``schedule:`` makes it a ``CronJob``.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from kubernetes import client as _client  # the extra's dependency: a missing one names 'runnable[k8s]'

from runnable.config.loading import LOCATION_KEYS
from runnable.errors import ConfigurationError, JobFailedError
from runnable.executors import kubeapi, remote
from runnable.executors.cron import check_schedule

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.jobs import BaseJob
    from runnable.record import RunRecord
    from runnable.run.runner import RunOptions

CONTAINER_NAME = "runnable"
MANAGED_BY = {"app.kubernetes.io/managed-by": "runnable"}
# The sub-folder of the claim for each file-system service, so one claim serves both: 'catalog' and
# 'run_log_store', names that existing claims hold and must keep.
PVC_SUBPATHS = {section: (key, section.replace("-", "_")) for section, key in LOCATION_KEYS.items()}
# Used untyped: every field of the client's models is optional, so each read below checks for None.
k8s: Any = _client

# A pod waiting for one of these reasons will not start by itself: stop waiting and report it.
STUCK_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                 "CreateContainerError"}
POLL_SECONDS = 2.0
PullPolicy = Literal["Always", "IfNotPresent", "Never"]
# A namespace is an RFC 1123 label: what the API server accepts, checked here so a typo fails first.
NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
def dns_name(text: str, limit: int = 63) -> str:
    """``text`` as a Kubernetes object name: lower case letters, digits and '-', at most ``limit``.

    >>> dns_name("Nightly_Train.v2")
    'nightly-train-v2'
    """
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-") or "job"


def model(klass: Any, data: Any, what: str) -> Any:
    """``data`` (a mapping written as in a Kubernetes manifest) checked against the client's model."""
    try:
        return klass.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = exc.errors() if callable(getattr(exc, "errors", None)) else []  # type: ignore[attr-defined]
        # One line per field ("ky: Extra inputs are not permitted"), without pydantic's links and types.
        # Not chained: pydantic's own report repeats each input value, and a value may be a credential.
        detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())) or 'value'}: {e.get('msg')}"
                           for e in errors) or str(exc)
        raise ConfigurationError(f"job-executor (k8s-job): {what} is not a valid {klass.__name__}: {detail}") from None


def _quantities(resources: dict[str, Any]) -> dict[str, Any]:
    # YAML reads 'cpu: 1' as a number; Kubernetes quantities are strings ("1", "500m", "2Gi").
    return {
        part: {k: str(v) for k, v in values.items()} if isinstance(values, dict) else values
        for part, values in resources.items()
    }


class KubernetesJobExecutor:
    """Submits jobs to Kubernetes (``job-executor: {type: k8s-job, config: {image: ...}}``)."""

    def __init__(
        self,
        image: str,
        namespace: str = "default",
        working_dir: str = "/app",
        service_account: str | None = None,
        resources: dict[str, Any] | None = None,
        node_selector: dict[str, str | int | float | bool] | None = None,
        tolerations: list[dict[str, Any]] | None = None,
        environment: dict[str, str | int | float | bool] | None = None,
        pvc_claim_name: str | None = None,
        secret_name: str | None = None,
        secret_refs: dict[str, dict[str, str]] | None = None,
        active_deadline_seconds: int | None = None,
        backoff_limit: int = 0,
        ttl_seconds_after_finished: int | None = 3600,
        image_pull_policy: PullPolicy | None = None,
        labels: dict[str, str | int | float | bool] | None = None,
        schedule: str | None = None,
        context: str | None = None,
        dry_run: bool = False,
    ) -> None:
        # The types are checked against these annotations when the file is loaded (runnable.config.settings);
        # here only what an annotation cannot say, without repeating a value.
        if not image.strip():
            raise ConfigurationError("job-executor (k8s-job): 'image' is empty; give an image name")
        if not PurePosixPath(working_dir).is_absolute():
            raise ConfigurationError("job-executor (k8s-job): 'working_dir' must be an absolute path in the image")
        for key, value in (("active_deadline_seconds", active_deadline_seconds), ("backoff_limit", backoff_limit),
                           ("ttl_seconds_after_finished", ttl_seconds_after_finished)):
            if value is not None and value < 0:
                raise ConfigurationError(f"job-executor (k8s-job): {key!r} must be 0 or more")
        if not NAMESPACE.fullmatch(namespace):
            raise ConfigurationError(
                "job-executor (k8s-job): 'namespace' is not a Kubernetes namespace name: at most 63 "
                "lower-case letters, digits and '-', starting and ending with a letter or digit"
            )
        if schedule is not None:
            check_schedule(schedule)
        for name, ref in (secret_refs or {}).items():
            if set(ref) != {"name", "key"}:
                raise ConfigurationError(
                    f"job-executor (k8s-job): secret_refs[{name!r}] must be {{name: <Secret>, key: <key>}}, with "
                    "these two keys only"
                )
        self.image = image
        self.namespace = namespace
        self.working_dir = PurePosixPath(working_dir)
        self.service_account = service_account
        self.resources = model(k8s.V1ResourceRequirements, _quantities(resources), "'resources'") if resources else None
        # Numbers and booleans as Python writes them: 8080 -> '8080', true -> 'True'.
        self.node_selector = {str(k): str(v) for k, v in (node_selector or {}).items()}
        self.tolerations = [model(k8s.V1Toleration, t, f"tolerations[{i}]") for i, t in enumerate(tolerations or [])]
        self.environment = {str(k): str(v) for k, v in (environment or {}).items()}
        self.pvc_claim_name = pvc_claim_name
        self.secret_name = secret_name
        self.secret_refs = secret_refs or {}
        self.active_deadline_seconds = active_deadline_seconds
        self.backoff_limit = backoff_limit
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.image_pull_policy = image_pull_policy
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self.schedule = schedule
        self.context = context
        self.dry_run = dry_run

    # -- the manifest -----------------------------------------------------------------------
    def _inside(self, rel: Path) -> str:
        return (self.working_dir / rel.as_posix()).as_posix()

    def _config_path(self, configuration: Configuration, working_folder: Path) -> str:
        if configuration.path is None:
            raise ConfigurationError(
                "the k8s-job executor names its configuration file in the pod, but this configuration did not "
                "come from a file; give execute(configuration_file=...) or --config"
            )
        try:
            return self._inside(configuration.path.relative_to(working_folder))
        except ValueError:  # not chained: relative_to's message says the same, less clearly
            raise ConfigurationError(
                f"configuration file {str(configuration.path)!r} is outside the working folder "
                f"{str(working_folder)!r}; the pod finds it in the image at the same relative path, so keep it "
                "inside the project"
            ) from None

    def _volumes(self, configuration: Configuration) -> tuple[list[Any], list[Any]]:
        remote.refuse_home_locations(configuration, "the pod")
        mounts = []
        for section, (key, sub_path) in PVC_SUBPATHS.items():
            service = configuration[section]
            if service.folder_setting() is None:
                continue  # object storage is reached over the network: no volume
            if not self.pvc_claim_name:
                raise ConfigurationError(
                    f"the {section} is a file-system folder, which a pod can only share through a persistent "
                    "volume claim: set job-executor config 'pvc_claim_name', or use an object-storage "
                    f"{section} (type s3)"
                )
            location = PurePosixPath(str(service.config.get(key)))
            path = location if location.is_absolute() else self.working_dir / location
            mounts.append(k8s.V1VolumeMount(name="runnable-data", mount_path=os.path.normpath(path), sub_path=sub_path))
        volumes = []
        if mounts:
            claim = k8s.V1PersistentVolumeClaimVolumeSource(claim_name=self.pvc_claim_name)
            volumes.append(k8s.V1Volume(name="runnable-data", persistent_volume_claim=claim))
        return volumes, mounts

    def _env(self, job: BaseJob, options: RunOptions) -> list[Any]:
        env = [k8s.V1EnvVar(name=k, value=v) for k, v in {**self.environment, **remote.INNER_ENV}.items()]
        env += [k8s.V1EnvVar(name=k, value=v) for k, v in remote.parameter_env(options).items()]
        for name in job.secrets:
            ref = self.secret_refs.get(name)
            if ref is None:
                if not self.secret_name:
                    raise ConfigurationError(
                        f"the job needs the secret {name!r}: set job-executor config 'secret_name' (the Kubernetes "
                        f"Secret with a key {name!r}) or 'secret_refs: {{{name}: {{name: ..., key: ...}}}}'"
                    )
                ref = {"name": self.secret_name, "key": name}
            selector = k8s.V1SecretKeySelector(name=ref["name"], key=ref["key"])
            env.append(k8s.V1EnvVar(name=name, value_from=k8s.V1EnvVarSource(secret_key_ref=selector)))
        return env

    def build(
        self,
        job: BaseJob,
        configuration: Configuration,
        options: RunOptions,
        run_id: str | None,
        working_folder: Path,
    ) -> Any:
        """The ``V1Job`` (or ``V1CronJob`` with ``schedule``) for this run; no side effects."""
        script = self._inside(remote.script_file(working_folder))
        config = self._config_path(configuration, working_folder)
        volumes, mounts = self._volumes(configuration)
        # A scheduled job runs many times: each run draws its own id inside the pod.
        args = remote.inner_arguments(script, config, None if self.schedule else run_id, list(options.tags))
        container = k8s.V1Container(
            name=CONTAINER_NAME,
            image=self.image,
            image_pull_policy=self.image_pull_policy,
            command=args[:1],
            args=args[1:],
            working_dir=self.working_dir.as_posix(),
            env=self._env(job, options),
            resources=self.resources,
            volume_mounts=mounts or None,
        )
        labels = {**self.labels, **MANAGED_BY, "runnable/job": dns_name(job.name)}
        if run_id and not self.schedule:
            labels["runnable/run-id"] = dns_name(run_id)
        pod = k8s.V1PodSpec(
            containers=[container],
            restart_policy="Never",
            service_account_name=self.service_account,
            node_selector=self.node_selector or None,
            tolerations=self.tolerations or None,
            volumes=volumes or None,
        )
        spec = k8s.V1JobSpec(
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=pod),
            backoff_limit=self.backoff_limit,
            active_deadline_seconds=self.active_deadline_seconds,
            ttl_seconds_after_finished=self.ttl_seconds_after_finished,
        )
        if self.schedule:
            # CronJob names are at most 52 characters: Kubernetes appends an 11-character suffix.
            meta = k8s.V1ObjectMeta(name=dns_name("runnable-" + job.name, 52), namespace=self.namespace, labels=labels)
            cron = k8s.V1CronJobSpec(
                schedule=self.schedule,
                concurrency_policy="Forbid",
                job_template=k8s.V1JobTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=spec),
            )
            return k8s.V1CronJob(api_version="batch/v1", kind="CronJob", metadata=meta, spec=cron)
        assert run_id is not None
        meta = k8s.V1ObjectMeta(name=dns_name("runnable-" + run_id), namespace=self.namespace, labels=labels)
        return k8s.V1Job(api_version="batch/v1", kind="Job", metadata=meta, spec=spec)

    @staticmethod
    def to_dict(manifest: Any) -> dict[str, Any]:
        """The manifest as plain data with Kubernetes field names (camelCase), as ``kubectl`` takes it."""
        data: dict[str, Any] = k8s.ApiClient().sanitize_for_serialization(manifest)
        return data

    # -- running it -------------------------------------------------------------------------
    def execute(self, job: BaseJob, configuration: Configuration, options: RunOptions) -> RunRecord | None:
        from runnable.run.runner import now

        dry_run = remote.dry_run_requested(self.dry_run, options)
        working_folder = Path.cwd().absolute()
        # A file-system store lives on the claim, out of reach from here; an object store is shared.
        # A dry run contacts nothing, so it does not check that the run id is free.
        shared = configuration["run-log-store"].folder_setting() is None
        run_log_store = configuration["run-log-store"].build() if shared and not dry_run else None
        run_id = None if self.schedule else remote.choose_run_id(options, run_log_store)
        manifest = self.build(job, configuration, options, run_id, working_folder)
        if dry_run:
            import yaml

            sys.stdout.write(yaml.safe_dump(self.to_dict(manifest), sort_keys=False))
            sys.stdout.flush()
            return None
        kubeapi.connect(self.context)
        batch = k8s.BatchV1Api()
        name = str(manifest.metadata.name)
        if self.schedule:
            with kubeapi.calling(f"create the CronJob {name}", self.namespace):
                batch.create_namespaced_cron_job(self.namespace, manifest)
            sys.stderr.write(f"runnable: scheduled CronJob {self.namespace}/{name} ({self.schedule})\n")
            return None
        assert run_id is not None
        start = now()
        with kubeapi.calling(f"create the Job {name}", self.namespace):
            batch.create_namespaced_job(self.namespace, manifest)
        sys.stderr.write(f"runnable: submitted Job {self.namespace}/{name} for run {run_id}\n")
        with kubeapi.calling(f"follow the Job {name}", self.namespace):
            outcome = self._follow(name)
        ok = outcome.get("status") == "Succeeded"
        problem = None if ok else (
            f"the Kubernetes Job {self.namespace}/{name} failed: pod {outcome.get('pod')} "
            f"{outcome.get('reason') or outcome.get('phase')} (exit code {outcome.get('exit_code')})"
        )
        if run_log_store is not None:
            return remote.record_outcome(
                run_log_store, job, configuration, run_id, start, outcome, problem, options.print_summary
            )
        # The record is on the claim: report the outcome here; the pod's own summary is in the log above.
        sys.stderr.write(f"runnable: run {run_id}: {problem or 'the pod succeeded'}\n")
        if problem:
            raise JobFailedError(f"run {run_id} failed: {problem}")
        return None

    def _follow(self, job_name: str) -> dict[str, Any]:
        """Wait for the Job's pod, stream its log to stdout, and return how it ended.

        Not run by the test suite: no cluster is available where runnable is developed.
        """
        core = k8s.CoreV1Api()
        batch = k8s.BatchV1Api()
        outcome: dict[str, Any] = {"type": "k8s-job", "namespace": self.namespace, "job": job_name}
        pod_name = None
        while pod_name is None:  # until the pod runs or ends; stop early if it is stuck
            pods = core.list_namespaced_pod(self.namespace, label_selector=f"job-name={job_name}").items or []
            for pod in pods:
                status = pod.status
                outcome.update(pod=pod.metadata.name, phase=getattr(status, "phase", None))
                for container_status in getattr(status, "container_statuses", None) or []:
                    waiting = getattr(container_status.state, "waiting", None)
                    if waiting is not None and waiting.reason in STUCK_REASONS:
                        outcome.update(status="Failed", reason=waiting.reason, message=waiting.message)
                        return outcome
                if outcome["phase"] not in (None, "Pending"):
                    pod_name = pod.metadata.name
            job_status = batch.read_namespaced_job_status(job_name, self.namespace).status
            if pod_name is None and job_status is not None and job_status.failed and not pods:
                outcome.update(status="Failed", reason="no pod started")
                return outcome
            if pod_name is None:
                time.sleep(POLL_SECONDS)
        log = core.read_namespaced_pod_log(
            pod_name, self.namespace, container=CONTAINER_NAME, follow=True, _preload_content=False
        )
        for chunk in log.stream():
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        while True:
            job_status = batch.read_namespaced_job_status(job_name, self.namespace).status
            if job_status is not None and (job_status.succeeded or job_status.failed):
                break
            time.sleep(POLL_SECONDS)
        pod = core.read_namespaced_pod(pod_name, self.namespace)
        outcome.update(status="Succeeded" if job_status.succeeded else "Failed",
                       phase=getattr(pod.status, "phase", None))
        for container_status in getattr(pod.status, "container_statuses", None) or []:
            terminated = getattr(container_status.state, "terminated", None)
            if container_status.name == CONTAINER_NAME and terminated is not None:
                outcome.update(exit_code=terminated.exit_code, reason=terminated.reason)
        return outcome
