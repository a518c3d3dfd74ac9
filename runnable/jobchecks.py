"""The checks every job kind shares: its name, lists of names, a notebook's content.

Kept apart from ``jobs.py`` so that the job classes read as what runs; ``run/execute.py`` checks
``execute(tags=...)`` with ``names_list`` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from runnable.errors import ConfigurationError

#: The longest job name, in bytes of UTF-8: its execution log ``{name}.runnable-execution-NN.log``
#: must still fit the 255 bytes most file systems allow for a file name.
MAX_NAME_BYTES = 200


def check_name(name: str | None) -> str | None:
    """A job name names the execution log in the run's folder: it must be one file name."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"a job's name must be a string, not {type(name).__name__}")
    if not name or "/" in name or "\0" in name:
        raise ConfigurationError(
            f"job name {name!r} cannot be used: the run's folder keeps the execution log as "
            f"'{{name}}.execution.log', so the name must be one non-empty file name, without '/'; "
            "choose another name (for example with '-' instead of '/')"
        )
    try:
        size = len(name.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a lone surrogate that no file name can hold
        raise ConfigurationError(
            f"job name {name!r} holds a character no file name can hold; choose another name"
        ) from None
    if size > MAX_NAME_BYTES:
        raise ConfigurationError(
            f"job name {name[:40]!r}... is {size} bytes long; the "
            f"execution log '{{name}}.execution.log' needs a file name, so a job name may have at most "
            f"{MAX_NAME_BYTES} bytes: choose a shorter name"
        )
    return name


def names_list(value: Sequence[str] | str, what: str) -> list[str]:
    """``value`` as a list of strings (a single string is one name), or a TypeError naming ``what``.

    >>> names_list("model", "PythonJob(returns=...)"), names_list(("a", "b"), "execute(tags=...)")
    (['model'], ['a', 'b'])
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} takes a list of names, not {value!r}")
    names = list(value)
    for item in names:
        if not isinstance(item, str):
            raise TypeError(f"{what} takes a list of names (strings); {item!r} in it is a {type(item).__name__}")
    return names


def check_notebook(source: Path, given: Path) -> None:
    """Raise ConfigurationError unless ``source`` holds a notebook's JSON (an object with cells)."""
    import json

    try:
        content = json.loads(source.read_bytes())
        problem = None if isinstance(content, dict) and "cells" in content else "it has no cells"
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"it is not JSON ({exc})"
    if problem:
        raise ConfigurationError(
            f"notebook {str(given)!r} is not a Jupyter notebook: {problem}; NotebookJob runs .ipynb files "
            "(run a Python script with PythonJob, or ShellJob('python script.py'))"
        )
