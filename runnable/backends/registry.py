"""Find a backend class by section and type name, importing it only when it is used.

Built-in backends are listed here; other packages add their own through entry points in the group
``runnable.<section>`` (``runnable.catalog``, ``runnable.run_log_store``, ``runnable.job_executor``,
``runnable.secrets``), e.g. in their ``pyproject.toml``::

    [project.entry-points."runnable.catalog"]
    my-store = "my_package.store:MyStorage"
"""

from __future__ import annotations

import importlib
from typing import Any

from runnable.errors import ConfigurationError, MissingExtraError

# section -> type -> (dotted path "module:attribute", extra that provides its dependencies or None)
BUILTIN: dict[str, dict[str, tuple[str, str | None]]] = {
    "catalog": {
        "file-system": ("runnable.backends.local.catalog:FileSystemStorage", None),
        "s3": ("runnable.backends.s3.catalog:S3Storage", "s3"),
    },
    "run-log-store": {
        "file-system": ("runnable.backends.runlog:FileSystemRunLogStore", None),
        "s3": ("runnable.backends.s3.runlog:S3RunLogStore", "s3"),
    },
    "job-executor": {
        "local": ("runnable.executors.local:LocalExecutor", None),
        "local-container": ("runnable.executors.container:LocalContainerExecutor", None),
        "k8s-job": ("runnable.executors.k8s:KubernetesJobExecutor", "k8s"),
    },
    "secrets": {
        "env": ("runnable.backends.secrets:EnvSecrets", None),
        "dotenv": ("runnable.backends.secrets:DotEnvSecrets", None),
    },
    "pipeline-executor": {
        "local": ("runnable.pipeline.executors:LocalPipelineExecutor", None),
        "local-container": ("runnable.pipeline.executors:LocalContainerPipelineExecutor", None),
        "argo": ("runnable.executors.argo.pipeline:ArgoPipelineExecutor", "argo"),
    },
}


def _entry_points(section: str) -> dict[str, Any]:
    from importlib.metadata import entry_points

    group = "runnable." + section.replace("-", "_")
    return {ep.name: ep for ep in entry_points(group=group)}


def known_types(section: str) -> list[str]:
    """Every type name ``section`` accepts: the built-in ones and those other packages register."""
    return sorted(set(BUILTIN.get(section, {})) | set(_entry_points(section)))


def resolve(section: str, type_name: str, check_only: bool = False) -> Any:
    """The class registered as ``type_name`` in ``section`` (or None with ``check_only``).

    Raises ConfigurationError listing the known types for an unknown name, and MissingExtraError
    naming the extra to install when the backend's optional dependency is missing.
    """
    builtin = BUILTIN.get(section, {})
    if type_name in builtin:
        target, extra = builtin[type_name]
        if check_only:
            return None
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            if extra and not (missing or "").startswith("runnable"):
                raise MissingExtraError(
                    f"{section} type {type_name!r} needs the optional dependency {missing!r}; "
                    f"install it with: pip install 'runnable[{extra}]'"
                ) from exc
            raise
        return getattr(module, attribute)
    plugins = _entry_points(section)
    if type_name in plugins:
        if check_only:
            return None
        entry_point = plugins[type_name]
        try:
            return entry_point.load()
        except (ImportError, AttributeError) as exc:
            dist = getattr(entry_point.dist, "name", None) or "its package"
            raise ConfigurationError(
                f"{section} type {type_name!r} is registered by {dist} as {entry_point.value!r} but cannot "
                f"be loaded ({type(exc).__name__}: {exc}); reinstall {dist} or fix the entry point"
            ) from exc
    raise ConfigurationError(
        f"unknown {section} type {type_name!r}; known types: {', '.join(known_types(section))}"
    )
