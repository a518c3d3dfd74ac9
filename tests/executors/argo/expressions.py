"""Argo's ``when`` and ``depends`` expressions, for the test interpreter (interpreter.py).

``when`` is evaluated as Argo's steps.go does with govaluate, after substitution: a bare word is a
string (``heads == heads``), ``true``/``false`` booleans, numbers compared as numbers, ``=~`` a regular
expression. ``depends`` uses the same operators (``&&``, ``||``, ``!``, parentheses) over
``task.Result`` names, which the caller resolves to booleans.

    >>> evaluate("heads == heads && !(1 > 2)", lambda word: word)
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_TOKENS = re.compile(r"\s*(?:(?P<string>'[^']*'|\"[^\"]*\")|(?P<number>-?\d+(?:\.\d+)?(?![\w.]))"
                     r"|(?P<op>&&|\|\||==|!=|>=|<=|=~|!~|[!()<>])|(?P<name>[\w][\w.\-]*))")


def evaluate(expression: str, name: Callable[[str], Any]) -> Any:
    """Evaluate a ``when`` or ``depends`` expression: ``||``, ``&&``, ``!``, comparisons, parentheses."""
    value, rest = _or(tokenize(expression), name)
    if rest:
        raise ValueError(f"unexpected {rest[0][1]!r} in expression {expression!r}")
    return value


Tokens = list[tuple[str, str]]


def tokenize(expression: str) -> Tokens:
    tokens: Tokens = []
    position = 0
    while position < len(expression.rstrip()):
        match = _TOKENS.match(expression, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot parse expression {expression!r} at {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _or(tokens: Tokens, name: Callable[[str], Any]) -> tuple[Any, Tokens]:
    left, tokens = _and(tokens, name)
    while tokens and tokens[0][1] == "||":
        right, tokens = _and(tokens[1:], name)
        left = bool(left) or bool(right)
    return left, tokens


def _and(tokens: Tokens, name: Callable[[str], Any]) -> tuple[Any, Tokens]:
    left, tokens = _not(tokens, name)
    while tokens and tokens[0][1] == "&&":
        right, tokens = _not(tokens[1:], name)
        left = bool(left) and bool(right)
    return left, tokens


def _not(tokens: Tokens, name: Callable[[str], Any]) -> tuple[Any, Tokens]:
    if tokens and tokens[0][1] == "!":
        value, tokens = _not(tokens[1:], name)
        return not value, tokens
    return _compare(tokens, name)


def _compare(tokens: Tokens, name: Callable[[str], Any]) -> tuple[Any, Tokens]:
    left, tokens = _atom(tokens, name)
    if tokens and tokens[0][1] in ("==", "!=", ">", "<", ">=", "<=", "=~", "!~"):
        op = tokens[0][1]
        right, tokens = _atom(tokens[1:], name)
        if op in ("=~", "!~"):
            return (re.search(str(right), str(left)) is not None) == (op == "=~"), tokens
        if op in ("==", "!="):
            return (left == right) == (op == "=="), tokens
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op], tokens
    return left, tokens


def _atom(tokens: Tokens, name: Callable[[str], Any]) -> tuple[Any, Tokens]:
    if not tokens:
        raise ValueError("expression ends too early")
    kind, text = tokens[0]
    if text == "(":
        value, rest = _or(tokens[1:], name)
        if not rest or rest[0][1] != ")":
            raise ValueError("missing ')'")
        return value, rest[1:]
    if kind == "string":
        return text[1:-1], tokens[1:]
    if kind == "number":
        return float(text), tokens[1:]
    if kind == "name":
        return name(text), tokens[1:]
    raise ValueError(f"unexpected {text!r}")


