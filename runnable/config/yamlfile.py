"""Reading a YAML file strictly: configuration and parameters files.

``read_yaml`` loads with PyYAML's safe loader, changed in three ways:

* a key given twice in one mapping is an error (PyYAML keeps the last one silently);
* numbers: ``1e-3`` and ``2E+6`` (an exponent with a sign) are floats as in YAML 1.2, where YAML
  1.1 needs a dot; ``1e3`` stays text, as before (a short git hash such as ``1234e56`` must not
  become a number); ``501:20`` is the string a uid:gid is, not the base-60 number 30080. Octal
  ``0012``, ``0x1F``, ``0b11``, ``1_000`` and ``yes``/``no`` booleans are read as PyYAML always has;
* every problem is one line naming the file, the line and the column, never a value from the file.

PyYAML is imported only when a file is read: ``import runnable`` does not pay for it.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

# YAML 1.1's int and float resolvers (PyYAML's), without the base-60 forms, and with exponent
# floats without a dot where the exponent has a sign (1e-3, 2E+6), as YAML 1.2 reads them. Not
# '1e3': a short git hash made of digits and one 'e' (1234e56) must stay text, as it always was.
# Public so that a message can tell whether text would be read as a number.
INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
FLOAT = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+][0-9]+
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


def read_text(path: str | os.PathLike[str], where: str, error: type[Exception], kind: str, it: str) -> str:
    """The UTF-8 text of the file at ``path``, or ``error`` with one line saying what is wrong:
    ``where`` names the file in it, ``kind`` says what it should be, ``it`` refers back to it.

    Not chained: each message says all there is. A byte that is not UTF-8 is given by its line and
    column only, never shown: it may be part of a secret value.

    >>> read_text("/nonexistent.env", "secrets file '/nonexistent.env'", ValueError, "a KEY=value file", "it")
    Traceback (most recent call last):
    ...
    ValueError: secrets file '/nonexistent.env' does not exist
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{where} does not exist") from None
    except IsADirectoryError:
        raise error(f"{where} is a folder; give the path of {kind}") from None
    except OSError as exc:
        raise error(f"{where} cannot be read: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = position(data, exc.start)
        raise error(f"{where} is not UTF-8 text: line {line}, column {column} is not UTF-8; save {it} as UTF-8") from None


def read_yaml(path: str | os.PathLike[str], what: str, error: type[Exception]) -> Any:
    """The YAML document in the file at ``path``: safe types only, no key twice in a mapping.

    Every problem (missing, a folder, unreadable, not UTF-8, not YAML, a key given twice) is raised
    as ``error`` with one line naming the file (``what`` says which kind, e.g. "parameters file"),
    the line and column, and what to do.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.yaml"; _ = f.write_text("rate: 1e-3\\nuser: 501:20")
    >>> read_yaml(f, "parameters file", ValueError)
    {'rate': 0.001, 'user': '501:20'}
    """
    import yaml

    name = str(path)
    text = read_text(path, f"{what} {name!r}", error, "a YAML file", "the file")
    # Not chained, here and below: the message says all there is, and a traceback through PyYAML's
    # reader, scanner and parser would only bury it.
    loader = _strict_loader()(text)
    try:
        return loader.get_single_data()
    except _DuplicateKeyError as exc:
        raise error(f"{what} {name!r} has {exc}; keep one") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} {name!r} is not valid YAML: {_yaml_problem(exc, text)}") from None
    except RecursionError:  # PyYAML nests a Python call per level: about 300 levels exhaust the stack
        raise error(f"{what} {name!r} is nested too deeply to be read (hundreds of levels); keep it flatter") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        # An explicit tag PyYAML cannot apply ('!!int abc', '!!timestamp x'): its error quotes the
        # value, which could be a credential, and names no line.
        raise error(
            f"{what} {name!r} has a value its explicit tag (such as !!int or !!timestamp) cannot read; "
            "remove the tag or fix the value"
        ) from None
    finally:
        loader.dispose()


def position(data: bytes, offset: int) -> tuple[int, int]:
    """(line, column), from 1, of the byte at ``offset`` in ``data``; columns count characters.

    For a message about a file, without quoting it (the bytes around may be part of a secret).

    >>> position(b"a: 1\\nb: caf\\xe9", 11)
    (2, 7)
    """
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace")) + 1


class _DuplicateKeyError(Exception):
    """A mapping in a YAML file has the same key twice (raised while loading, turned into a message)."""

    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark) -> None:
        if first.line == second.line:  # a one-line mapping: '{a: 1, a: 2}'
            where = f"at line {first.line + 1}, columns {first.column + 1} and {second.column + 1}"
        else:
            where = f"at line {first.line + 1} and line {second.line + 1}"
        super().__init__(f"the key {key!r} twice: {where}")


@functools.cache
def _strict_loader() -> type[yaml.SafeLoader]:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """PyYAML's safe loader, refusing a key given twice in one mapping, reading numbers as above."""

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

    # The resolver table is a class attribute shared with SafeLoader: replace it with a copy.
    int_tag, float_tag = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (int_tag, float_tag)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    StrictLoader.add_implicit_resolver(int_tag, INT, list("-+0123456789"))
    StrictLoader.add_implicit_resolver(float_tag, FLOAT, list("-+0123456789."))
    return StrictLoader


# PyYAML quotes what it scanned in a few problems: an alias or a tag is often an unquoted value that
# starts with '*' or '!' (a password), so the message says what it is without repeating it.
_ALIAS = "found undefined alias"
_TAG = "could not determine a constructor for the tag"
# Anything else PyYAML quotes is hidden too (an anchor, a tag handle), except one character (a tab
# that cannot start a token) and a '<token>' name.
_QUOTED = re.compile(r"'[^']*'")
_SHOWN = re.compile(r"'(?:<[^']*>|[^'\\]|\\[a-z]|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\U[0-9a-f]{8})'")


def _unquoted(problem: str) -> str:
    return _QUOTED.sub(lambda m: m.group() if _SHOWN.fullmatch(m.group()) else "(not shown)", problem)


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """One line: where in the file (line, column) and what PyYAML found wrong there."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or "cannot be parsed"
        if problem.startswith(_ALIAS):
            problem = "a value starts with '*', which YAML reads as an alias that is not defined; put it in quotes"
        elif problem.startswith(_TAG):
            problem = "a value starts with '!', which YAML reads as a tag it does not know; put it in quotes"
        message = f"line {mark.line + 1}, column {mark.column + 1}: {_unquoted(problem)}"
        if exc.context:
            context = _unquoted(exc.context)
            if exc.context_mark is not None and exc.context_mark.line != mark.line:
                context += f" at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
            message += f" ({context})"
    elif isinstance(exc, yaml.reader.ReaderError):
        start = text.rfind("\n", 0, exc.position) + 1
        line, column = text.count("\n", 0, exc.position) + 1, exc.position - start + 1
        message = f"line {line}, column {column}: unacceptable character #x{exc.character:04x} ({exc.reason})"
    else:
        message = _unquoted(str(exc))
    return " ".join(message.split())
