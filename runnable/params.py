"""Job parameters: from a YAML file and ``RUNNABLE_PRM_<name>`` environment variables.

The environment wins over the file. A Python job receives each parameter by argument name,
converted to the argument's annotated type; a shell job receives them as environment variables.

>>> def f(x: int, y: str = "a"): ...
>>> bind(f, {"x": "3"})
{'x': 3}
"""

from __future__ import annotations

import inspect
import json
import math
import os
import reprlib
from collections.abc import Callable, Mapping
from typing import Any

from runnable.errors import ParameterError
from runnable.run import environment as _environment
from runnable.run.environment import ENV_PARAMETER_PREFIX as ENV_PREFIX


class _FromEnv(str):
    """A raw string value that came from the environment (converted more freely)."""


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (or JSON) file whose top level is a mapping of parameter names to values."""
    from runnable.config.yamlfile import read_yaml

    data = read_yaml(path, "parameters file", ParameterError)  # one line naming the file, line, column
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ParameterError(
            f"parameters file {str(path)!r} must be a mapping of names to values, e.g. 'learning_rate: 0.1'"
        )
    check_nesting(data, f"parameters file {str(path)!r}: parameter")
    return data


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Parameters given as ``RUNNABLE_PRM_<name>=<value>`` environment variables."""
    return {k: _FromEnv(v) for k, v in _environment.prefixed(ENV_PREFIX, environ).items()}


def collect(parameters_file: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """All parameters for a run: the file's, overridden by the environment's."""
    params: dict[str, Any] = load_file(parameters_file) if parameters_file else {}
    params.update(from_environment(environ))
    return params


# Deepest nesting of lists and mappings a recorded value may have. Records are written and read by
# recursive code (json, copy, PyYAML: 2-3 Python frames a level against a limit of 1,000), so a value
# nested 950 deep could be run with, yet not recorded; real parameters and results stay far below.
MAX_NESTING = 100


def check_nesting(values: Mapping[str, Any], what: str) -> None:
    """Raise ParameterError naming the first of ``values`` nested more than MAX_NESTING levels deep;
    ``what`` says what the names are ("parameter", "return value"). Walked without recursion.

    >>> check_nesting({"x": [[[]]]}, "parameter")
    >>> deep: list[Any] = []
    >>> for _ in range(200): deep = [deep]
    >>> check_nesting({"x": deep}, "return value")
    Traceback (most recent call last):
    ...
    runnable.errors.ParameterError: return value 'x' is nested more than 100 levels deep, which a run record cannot hold; give a flatter value (or save it to a file and catalog that)
    """
    for name, value in values.items():
        stack, seen = [(value, 1)], set()  # seen: a value shared or cyclic (YAML aliases) is walked once
        while stack:
            item, depth = stack.pop()
            if not isinstance(item, _NESTED) or id(item) in seen:
                continue
            if depth > MAX_NESTING:
                raise ParameterError(
                    f"{what} {name!r} is nested more than {MAX_NESTING} levels deep, which a run record cannot "
                    "hold; give a flatter value (or save it to a file and catalog that)"
                )
            seen.add(id(item))
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, _NESTED))


_NESTED = (list, tuple, dict)


def plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as they are recorded: environment strings parsed as JSON where they are JSON.

    A NaN or an infinity is refused (ParameterError naming the parameter): JSON has neither, and a
    parameter recorded as anything else could not be given again as it was.
    """
    out = {k: _guess(v) if isinstance(v, _FromEnv) else v for k, v in params.items()}
    refuse_non_finite(out)
    return out


def non_finite(value: Any) -> tuple[str, str] | None:
    """The first NaN or infinity inside ``value`` (JSON-like data), as (``'NaN'``, where), or None.

    Walked with a stack, not recursion: a deeply nested value is not a reason to crash here.

    >>> non_finite({"a": [1.0, float("-inf")]}), non_finite([1, "nan"])
    (('-Infinity', "['a'][1]"), None)
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return ("NaN" if math.isnan(item) else "Infinity" if item > 0 else "-Infinity"), where
        if isinstance(item, Mapping):
            stack.extend((v, f"{where}[{k!r}]") for k, v in reversed(list(item.items())))
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None


def _non_finite_text(kind: str, name: str, found: tuple[str, str]) -> str:
    word, where = found
    return f"{kind} {name!r} is {word}" if not where else f"{kind} {name!r} holds {word} at {where}"


def refuse_non_finite(params: Mapping[str, Any]) -> None:
    """Raise ParameterError for the first parameter that is or holds a NaN or an infinity.

    >>> refuse_non_finite({"lr": float("nan")})
    Traceback (most recent call last):
    ...
    runnable.errors.ParameterError: parameter 'lr' is NaN, which a run record (JSON) cannot hold; give a finite number
    """
    for name, value in params.items():
        found = non_finite(value)
        if found is not None:
            raise ParameterError(f"{_non_finite_text('parameter', name, found)}, which a run record (JSON) "
                                 "cannot hold; give a finite number")


def finite_returns(returns: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``returns`` with each NaN or infinity replaced by None, and a warning for each value changed.

    A returned value is the job's result (a loss that diverged): refusing it would fail a run whose
    work is done, so it is kept as null, and the warning says which value it was.

    >>> finite_returns({"loss": float("nan"), "n": 3})
    ({'loss': None, 'n': 3}, ["return 'loss' is NaN, which a run record (JSON) cannot hold; recorded as null"])
    """
    out: dict[str, Any] = {}
    warnings: list[str] = []
    for name, value in returns.items():
        found = non_finite(value)
        if found is None:
            out[name] = value
            continue
        warnings.append(f"{_non_finite_text('return', name, found)}, which a run record (JSON) cannot hold; "
                        "recorded as null")
        # json writes them as the bare words NaN / Infinity; parse_constant reads each back as null.
        out[name] = json.loads(json.dumps(value, default=str), parse_constant=lambda _word: None)
    return out, warnings


def _guess(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to be read as JSON
        return str(raw)


def _convert(name: str, value: Any, annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return _guess(value) if isinstance(value, _FromEnv) else value
    if isinstance(value, _FromEnv):
        if annotation is str:
            return str(value)
        value = _guess(value)
    if isinstance(annotation, type) and isinstance(value, annotation) and not (
            type(value) is bool and annotation is not bool):  # (a bool is an int, but not a number to pass)
        # Already what the annotation asks: passed unchanged. Pydantic would return it as is, after
        # a 0.15 s import in every process that converts (each branch of a pipeline's Map, for one),
        # or refuse a plain class it cannot build a schema for (a pickled model, a DataFrame).
        return value
    from pydantic import TypeAdapter, ValidationError  # imported on use: a heavy import

    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors())
        shown = reprlib.repr(value).replace("\n", "\\n")  # one line, however large the value
        raise ParameterError(
            f"parameter {name!r}: cannot convert {shown} to {getattr(annotation, '__name__', annotation)}"
            f" ({reason})"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - pydantic rejects some annotations outright
        if isinstance(exc, ParameterError):
            raise
        # Pydantic's own message spans many lines and names its internals: one line of ours instead.
        raise ParameterError(
            f"parameter {name!r}: the function's argument is annotated {_type_name(annotation)}, which a "
            f"{type(value).__name__} value cannot be converted to; give a {_type_name(annotation)} "
            "(e.g. return it pickled from an earlier step) or change the annotation") from exc


def _type_name(annotation: Any) -> str:
    name = getattr(annotation, "__qualname__", None) or getattr(annotation, "__name__", None)
    return str(name) if isinstance(name, str) else repr(annotation).splitlines()[0][:100]


def bind(function: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments to call ``function`` with: matched by name, converted by annotation.

    Raises ParameterError naming the first required argument that no parameter provides.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return dict(params)
    try:
        from typing import get_type_hints

        hints = get_type_hints(function)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to raw annotations
        hints = {}
    kwargs: dict[str, Any] = {}
    namespaces: list[str] = []
    takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.kind is parameter.POSITIONAL_ONLY:
            if parameter.default is parameter.empty:
                raise ParameterError(f"argument {name!r} of {function.__name__} is positional-only; jobs pass by name")
            continue
        if name in params:
            kwargs[name] = _convert(name, params[name], hints.get(name, parameter.annotation))
            refuse_non_finite({name: kwargs[name]})  # "nan" converted to a float annotation
        elif is_namespace(hints.get(name, parameter.annotation)):
            namespaces.append(name)
        elif parameter.default is parameter.empty:
            raise ParameterError(
                f"parameter {name!r} is required by {function.__name__}() but was not given; "
                f"set it in the parameters file or as {ENV_PREFIX}{name}"
            )
    if namespaces:
        # As upstream: an argument annotated argparse.Namespace, which no parameter names, receives
        # the parameters no other argument took, as attributes (args.learning_rate).
        import argparse

        rest = {n: _convert(n, v, inspect.Parameter.empty) for n, v in params.items() if n not in kwargs}
        for name in namespaces:
            kwargs[name] = argparse.Namespace(**rest)
    elif takes_var_kw:
        for name, value in params.items():
            if name not in kwargs:
                kwargs[name] = _convert(name, value, inspect.Parameter.empty)
    return kwargs


def is_namespace(annotation: Any) -> bool:
    """True for ``argparse.Namespace``, also written as text (``from __future__ import annotations``)."""
    if isinstance(annotation, str):
        return annotation in ("argparse.Namespace", "Namespace")
    return getattr(annotation, "__module__", None) == "argparse" and getattr(annotation, "__name__", None) == "Namespace"


def misspelled(function: Callable[..., Any], params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Given names that look like a misspelled argument of ``function``, as ``(given, argument)``.

    A function with ``**kwargs`` takes every name, and one without a signature tells nothing.

    >>> def train(epochs: int = 3, learning_rate: float = 0.1): ...
    >>> misspelled(train, {"epoch": 50, "epochs_for_another_job": 1})
    [('epoch', 'epochs')]
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return []
    arguments = [name for name, p in signature.parameters.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in params]
    import difflib  # here: only a run with a parameter the function does not take needs it

    found = []
    for name in params:
        if name not in signature.parameters:
            close = difflib.get_close_matches(name, arguments, n=1, cutoff=0.75)
            if close:
                found.append((name, close[0]))
    return found


def plain_defaults(function: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults ``function`` falls back on for arguments no parameter gives, where they are
    numbers, booleans or None: the hyperparameters a run record must show (``epochs=20``). Other
    defaults are left out: a string or an object could be anything, a secret read from the
    environment when the module was imported, or a large value bound with ``functools.partial``.

    >>> def train(epochs: int = 20, rate: float = 0.1, name: str = "m", verbose: bool = False): ...
    >>> plain_defaults(train, {"rate": 0.5})
    {'epochs': 20, 'verbose': False}
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return {}
    return {name: p.default for name, p in signature.parameters.items()
            if name not in params and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and (p.default is None or type(p.default) in (int, bool)
                 or (type(p.default) is float and math.isfinite(p.default)))}  # (JSON has no inf, NaN)


def check_environment(exported: Mapping[str, str]) -> None:
    """Raise ParameterError for a parameter that cannot become an environment variable.

    >>> check_environment({"rate": "0.1"})
    >>> check_environment({"a=b": "1"})
    Traceback (most recent call last):
    ...
    runnable.errors.ParameterError: parameter 'a=b' cannot be passed to a shell command: an environment variable's name cannot be empty or hold '=' or a NUL character; rename the parameter
    """
    for name, value in exported.items():
        if not name or "=" in name or "\0" in name:
            raise ParameterError(
                f"parameter {name!r} cannot be passed to a shell command: an environment variable's name "
                "cannot be empty or hold '=' or a NUL character; rename the parameter"
            )
        if "\0" in value:
            raise ParameterError(
                f"parameter {name!r} holds a NUL character, which an environment variable cannot carry; "
                "pass that value in a file instead"
            )


def to_environment(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as environment variables for a shell job: strings as-is, others as JSON."""
    out: dict[str, str] = {}
    for name, value in plain(params).items():
        out[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def jsonable(value: Any) -> Any:
    """``value`` if it survives a JSON round trip, else a description that does.

    A pydantic model becomes its JSON form, so a recorded parameter can be given again as-is.
    """
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return dump(mode="json")
        except Exception:  # noqa: BLE001 - fall back to the generic description below
            pass
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return {"type": type(value).__qualname__, "repr": repr(value)[:2000]}


# For pipelines: a parameter read from the environment, and how its text is read when no annotation says.
FromEnv = _FromEnv
guess = _guess
