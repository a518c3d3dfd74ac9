"""The settings of the ``argo`` pipeline executor, checked when the configuration file is loaded.

::

    pipeline-executor:
      type: argo
      config:
        image: registry.example.com/my-project:1.4   # the project and runnable, at working_dir
        namespace: ml
        service_account: argo-runner          # upstream's name: service_account_name
        resources: {requests: {cpu: 1, memory: 2Gi}, limits: {memory: 4Gi}}
        node_selector: {pool: cpu}
        tolerations: [{key: spot, operator: Exists, effect: NoSchedule}]
        parallelism: 5                        # at most 5 pods of the workflow at once
        retry: {limit: 2, policy: OnFailure, backoff: {duration: 30s, factor: 2, max_duration: 10m}}
        active_deadline_seconds: 86400        # the whole workflow; upstream: max_workflow_duration_in_seconds
        max_step_duration_in_seconds: 7200    # each step's pod
        cron_schedule: "0 3 * * *"            # a CronWorkflow instead of a Workflow
        pvc_claim_name: runnable-data         # for a file-system catalog / run-log store
        secret_name: my-project-secrets       # the Secret holding the steps' secrets and S3 credentials
        overrides:                            # per task: PythonTask(..., overrides={"argo": "gpu"})
          gpu: {resources: {limits: {nvidia.com/gpu: 1}}, node_selector: {pool: gpu}}

The names are upstream runnable's (its ``argo`` executor) where it has the setting, and the
``k8s-job`` executor's otherwise (``namespace``, ``pvc_claim_name``, ``secret_name``,
``secret_refs``). Upstream's ``service_account_name``, ``max_workflow_duration_in_seconds``,
``retry_strategy`` and ``secrets_from_k8s`` are taken as written there.

``ArgoConfig``'s constructor is the schema: ``runnable.config`` checks each key against its
annotations (one line naming the key, never the value), the constructor what an annotation cannot
say. Nothing here imports hera or the Kubernetes client: a wrong setting is reported without them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, get_args

from runnable.config.settings import check_types, shown, shown_key
from runnable.errors import ConfigurationError
from runnable.executors.cron import check_schedule

SECTION = "pipeline-executor"
LABEL = "pipeline-executor (argo)"
PullPolicy = Literal["Always", "IfNotPresent", "Never"]
RetryPolicy = Literal["Always", "OnFailure", "OnError", "OnTransientError"]
Scalar = str | int | float | bool
# Kubernetes names: a namespace, Secret or claim is an RFC 1123 label or subdomain.
NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
# A Kubernetes quantity ("500m", "2Gi", "1e3", "0.5"), as resource.ParseQuantity takes it.
QUANTITY = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?")
# A Go duration or a number of seconds, as Argo's backoff reads them ("30s", "2m", "1h30m", "10").
DURATION = re.compile(r"\d+|(\d+(\.\d+)?(ns|us|ms|s|m|h))+")
TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class Retry:
    """How Argo retries a failed step's pod: ``retryStrategy`` (limit, policy, backoff)."""

    limit: int
    policy: str | None = None
    backoff_duration: str | None = None
    backoff_factor: int | None = None
    backoff_max_duration: str | None = None


@dataclass(frozen=True)
class Override:
    """Settings one task changes (``overrides: {name: {...}}``); None keeps the executor's own.

    ``parallelism`` bounds the DAG of a Parallel or Map step naming the override (rendered with
    the pipelines); the rest apply to the step's container template.
    """

    image: str | None = None
    resources: dict[str, dict[str, str]] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    parallelism: int | None = None
    retry: Retry | None = None
    image_pull_policy: str | None = None
    max_step_duration_in_seconds: int | None = None
    environment: dict[str, str] = field(default_factory=dict)


class _Checks:
    """The checks the top level and each override share; ``where`` names the place in messages."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, why: str) -> ConfigurationError:
        return ConfigurationError(f"{self.where}: '{key}' {why}")

    def positive(self, key: str, value: int | None, low: int = 1) -> int | None:
        if value is not None and value < low:
            raise self.fail(key, f"must be {low} or more")
        return value

    def text(self, key: str, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise self.fail(key, "is empty; give a value or leave the key out")
        return value

    def mapping(self, values: Mapping[Any, Scalar] | None) -> dict[str, str]:
        # Numbers and booleans as Python writes them, as the k8s-job executor does: 8080 -> '8080'.
        return {str(k): str(v) for k, v in (values or {}).items()}

    def resources(self, value: Mapping[str, Mapping[str, Scalar]] | None) -> dict[str, dict[str, str]] | None:
        if value is None:
            return None
        checked: dict[str, dict[str, str]] = {}
        for part, amounts in value.items():
            if part not in ("requests", "limits"):
                raise self.fail("resources", f"has the key {shown_key(part)}; it takes 'requests' and 'limits'")
            checked[part] = {}
            for name, amount in amounts.items():
                # YAML reads 'cpu: 1' as a number; Kubernetes quantities are strings ("1", "500m").
                text = str(amount)
                if isinstance(amount, bool) or not QUANTITY.fullmatch(text):
                    raise self.fail("resources", f"{part}[{shown_key(name)}] is not a Kubernetes quantity such as "
                                    "1, 500m, 2Gi or 0.5")
                checked[part][str(name)] = text
        return checked

    def tolerations(self, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        for index, item in enumerate(value):
            where = f"tolerations[{index}]"
            unknown = [k for k in item if k not in TOLERATION_KEYS]
            if unknown:
                raise self.fail(where, f"has the unknown key {shown_key(unknown[0])}; it takes "
                                + ", ".join(sorted(TOLERATION_KEYS)))
            if item.get("operator", "Equal") not in TOLERATION_OPERATORS:
                raise self.fail(where, "'operator' must be one of " + ", ".join(TOLERATION_OPERATORS))
            if "effect" in item and item["effect"] not in TOLERATION_EFFECTS:
                raise self.fail(where, "'effect' must be one of " + ", ".join(TOLERATION_EFFECTS))
            seconds = item.get("tolerationSeconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
                raise self.fail(where, f"'tolerationSeconds' must be a whole number, not {shown(seconds)}")
            for key in ("key", "value"):
                if key in item and not isinstance(item[key], str):
                    raise self.fail(where, f"{key!r} must be a string, not {shown(item[key])}; write it in quotes")
        return [dict(item) for item in value]

    def retry(self, key: str, value: Mapping[str, Any] | None) -> Retry | None:
        if value is None:
            return None
        unknown = [k for k in value if k not in ("limit", "policy", "backoff")]
        if unknown:
            raise self.fail(key, f"has the unknown key {shown_key(unknown[0])}; it takes limit, policy and backoff")
        limit = value.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise self.fail(key, f"needs 'limit', a whole number (retries after the first try), not {shown(limit)}")
        if limit < 0:
            raise self.fail(f"{key}.limit", "must be 0 or more")
        policy = value.get("policy")
        if policy is not None and policy not in get_args(RetryPolicy):
            raise self.fail(f"{key}.policy", "must be one of " + ", ".join(get_args(RetryPolicy)))
        backoff = value.get("backoff") or {}
        if not isinstance(backoff, dict):
            raise self.fail(f"{key}.backoff", f"must be a mapping, not {shown(backoff)}")
        unknown = [k for k in backoff if k not in ("duration", "factor", "max_duration")]
        if unknown:
            raise self.fail(f"{key}.backoff", f"has the unknown key {shown_key(unknown[0])}; it takes duration, factor "
                            "and max_duration")
        durations = {}
        for part in ("duration", "max_duration"):
            written = backoff.get(part)
            if written is not None and (isinstance(written, bool) or not DURATION.fullmatch(str(written))):
                raise self.fail(f"{key}.backoff.{part}", "must be seconds or a duration such as 30s, 2m or 1h30m")
            durations[part] = None if written is None else str(written)
        factor = backoff.get("factor")
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, int) or factor < 1):
            raise self.fail(f"{key}.backoff.factor", "must be a whole number of 1 or more")
        return Retry(limit, policy, durations["duration"], factor, durations["max_duration"])


class ArgoConfig:
    """The ``argo`` pipeline executor's settings, checked (``pipeline-executor: {type: argo, config: ...}``).

    >>> ArgoConfig(image="proj:1", parallelism=4).parallelism
    4
    """

    def __init__(
        self,
        image: str,
        namespace: str = "default",
        service_account: str | None = None,
        resources: dict[str, dict[str, Scalar]] | None = None,
        node_selector: dict[str, Scalar] | None = None,
        tolerations: list[dict[str, Any]] | None = None,
        parallelism: int | None = None,
        retry: dict[str, Any] | None = None,
        active_deadline_seconds: int | None = None,
        max_step_duration_in_seconds: int | None = None,
        cron_schedule: str | None = None,
        pvc_claim_name: str | None = None,
        secret_name: str | None = None,
        secret_refs: dict[str, dict[str, str]] | None = None,
        environment: dict[str, Scalar] | None = None,
        image_pull_policy: PullPolicy | None = None,
        labels: dict[str, Scalar] | None = None,
        annotations: dict[str, Scalar] | None = None,
        name: str = "runnable-",
        working_dir: str = "/app",
        output_file: str = "argo-pipeline.yaml",
        overrides: dict[str, dict[str, Any]] | None = None,
        # Upstream runnable's names for settings above: taken as written there.
        service_account_name: str | None = None,
        max_workflow_duration_in_seconds: int | None = None,
        retry_strategy: dict[str, Any] | None = None,
        secrets_from_k8s: list[dict[str, str]] | None = None,
    ) -> None:
        checks = _Checks(LABEL)
        for ours, theirs, a, b in (("service_account", "service_account_name", service_account, service_account_name),
                                   ("active_deadline_seconds", "max_workflow_duration_in_seconds",
                                    active_deadline_seconds, max_workflow_duration_in_seconds),
                                   ("retry", "retry_strategy", retry, retry_strategy)):
            if a is not None and b is not None:
                raise checks.fail(ours, f"and {theirs!r} (upstream's name for it) are both given; keep one")
        self.image = checks.text("image", image)
        if not NAMESPACE.fullmatch(namespace):
            raise checks.fail("namespace", "is not a Kubernetes namespace name: at most 63 lower-case letters, digits "
                              "and '-', starting and ending with a letter or digit")
        self.namespace = namespace
        self.service_account = checks.text("service_account", _either(service_account, service_account_name))
        self.resources = checks.resources(resources)
        self.node_selector = checks.mapping(node_selector)
        self.tolerations = checks.tolerations(tolerations)
        self.parallelism = checks.positive("parallelism", parallelism)
        self.retry = checks.retry("retry", retry if retry is not None else retry_strategy)
        self.active_deadline_seconds = checks.positive(  # named in a message as the file wrote it
            "active_deadline_seconds" if active_deadline_seconds is not None else "max_workflow_duration_in_seconds",
            _either(active_deadline_seconds, max_workflow_duration_in_seconds))
        self.max_step_duration_in_seconds = checks.positive("max_step_duration_in_seconds", max_step_duration_in_seconds)
        self.cron_schedule = None if cron_schedule is None else check_schedule(cron_schedule, f"{LABEL}: 'cron_schedule'")
        for key, value in (("pvc_claim_name", pvc_claim_name), ("secret_name", secret_name)):
            if value is not None and not SUBDOMAIN.fullmatch(value):
                raise checks.fail(key, "is not a Kubernetes object name: lower-case letters, digits, '-' and '.'")
        self.pvc_claim_name = pvc_claim_name
        self.secret_name = secret_name
        self.secret_refs = self._secret_refs(checks, secret_refs, secrets_from_k8s)
        self.environment = checks.mapping(environment)
        self.image_pull_policy = image_pull_policy
        self.labels = checks.mapping(labels)
        self.annotations = checks.mapping(annotations)
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,40})", name):
            raise checks.fail("name", "is the prefix of the workflow's name: at most 41 lower-case letters, digits and "
                              "'-', starting with a letter or digit (Argo appends 5 characters)")
        self.name = name
        if not PurePosixPath(working_dir).is_absolute():
            raise checks.fail("working_dir", "must be an absolute path in the image")
        self.working_dir = working_dir
        self.output_file = checks.text("output_file", output_file)
        self.overrides = {str(k): self._override(str(k), v) for k, v in (overrides or {}).items()}

    @staticmethod
    def _secret_refs(checks: _Checks, refs: dict[str, dict[str, str]] | None,
                     upstream: list[dict[str, str]] | None) -> dict[str, tuple[str, str]]:
        """Each environment variable filled from a Secret: {variable: (Secret, key)}."""
        found: dict[str, tuple[str, str]] = {}
        for variable, ref in (refs or {}).items():
            if set(ref) != {"name", "key"}:
                raise checks.fail(f"secret_refs[{variable!r}]", "must be {name: <Secret>, key: <key>}, these two keys")
            found[variable] = (ref["name"], ref["key"])
        for index, item in enumerate(upstream or []):
            if set(item) != {"environment_variable", "secret_name", "secret_key"}:
                raise checks.fail(f"secrets_from_k8s[{index}]", "must have the keys environment_variable, "
                                  "secret_name and secret_key, and no others")
            if item["environment_variable"] in found:
                raise checks.fail(f"secrets_from_k8s[{index}]", "names a variable 'secret_refs' names too; keep one")
            found[item["environment_variable"]] = (item["secret_name"], item["secret_key"])
        return found

    def _override(self, name: str, settings: Any) -> Override:
        where = f"{LABEL}: overrides[{name!r}]"
        if not isinstance(settings, dict):
            raise ConfigurationError(f"{where} must be a mapping of settings, not {shown(settings)}")
        allowed = list(Override.__dataclass_fields__)
        unknown = [k for k in settings if k not in allowed]
        if unknown:
            raise ConfigurationError(f"{where} has the unknown key {shown_key(unknown[0])}; an override takes "
                                     + ", ".join(allowed))
        try:
            check_types(_OverrideSettings, settings, SECTION)
        except ConfigurationError as exc:  # the same message, told which override
            raise ConfigurationError(str(exc).replace(f" in section {SECTION!r} of <dict>",
                                                f" in overrides[{name!r}] of section {SECTION!r}")) from None
        checks = _Checks(where)
        return Override(
            image=checks.text("image", settings.get("image")),
            resources=checks.resources(settings.get("resources")),
            node_selector=checks.mapping(settings["node_selector"]) if "node_selector" in settings else None,
            tolerations=checks.tolerations(settings.get("tolerations")),
            parallelism=checks.positive("parallelism", settings.get("parallelism")),
            retry=checks.retry("retry", settings.get("retry")),
            image_pull_policy=settings.get("image_pull_policy"),
            max_step_duration_in_seconds=checks.positive("max_step_duration_in_seconds",
                                                         settings.get("max_step_duration_in_seconds")),
            environment=checks.mapping(settings.get("environment")),
        )

    def override(self, name: str | None) -> Override:
        """The override a task names (``overrides={"argo": name}``); an unknown name is one line."""
        if name is None:
            return Override()
        if name not in self.overrides:
            known = ", ".join(sorted(self.overrides)) or "none are configured"
            raise ConfigurationError(f"a task asks for the argo override {name!r}, which {LABEL} does not define; "
                                     f"known overrides: {known}")
        return self.overrides[name]


def _either(ours: Any, upstream: Any) -> Any:
    """Our setting, or upstream's name for it (never both: the constructor refuses that first)."""
    return ours if ours is not None else upstream


class _OverrideSettings:
    """The types one override takes: what ``check_types`` reads (never built)."""

    def __init__(
        self,
        image: str | None = None,
        resources: dict[str, dict[str, Scalar]] | None = None,
        node_selector: dict[str, Scalar] | None = None,
        tolerations: list[dict[str, Any]] | None = None,
        parallelism: int | None = None,
        retry: dict[str, Any] | None = None,
        image_pull_policy: PullPolicy | None = None,
        max_step_duration_in_seconds: int | None = None,
        environment: dict[str, Scalar] | None = None,
    ) -> None:
        raise NotImplementedError  # pragma: no cover


def parse(section: Any, source: str = "<dict>") -> ArgoConfig:
    """The ``pipeline-executor`` section (``{type: argo, config: {...}}``) checked, as ``ArgoConfig``.

    Each problem is one ConfigurationError line naming the key and ``source`` (the file).

    >>> parse({"type": "argo", "config": {"image": "p:1", "parallelism": 0}}, "'argo.yaml'")
    Traceback (most recent call last):
    runnable.errors.ConfigurationError: pipeline-executor (argo): 'parallelism' must be 1 or more (in 'argo.yaml')
    """
    from runnable.config.loading import check_keys

    if not isinstance(section, dict) or section.get("type") != "argo":
        raise ConfigurationError(f"section {SECTION!r} in {source} must be {{type: argo, config: {{...}}}}")
    unknown = [k for k in section if k not in ("type", "config")]
    if unknown:
        raise ConfigurationError(f"unknown key {shown_key(unknown[0])} in section {SECTION!r} of {source}; "
                                 "use 'type' and 'config'")
    settings = section.get("config") or {}
    if not isinstance(settings, dict):
        raise ConfigurationError(f"section {SECTION!r} in {source}: 'config' must be a mapping, not {shown(settings)}")
    check_keys(ArgoConfig, settings, SECTION, "argo")
    check_types(ArgoConfig, settings, SECTION, source)
    try:
        return ArgoConfig(**settings)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc} (in {source})") from None


def load(path: str) -> ArgoConfig:
    """The ``pipeline-executor`` section of the configuration file at ``path``, checked."""
    from runnable.config.yamlfile import read_yaml

    data = read_yaml(path, "configuration file", ConfigurationError)
    if not isinstance(data, dict) or SECTION not in data:
        raise ConfigurationError(f"configuration file {path!r} has no {SECTION!r} section; add "
                                 f"'{SECTION}: {{type: argo, config: {{image: ...}}}}'")
    return parse(data[SECTION], repr(path))
