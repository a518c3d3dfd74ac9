"""Configuration: which backend serves each service, and its settings.

A YAML file (``execute(configuration_file=...)``, ``--config``, or ``RUNNABLE_CONFIGURATION_FILE``)
picks each service by name::

    catalog:        {type: file-system, config: {catalog_location: .catalog, hash_algorithm: md5}}
    run-log-store:  {type: file-system, config: {log_folder: .run_log_store}}
    job-executor:   {type: local}
    secrets:        {type: env}

Anything left out takes the default above. Validation is strict: unknown sections, types and keys are
errors that name what was wrong and list what is allowed.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnable.errors import ConfigurationError
from runnable.hashing import DEFAULT_ALGORITHM, check_algorithm
from runnable.registry import resolve

ENV_CONFIG = "RUNNABLE_CONFIGURATION_FILE"
# Set by the container and Kubernetes executors for the process they start: there the job runs in
# that process (executor ``local``) with secrets from the environment the executor filled, whatever
# the configuration file says, so the job does not launch itself again.
ENV_IN_EXECUTOR = "RUNNABLE_IN_EXECUTOR"
# Set by ``runnable execute-job --dry-run``: the container and Kubernetes executors print what they
# would run instead of running it.
ENV_DRY_RUN = "RUNNABLE_DRY_RUN"

SECTIONS = ("catalog", "run-log-store", "job-executor", "secrets")

DEFAULTS: dict[str, dict[str, Any]] = {
    "catalog": {"type": "file-system", "config": {"catalog_location": ".catalog"}},
    "run-log-store": {"type": "file-system", "config": {"log_folder": ".run_log_store"}},
    "job-executor": {"type": "local", "config": {}},
    "secrets": {"type": "env", "config": {}},
}

# Settings of the catalog section handled by runnable itself, not passed to the storage backend.
CATALOG_SETTINGS = {"hash_algorithm": DEFAULT_ALGORITHM}


@dataclass
class Service:
    """One configured service: its section, backend type and settings."""

    section: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Check the type exists and every setting is one its backend takes (imports the backend)."""
        settings = self.config
        if self.section == "catalog":
            settings = {k: v for k, v in settings.items() if k not in CATALOG_SETTINGS}
        check_keys(resolve(self.section, self.type), settings, self.section, self.type)

    def build(self, **extra: Any) -> Any:
        """Import the backend class and construct it with the settings (checked by name)."""
        cls = resolve(self.section, self.type)
        settings = {**self.config, **extra}
        check_keys(cls, settings, self.section, self.type)
        try:
            return cls(**settings)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"{self.section} ({self.type}): {exc}") from exc


@dataclass
class Configuration:
    """The whole configuration, defaults filled in."""

    services: dict[str, Service]
    source: str = "<defaults>"
    path: Path | None = None  # the file it came from, absolute; None for the defaults

    @property
    def in_executor(self) -> bool:
        """True in the process a container or Kubernetes executor started to run the job."""
        return os.environ.get(ENV_IN_EXECUTOR, "") not in ("", "0")

    def executor(self) -> Any:
        """The job executor to use: the configured one, or ``local`` inside a container/pod."""
        if self.in_executor:
            from runnable.executors.local import LocalExecutor

            return LocalExecutor()
        return self.services["job-executor"].build()

    def secrets_backend(self) -> Any:
        """The secrets backend: the configured one, or the environment inside a container/pod."""
        if self.in_executor:
            from runnable.secrets import EnvSecrets

            return EnvSecrets()
        return self.services["secrets"].build()

    def __getitem__(self, section: str) -> Service:
        return self.services[section]

    @property
    def hash_algorithm(self) -> str:
        return str(self.services["catalog"].config.get("hash_algorithm", DEFAULT_ALGORITHM))

    def storage_service(self) -> Service:
        """The catalog section without runnable's own settings: what the storage backend receives."""
        catalog = self.services["catalog"]
        config = {k: v for k, v in catalog.config.items() if k not in CATALOG_SETTINGS}
        return Service(catalog.section, catalog.type, config)


def check_keys(cls: Any, settings: Mapping[str, Any], section: str, type_name: str) -> None:
    """Raise ConfigurationError naming any setting the backend's constructor does not take."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    params = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    extra = [k for k in settings if k not in allowed]
    if section == "catalog":
        extra = [k for k in extra if k not in CATALOG_SETTINGS]
    if extra:
        known = ", ".join(sorted(allowed + (list(CATALOG_SETTINGS) if section == "catalog" else []))) or "none"
        import difflib  # only for this message

        close = difflib.get_close_matches(extra[0], allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigurationError(
            f"unknown key {extra[0]!r} in section {section!r} (type {type_name!r}); {hint}known keys: {known}"
        )
    missing = [n for n in allowed if params[n].default is inspect.Parameter.empty and n not in settings]
    if missing:
        raise ConfigurationError(
            f"section {section!r} (type {type_name!r}) needs the key {missing[0]!r} in its 'config'"
        )


def parse(data: Any, source: str = "<dict>", path: Path | None = None) -> Configuration:
    """Validate a configuration mapping (as loaded from YAML) and fill in defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"configuration {source} must be a mapping with sections {', '.join(SECTIONS)}")
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        raise ConfigurationError(
            f"unknown section {unknown[0]!r} in configuration {source}; known sections: {', '.join(SECTIONS)}"
        )
    services: dict[str, Service] = {}
    for section in SECTIONS:
        raw = data.get(section)
        if raw is None:
            default = DEFAULTS[section]
            services[section] = Service(section, default["type"], dict(default["config"]))
            continue

        if not isinstance(raw, dict):
            raise ConfigurationError(f"section {section!r} in {source} must be a mapping like {{type: ..., config: {{...}}}}")
        bad = [k for k in raw if k not in ("type", "config")]
        if bad:
            raise ConfigurationError(f"unknown key {bad[0]!r} in section {section!r} of {source}; use 'type' and 'config'")
        type_name = raw.get("type", DEFAULTS[section]["type"])
        if not isinstance(type_name, str):
            raise ConfigurationError(f"section {section!r} in {source}: 'type' must be a name, got {type_name!r}")
        config = raw.get("config") or {}
        if not isinstance(config, dict):
            raise ConfigurationError(f"section {section!r} in {source}: 'config' must be a mapping")
        if type_name == DEFAULTS[section]["type"]:
            config = {**DEFAULTS[section]["config"], **config}
        service = Service(section, type_name, dict(config))
        service.validate()
        services[section] = service
    algorithm = services["catalog"].config.get("hash_algorithm", DEFAULT_ALGORITHM)
    try:
        check_algorithm(algorithm)
    except ConfigurationError as exc:
        raise ConfigurationError(f"section 'catalog' in {source}: {exc}") from None
    return Configuration(services, source, path)


def load(path: str | os.PathLike[str] | None = None) -> Configuration:
    """Load the configuration file at ``path``, or ``$RUNNABLE_CONFIGURATION_FILE``, or the defaults."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
    if path is None:
        return parse({}, "<defaults>")
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"configuration file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"configuration file {str(path)!r} is not UTF-8 text; save it as UTF-8 YAML") from exc
    except IsADirectoryError:
        raise ConfigurationError(f"configuration file {str(path)!r} is a folder; give the path of a YAML file") from None
    except OSError as exc:
        raise ConfigurationError(f"configuration file {str(path)!r} cannot be read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"configuration file {str(path)!r} is not valid YAML: {exc}") from exc
    return parse(data, repr(str(path)), file.absolute())
