"""Configuration: which backend serves each service, and its settings.

A YAML file (``execute(configuration_file=...)``, ``--config``, or ``RUNNABLE_CONFIGURATION_FILE``)
picks each service by name::

    catalog:        {type: file-system, config: {catalog_location: .catalog, hash_algorithm: md5}}
    run-log-store:  {type: file-system, config: {log_folder: .run_log_store}}
    job-executor:   {type: local}
    secrets:        {type: env}

Anything left out takes the default above. Validation is strict: unknown sections, types and keys are
errors that name what was wrong and list what is allowed; so are a key given twice, a value of the
wrong type (checked against the backend constructor's annotations: ``dry_run: "false"`` is refused,
not taken as true) and a path setting holding ``$NAME``. A leading ``~`` in a path is the home folder.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from runnable.errors import ConfigurationError
from runnable.hashing import DEFAULT_ALGORITHM, check_algorithm
from runnable.registry import BUILTIN, resolve

if TYPE_CHECKING:
    import yaml

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

# Settings that are paths on this machine, by (section, type): the key, what it names, its default.
# A leading '~' is the home folder; '$NAME' is refused (a folder named '$HOME' is a hazard to delete).
PATH_SETTINGS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("catalog", "file-system"): ("catalog_location", "folder", ".catalog"),
    ("run-log-store", "file-system"): ("log_folder", "folder", ".run_log_store"),
    ("secrets", "dotenv"): ("location", "file", ".env"),
}
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


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

        Imports the backend. Path settings (``catalog_location``, ``log_folder``, dotenv ``location``)
        are checked and a leading '~' expanded in ``config``; ``source`` names the file in messages.
        """
        settings = self.config
        if self.section == "catalog":
            settings = {k: v for k, v in settings.items() if k not in CATALOG_SETTINGS}
        cls = resolve(self.section, self.type)
        check_keys(cls, settings, self.section, self.type)
        path_key = PATH_SETTINGS.get((self.section, self.type))
        if path_key and path_key[0] in self.config:
            key, kind, default = path_key
            value = self.config[key]
            path = check_path(value, key, self.section, source, kind, default)
            if path != value:
                self.written[key] = value
                self.config[key] = path
        check_types(cls, {k: v for k, v in settings.items() if not path_key or k != path_key[0]},
                    self.section, source)

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
            # Not chained: the backend's own frames say nothing more to the user than the message.
            raise ConfigurationError(f"{self.section} ({self.type}): {exc}") from None


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


def check_path(value: Any, key: str, section: str, source: str, kind: str = "folder", default: str = "") -> str:
    """``value`` of the path setting ``key``, a leading '~' expanded; ConfigurationError if unusable.

    >>> check_path("runs/a", "log_folder", "run-log-store", "'c.yaml'")
    'runs/a'
    """
    where = f"{key!r} in section {section!r} of {source}"
    leave_out = f"leave the key out for the default {default!r}" if default else "leave the key out"
    if value is None:  # also 'key: ~': a lone '~' is null in YAML
        raise ConfigurationError(f"{where} must be a {kind} path, not null (a lone '~' is null in YAML); {leave_out}")
    if not isinstance(value, str):
        quote = (f"; write it in quotes if that is the {kind}'s name: '{value}'"
                 if isinstance(value, (int, float)) and not isinstance(value, bool) else "")
        raise ConfigurationError(f"{where} must be a {kind} path, not {shown(value)}{quote}")
    if not value.strip():
        raise ConfigurationError(f"{where} is empty; give a {kind} path, or {leave_out}")
    variable = _VARIABLE.search(value)
    if variable:
        # No example with the variable's value filled in: an error message must not show the environment.
        raise ConfigurationError(
            f"{where} is {value!r}, which holds {variable.group()!r}: variables are not expanded in a "
            "configuration file; write the path out (a leading '~' is your home folder)"
        )
    if value.startswith("~"):
        expanded = os.path.expanduser(value)
        if expanded.startswith("~"):
            user = value[1:].split("/", 1)[0]
            raise ConfigurationError(
                f"{where} is {value!r}, but there is no user {user!r} whose home folder it could be; "
                "write the path out"
            )
        return expanded
    return value


def shown(value: Any) -> str:
    """``value`` as a message shows it, with what kind of value it is: ``the number 5``."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {text}"
    if isinstance(value, (int, float)):
        return f"the number {text}"
    if isinstance(value, dict):
        # Keys only: a mapping in the wrong place may hold credentials (secrets_file: {KEY: value}).
        keys = ", ".join(repr(k) for k in list(value)[:5]) + (", ..." if len(value) > 5 else "")
        return f"a mapping (with the keys {keys})" if value else "an empty mapping"
    kinds: dict[type, str] = {str: "string", list: "list"}
    kind = kinds.get(type(value))
    return f"the {kind} {text}" if kind else text


def check_types(cls: Any, settings: Mapping[str, Any], section: str, source: str = "<dict>") -> None:
    """Raise ConfigurationError for a setting whose value does not fit the constructor's annotation.

    YAML gives strings, numbers, booleans, null, lists and mappings; annotations made of those
    (``str``, ``int``, ``bool``, ``dict[str, str]``, ``Literal[...]``, unions) are checked, down into
    lists and mappings. Anything else is left to the backend. Written here rather than with
    pydantic: every run checks its configuration, and importing pydantic alone takes ~80 ms, half
    the start-up budget of a job (benchmarks/RESULTS.md, workload 1).
    """
    hints = _annotations(cls)
    for key, value in settings.items():
        if key not in hints:
            continue
        problem = _mismatch(value, hints[key], key, "")
        if problem is None:
            continue
        name, suffix, expected, found = problem
        where = f"{name}{suffix}" if suffix else repr(name)
        raise ConfigurationError(
            f"{where} in section {section!r} of {source} must be {expected}, not {shown(found)}{_hint(found, expected)}"
        )


def _annotations(cls: Any) -> dict[str, Any]:
    # The class's own __init__ is what build() calls, so its annotations are the ones to check.
    function = cls.__init__ if isinstance(cls, type) else cls  # type: ignore[misc]
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError, AttributeError, SyntaxError):
        return {}  # a plugin annotating with names it imports only for type checking: left to it


def _options(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [option for arg in typing.get_args(annotation) for option in _options(arg)]
    return [annotation]


_MAPPINGS = (dict, Mapping, collections.abc.Mapping, collections.abc.MutableMapping)
_LISTS = (list, collections.abc.Sequence, collections.abc.MutableSequence, tuple)


def _fits(value: Any, option: Any) -> bool:
    """Whether ``value`` has the outer shape of ``option`` (the elements are checked separately)."""
    base = typing.get_origin(option) or option
    if option is Any:
        return True
    if option is type(None):
        return value is None
    if base is Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(option))
    if option is bool:
        return isinstance(value, bool)
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if option is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if option is str:
        return isinstance(value, str)
    if base in _MAPPINGS:
        return isinstance(value, dict)
    if base in _LISTS:
        return isinstance(value, list)
    if base is os.PathLike:
        return isinstance(value, os.PathLike)
    return True  # a type no YAML value has (a class of the backend's own): the backend checks it


def _mismatch(value: Any, annotation: Any, name: str, suffix: str) -> tuple[str, str, str, Any] | None:
    """(name, where inside it, what was expected, the value) of the first part that does not fit."""
    options = _options(annotation)
    first: tuple[str, str, str, Any] | None = None
    for option in options:
        if not _fits(value, option):
            continue
        problem = _inner_mismatch(value, option, name, suffix)
        if problem is None:
            return None
        first = first or problem
    return first or (name, suffix, _expected(options), value)


def _inner_mismatch(value: Any, option: Any, name: str, suffix: str) -> tuple[str, str, str, Any] | None:
    base = typing.get_origin(option)
    args = typing.get_args(option)
    if base in _MAPPINGS and len(args) == 2:
        for key, item in value.items():
            problem = _mismatch(key, args[0], name, f"{suffix} key {key!r}") or _mismatch(
                item, args[1], name, f"{suffix}[{key!r}]")
            if problem:
                return problem
    elif base in _LISTS and args:
        for index, item in enumerate(value):
            problem = _mismatch(item, args[0], name, f"{suffix}[{index}]")
            if problem:
                return problem
    return None


def _expected(options: list[Any]) -> str:
    words: list[str] = []
    for option in options:
        if option is type(None) and len(options) > 1:
            continue  # null means "the default": not worth saying next to the real choices
        if option is int and float in options:
            continue  # "a number" covers it
        base = typing.get_origin(option) or option
        if base is Literal:
            word = "one of " + ", ".join(repr(a) for a in typing.get_args(option))
        elif base in _MAPPINGS:
            word = "a mapping"
        elif base in _LISTS:
            word = "a list"
        else:
            word = {str: "a string", int: "a whole number", float: "a number", bool: "true or false (without quotes)",
                    type(None): "null", os.PathLike: "a path"}.get(base, getattr(base, "__name__", str(base)))
        if word not in words:
            words.append(word)
    return " or ".join(words)


def _hint(found: Any, expected: str) -> str:
    if isinstance(found, str) and "string" not in expected and ("number" in expected):
        try:
            float(found)
        except ValueError:
            return ""
        return "; write it without quotes"
    if isinstance(found, (int, float)) and expected.startswith("a string"):
        # YAML reads 1000, 1.5, true and yes as numbers and booleans; quotes keep them text.
        return "; write it in quotes if it is meant as text" + ("" if isinstance(found, bool) else f": '{found}'")
    return ""


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
        service.validate(source)
        if section == "job-executor" and type_name in BUILTIN[section]:
            # The built-in executors' constructors only check their settings: building one here
            # reports a wrong value (a relative working_dir, a cron typo) when the file is loaded.
            try:
                service.build()
            except ConfigurationError as exc:
                raise type(exc)(f"{exc} (in {source})") from None
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
    data = read_yaml(path, "configuration file", ConfigurationError)
    return parse(data, repr(str(path)), Path(path).absolute())


class _DuplicateKeyError(Exception):
    """A mapping in a YAML file has the same key twice (raised while loading, turned into a message)."""

    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(f"the key {key!r} twice: at line {first.line + 1} and line {second.line + 1}")


@functools.cache
def _strict_loader() -> type[yaml.SafeLoader]:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *base' then a key of its own overrides on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: PyYAML's own error names it
                if first is not key_node.start_mark:
                    raise _DuplicateKeyError(key, first, key_node.start_mark)
            return super().construct_mapping(node, deep)

    return StrictLoader


def read_yaml(path: str | os.PathLike[str], what: str, error: type[Exception]) -> Any:
    """The YAML document in the file at ``path``: safe types only, no key twice in a mapping.

    Every problem (missing, a folder, unreadable, not UTF-8, not YAML, a key given twice) is raised
    as ``error`` with one line naming the file (``what`` says which kind, e.g. "parameters file"),
    the line and column, and what to do; not chained, so no YAML internals follow it.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.yaml"; _ = f.write_text("rate: 0.1")
    >>> read_yaml(f, "parameters file", ValueError)
    {'rate': 0.1}
    """
    import yaml

    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {name!r} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {name!r} is a folder; give the path of a YAML file") from None
    except OSError as exc:
        raise error(f"{what} {name!r} cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(data, exc.start)
        raise error(
            f"{what} {name!r} is not UTF-8 text: the byte 0x{data[exc.start]:02x} at line {line}, column {column} "
            "is not UTF-8; save the file as UTF-8"
        ) from None
    loader = _strict_loader()(text)
    try:
        return loader.get_single_data()
    except _DuplicateKeyError as exc:
        raise error(f"{what} {name!r} has {exc}; keep one") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} {name!r} is not valid YAML: {_yaml_problem(exc, text)}") from None
    finally:
        loader.dispose()


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """(line, column), from 1, of the byte at ``offset``; columns count characters."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace")) + 1


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """One line: where in the file (line, column) and what PyYAML found wrong there."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        message = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem or 'cannot be parsed'}"
        if exc.context:
            context = exc.context
            if exc.context_mark is not None and exc.context_mark.line != mark.line:
                context += f" at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
            message += f" ({context})"
    elif isinstance(exc, yaml.reader.ReaderError):
        start = text.rfind("\n", 0, exc.position) + 1
        line, column = text.count("\n", 0, exc.position) + 1, exc.position - start + 1
        message = f"line {line}, column {column}: unacceptable character #x{exc.character:04x} ({exc.reason})"
    else:
        message = str(exc)
    return " ".join(message.split())
