"""Configuration: which backend serves each service, and its settings.

A YAML file (``execute(configuration_file=...)``, ``--config``, or ``RUNNABLE_CONFIGURATION_FILE``)
picks each service by name::

    catalog:        {type: file-system, config: {catalog_location: .catalog, hash_algorithm: md5}}
    run-log-store:  {type: file-system, config: {log_folder: .run_log_store}}
    job-executor:   {type: local}
    secrets:        {type: env}

Anything left out takes the default above. Validation is strict: unknown sections, types and keys are
errors that name what was wrong and list what is allowed; so are a key given twice
(``runnable.config.yamlfile``), a value of the wrong type (checked against the backend constructor's
annotations by ``runnable.config.settings``: ``dry_run: "false"`` is refused, not taken as true) and a path
setting holding ``$NAME``. A leading ``~`` in a path is the home folder.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnable.backends.protocols import EnvironmentCredentials, FolderBackend
from runnable.backends.registry import BUILTIN, resolve
from runnable.config.settings import check_path, check_types, shown, shown_key
from runnable.config.yamlfile import read_yaml
from runnable.errors import ConfigurationError
from runnable.files.hashing import DEFAULT_ALGORITHM, check_algorithm
from runnable.run import environment as _environment
from runnable.run.environment import ENV_CONFIG, ENV_IN_EXECUTOR

SECTIONS = ("catalog", "run-log-store", "job-executor", "secrets", "pipeline-executor")


@dataclass(frozen=True)
class PathSetting:
    """A setting that is a path on this machine: its key, what it names, and its default.

    A leading '~' is the home folder and ``$NAME`` is refused (``settings.check_path``). With no
    default the setting is optional, and null leaves it out.

    >>> PATH_SETTINGS[("run-log-store", "file-system")]
    PathSetting(key='log_folder', kind='folder', default='.run_log_store')
    """

    key: str
    kind: str  # "folder" or "file", for messages
    default: str | None = None


# Every path setting, by (section, type): the one table the executors' mounts are derived from.
PATH_SETTINGS: dict[tuple[str, str], PathSetting] = {
    ("catalog", "file-system"): PathSetting("catalog_location", "folder", ".catalog"),
    ("run-log-store", "file-system"): PathSetting("log_folder", "folder", ".run_log_store"),
    ("secrets", "dotenv"): PathSetting("location", "file", ".env"),
    ("catalog", "s3"): PathSetting("secrets_file", "file"),
    ("run-log-store", "s3"): PathSetting("secrets_file", "file"),
}
#: The folder setting of each file-system service, by section: what a container mounts and a pod's
#: claim holds.
LOCATION_KEYS = {section: s.key for (section, type_name), s in PATH_SETTINGS.items() if type_name == "file-system"}

#: The type of each section the file leaves out.
DEFAULT_TYPES = {"catalog": "file-system", "run-log-store": "file-system", "job-executor": "local", "secrets": "env",
                 "pipeline-executor": "local"}


def _defaults(section: str, type_name: str) -> dict[str, Any]:
    path = PATH_SETTINGS.get((section, type_name))
    return {path.key: path.default} if path and path.default is not None else {}


#: Each section as it is when the file leaves it out: ``{"type": ..., "config": {...}}``.
DEFAULTS: dict[str, dict[str, Any]] = {
    section: {"type": type_name, "config": _defaults(section, type_name)} for section, type_name in DEFAULT_TYPES.items()
}

# Settings of the catalog section handled by runnable itself, not passed to the storage backend.
CATALOG_SETTINGS = {"hash_algorithm": DEFAULT_ALGORITHM}


@dataclass
class Service:
    """One configured service: its section, backend type and settings."""

    section: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    #: Settings as the file wrote them, for those ``validate`` changed (a leading '~' expanded).
    written: dict[str, Any] = field(default_factory=dict)

    def validate(self, source: str = "<dict>") -> None:
        """Check the type exists and every setting is one its backend takes, of the type it takes.

        Imports the backend. Path settings (``PATH_SETTINGS``) are checked and a leading '~' expanded
        in ``config``; ``source`` names the file in messages.

        >>> Service("secrets", "dotenv", {"location": ".env"}).validate("'c.yaml'")
        """
        settings = self.config
        if self.section == "catalog":
            settings = {k: v for k, v in settings.items() if k not in CATALOG_SETTINGS}
        cls = resolve(self.section, self.type)
        check_keys(cls, settings, self.section, self.type)
        path = PATH_SETTINGS.get((self.section, self.type))
        if path and path.key in self.config and not (self.config[path.key] is None and path.default is None):
            value = self.config[path.key]
            checked = check_path(value, path.key, self.section, source, path.kind, path.default)
            if checked != value:
                self.written[path.key] = value
                self.config[path.key] = checked
        check_types(cls, {k: v for k, v in settings.items() if not path or k != path.key}, self.section, source)

    def folder_setting(self) -> str | None:
        """The setting naming the folder on this machine this service keeps everything in (a
        file-system catalog's ``catalog_location``), or None for a store reached over the network.

        >>> Service("catalog", "file-system").folder_setting()
        'catalog_location'
        """
        cls = resolve(self.section, self.type)
        return cls.folder_setting if isinstance(cls, FolderBackend) else None

    def credential_variables(self) -> tuple[str, ...]:
        """The environment variables this service reads its credentials from (none for a folder)."""
        cls = resolve(self.section, self.type)
        return tuple(cls.credential_variables) if isinstance(cls, EnvironmentCredentials) else ()

    def build(self, **extra: Any) -> Any:
        """Import the backend class and construct it with the settings (checked by name).

        >>> Service("secrets", "dotenv", {"location": "team.env"}).build().location
        'team.env'
        """
        cls = resolve(self.section, self.type)
        settings = {**self.config, **extra}
        check_keys(cls, settings, self.section, self.type)
        label = f"{self.section} ({self.type})"
        try:
            return cls(**settings)
        except ConfigurationError as exc:
            if str(exc).startswith(label) or f"section {self.section!r}" in str(exc):
                raise
            # Not chained: the backend's own message, only told which section it is about.
            raise type(exc)(f"{label}: {exc}") from None
        except (TypeError, ValueError) as exc:
            # Chained: a constructor that fails this way on settings that passed the checks above is
            # most likely a bug in the backend, and its traceback is what fixes it.
            raise ConfigurationError(f"{label}: {exc}") from exc


@dataclass
class Configuration:
    """The whole configuration, defaults filled in."""

    services: dict[str, Service]
    source: str = "<defaults>"
    path: Path | None = None  # the file it came from, absolute; None for the defaults

    @property
    def in_executor(self) -> bool:
        """True in the process a container or Kubernetes executor started to run the job."""
        return _environment.flag(ENV_IN_EXECUTOR)

    def executor(self) -> Any:
        """The job executor to use: the configured one, or ``local`` inside a container/pod."""
        if self.in_executor:
            from runnable.executors.local import LocalExecutor

            return LocalExecutor()
        return self.services["job-executor"].build()

    def secrets_backend(self) -> Any:
        """The secrets backend: the configured one, or the environment inside a container/pod."""
        if self.in_executor:
            from runnable.backends.secrets import EnvSecrets

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
    """Raise ConfigurationError naming any setting the backend's constructor does not take.

    >>> from runnable.backends.secrets import DotEnvSecrets
    >>> check_keys(DotEnvSecrets, {"path": ".env"}, "secrets", "dotenv")
    Traceback (most recent call last):
    runnable.errors.ConfigurationError: unknown key 'path' in section 'secrets' (type 'dotenv'); known keys: location
    """
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
            f"unknown key {shown_key(extra[0])} in section {section!r} (type {type_name!r}); {hint}known keys: {known}"
        )
    missing = [n for n in allowed if params[n].default is inspect.Parameter.empty and n not in settings]
    if missing:
        raise ConfigurationError(
            f"section {section!r} (type {type_name!r}) needs the key {missing[0]!r} in its 'config'"
        )


def parse(data: Any, source: str = "<dict>", path: Path | None = None) -> Configuration:
    """Validate a configuration mapping (as loaded from YAML) and fill in defaults.

    >>> parse({"job-executor": {"type": "local"}})["catalog"].config
    {'catalog_location': '.catalog'}
    """
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
            raise ConfigurationError(f"section {section!r} in {source}: 'type' must be a name, not {shown(type_name)}")
        config = raw.get("config") or {}
        if not isinstance(config, dict):
            raise ConfigurationError(f"section {section!r} in {source}: 'config' must be a mapping")
        if type_name == DEFAULTS[section]["type"]:
            config = {**DEFAULTS[section]["config"], **config}
        service = Service(section, type_name, dict(config))
        service.validate(source)
        if section in ("job-executor", "pipeline-executor") and type_name in BUILTIN[section]:
            # The built-in executors' constructors only check their settings: building one here
            # reports a wrong value (a relative working_dir, a cron typo) when the file is loaded.
            try:
                service.build()
            except ConfigurationError as exc:
                # The same error, told the file; chained to what build() chained it to (a backend's
                # own bug), not to itself, which would print the message twice.
                raise type(exc)(f"{exc} (in {source})") from exc.__cause__
        services[section] = service
    algorithm = services["catalog"].config.get("hash_algorithm", DEFAULT_ALGORITHM)
    try:
        check_algorithm(algorithm)
    except ConfigurationError as exc:
        # Not chained: check_algorithm's message is all there is, now told where.
        raise ConfigurationError(f"section 'catalog' in {source}: {exc}") from None
    return Configuration(services, source, path)


def load(path: str | os.PathLike[str] | None = None) -> Configuration:
    """Load the configuration file at ``path``, or ``$RUNNABLE_CONFIGURATION_FILE``, or the defaults.

    >>> load("no-such.yaml")
    Traceback (most recent call last):
    runnable.errors.ConfigurationError: configuration file 'no-such.yaml' does not exist
    """
    if path is None:
        path = _environment.text(ENV_CONFIG)
    if path is None:
        return parse({}, "<defaults>")
    data = read_yaml(path, "configuration file", ConfigurationError)
    return parse(data, repr(str(path)), Path(path).absolute())
