"""Checking one backend's settings: each value against its constructor's annotation, paths, messages.

A configuration file gives strings, numbers, booleans, null, lists and mappings. ``check_types``
checks them against the annotations of the backend's constructor, so a backend from another package
is checked the same way as runnable's own::

    check_types(LocalContainerExecutor, {"dry_run": "false"}, "job-executor", "'c.yaml'")
    # ConfigurationError: 'dry_run' in section 'job-executor' of 'c.yaml' must be true or false
    # (without quotes), not a string (5 characters)

No message shows a value, only its kind and size (``shown``): any setting may hold a credential
(``run_args: [-e, TOKEN=...]``), and error messages end up in logs and tickets.

Written by hand rather than with a library, measured (benchmarks/config_bench.py, RESULTS.md
"Checking the configuration"): with pydantic models a trivial job took 2.1x as long over
``python -c`` (+140 ms, its imports alone 56-117 ms), with msgspec 1.24x; the checks themselves cost
0.4 ms a load. Neither names the file and section in its messages, and pydantic repeats the value
(which may be a credential). A model would replace about 110 of these ~500 lines.
"""

from __future__ import annotations

import collections.abc
import inspect
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from runnable.config.yamlfile import FLOAT, INT
from runnable.errors import ConfigurationError

_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


def check_path(
    value: Any, key: str, section: str, source: str | None = None, kind: str = "folder", default: str | None = None
) -> str:
    """``value`` of the path setting ``key``, a leading '~' expanded; ConfigurationError if unusable.

    ``source`` names the file in messages, ``kind`` says what the path names ("folder", "file") and
    ``default`` is what leaving the key out gives. ``$NAME`` is refused, not expanded: a folder
    named '$HOME' is a hazard to delete.

    >>> check_path("runs/a", "log_folder", "run-log-store", "'c.yaml'")
    'runs/a'
    """
    where = f"{key!r} in section {section!r}" + (f" of {source}" if source else "")
    leave_out = f"leave the key out for the default {default!r}" if default else "leave the key out"
    if value is None:  # also 'key: ~': a lone '~' is null in YAML
        raise ConfigurationError(f"{where} must be a {kind} path, not null (a lone '~' is null in YAML); {leave_out}")
    if not isinstance(value, str):
        quote = (
            f"; write it in quotes if that is the {kind}'s name"
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else ""
        )
        raise ConfigurationError(f"{where} must be a {kind} path, not {shown(value)}{quote}")
    if not value.strip():
        raise ConfigurationError(f"{where} is empty; give a {kind} path, or {leave_out}")
    if "\0" in value:  # no system call takes it: it would fail later as "embedded null byte"
        raise ConfigurationError(f"{where} holds a NUL character, which no {kind} path can hold; write the path out")
    variable = _VARIABLE.search(value)
    if variable:
        # The variable's name only: neither the rest of the path nor the variable's value.
        raise ConfigurationError(
            f"{where} holds {variable.group()!r}: variables are not expanded in a configuration file; "
            "write the path out (a leading '~' is your home folder)"
        )
    if value.startswith("~"):
        expanded = os.path.expanduser(value)
        if expanded.startswith("~"):
            user = value[1:].split("/", 1)[0]
            raise ConfigurationError(
                f"{where} starts with '~{user}', but there is no user {user!r} whose home folder it could be; "
                "write the path out"
            )
        return expanded
    return value


def shown(value: Any) -> str:
    """What kind of value ``value`` is, for a message, never the value itself: any setting may hold
    a credential (``run_args: -e TOKEN=...``), and an error message ends up in logs and tickets.

    >>> shown("hunter2"), shown(["a", "b"]), shown({"KEY": 1}), shown(5), shown(True), shown(None)
    ('a string (7 characters)', 'a list (2 items)', 'a mapping (1 key)', 'a number', 'true or false', 'null')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"a string ({len(value)} character{'s' if len(value) != 1 else ''})"
    if isinstance(value, dict):
        return f"a mapping ({len(value)} key{'s' if len(value) != 1 else ''})" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list ({len(value)} item{'s' if len(value) != 1 else ''})" if value else "an empty list"
    return f"a {type(value).__name__}"


def shown_key(key: Any) -> str:
    """A mapping's key, for a message: as written when it looks like a name, else without what could
    be a value (``API_TOKEN=hunter2`` written as a key, Docker-style, holds a credential).

    >>> shown_key("labels"), shown_key("API_TOKEN=hunter2"), shown_key("a b c")
    ("'labels'", "'API_TOKEN' followed by '=' and a value", 'a key that is a string (5 characters)')
    """
    if isinstance(key, str) and re.fullmatch(r"[\w.\-/]{1,80}", key):
        return repr(key)
    if isinstance(key, str) and "=" in key and re.fullmatch(r"[\w.\-/]{1,80}", key.split("=", 1)[0]):
        return f"{key.split('=', 1)[0]!r} followed by '=' and a value"
    return f"a key that is {shown(key)}"


def check_types(cls: Any, settings: Mapping[str, Any], section: str, source: str = "<dict>") -> None:
    """Raise ConfigurationError for a setting whose value does not fit the constructor's annotation.

    Annotations made of what YAML gives (``str``, ``int``, ``float``, ``bool``, ``None``,
    ``Literal[...]``, lists, tuples, mappings, unions of them) are checked, down into lists and
    mappings; a string also fits ``os.PathLike``. Anything else (a class of the backend's own) is
    left to the backend, and so is a parameter whose annotation cannot be resolved here (a name the
    backend imports only for type checkers): the other parameters are still checked.

    >>> class Store:
    ...     def __init__(self, bucket: str, retries: int = 3) -> None: ...
    >>> check_types(Store, {"bucket": "b", "retries": 5}, "catalog")
    >>> check_types(Store, {"retries": "5"}, "catalog", "'c.yaml'")
    Traceback (most recent call last):
    runnable.errors.ConfigurationError: 'retries' in section 'catalog' of 'c.yaml' must be a whole number, \
not a string (1 character); write it without quotes
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
            f"{where} in section {section!r} of {source} must be {expected}, not {_found(found, expected)}"
            f"{_hint(found, expected)}"
        )


def _annotations(cls: Any) -> dict[str, Any]:
    """The resolved annotation of each parameter of ``cls``'s constructor that can be resolved.

    One by one: ``typing.get_type_hints`` fails for all of them when one names something imported
    only under ``TYPE_CHECKING``, which would leave every key of that backend unchecked.
    """
    # The class's own __init__ is what Service.build calls, so its annotations are the ones to check.
    function = cls.__init__ if isinstance(cls, type) else cls  # type: ignore[misc]
    try:
        written = inspect.get_annotations(function)
    except TypeError:  # not a function (a builtin's slot wrapper): nothing to check
        return {}
    namespace = getattr(inspect.unwrap(function), "__globals__", {})
    hints: dict[str, Any] = {}
    for name, annotation in written.items():
        if name == "return":
            continue
        try:
            one = types.SimpleNamespace(__annotations__={name: annotation})
            hints[name] = typing.get_type_hints(one, globalns=namespace)[name]
        except (NameError, TypeError, AttributeError, SyntaxError):
            continue  # left to the backend, as a class of its own would be
    return hints


def _options(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [option for arg in typing.get_args(annotation) for option in _options(arg)]
    return [annotation]


_MAPPINGS = (dict, Mapping, collections.abc.Mapping, collections.abc.MutableMapping)
_LISTS = (list, collections.abc.Sequence, collections.abc.MutableSequence)


def _tuple_length(option: Any) -> int | None:
    """How many items the tuple annotation ``option`` fixes (``tuple[str, int]``: 2), None for any."""
    args = typing.get_args(option)
    if typing.get_origin(option) is not tuple or (len(args) == 2 and args[1] is Ellipsis):
        return None
    return len(args)  # also tuple[()], which get_args gives as ()


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
    if base is tuple:  # YAML has no tuples: a list of that length
        length = _tuple_length(option)
        return isinstance(value, list) and (length is None or len(value) == length)
    if base is os.PathLike:  # YAML has no paths: a string is one, as open() and Path() take it
        return isinstance(value, (str, os.PathLike))
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
            problem = _mismatch(key, args[0], name, f"{suffix} key {shown_key(key)}") or _mismatch(
                item, args[1], name, f"{suffix}[{shown_key(key)}]"
            )
            if problem:
                return problem
    elif (base in _LISTS and args) or (base is tuple and args):
        fixed = _tuple_length(option) is not None
        for index, item in enumerate(value):
            problem = _mismatch(item, args[index] if fixed else args[0], name, f"{suffix}[{index}]")
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
        elif base is tuple:
            length = _tuple_length(option)
            word = "a list" if length is None else f"a list of {length} item{'s' if length != 1 else ''}"
        else:
            word = {
                str: "a string",
                int: "a whole number",
                float: "a number",
                bool: "true or false",
                type(None): "null",
                os.PathLike: "a path",
            }.get(base, getattr(base, "__name__", str(base)))
        if word not in words:
            words.append(word)
    if words == ["true or false"]:
        return "true or false (without quotes)"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _found(value: Any, expected: str) -> str:
    if isinstance(value, float) and "whole number" in expected and "a number" not in expected:
        return "a number with a fraction or an exponent"  # YAML reads 1e3 and 1.0 as such
    return shown(value)


def _hint(found: Any, expected: str) -> str:
    """What to write instead, judged by how YAML would read the text unquoted; never a value."""
    if isinstance(found, str) and "string" not in expected and "path" not in expected:
        whole = "whole number" in expected and INT.match(found)
        number = "a number" in expected and (INT.match(found) or FLOAT.match(found))
        return "; write it without quotes" if whole or number else ""
    if isinstance(found, (int, float)) and "number" not in expected and ("a string" in expected or "path" in expected):
        # YAML reads 1000, 0012, 1e3, true and yes as numbers and booleans; quotes keep them text.
        return "; write it in quotes if it is meant as text"
    return ""
