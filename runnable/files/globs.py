"""The put pattern language: checking a pattern, and which relative paths it selects.

One rule covers every form: **a file is selected when the pattern matches its path or the path of
one of its parent folders**, relative to the working folder. So

* ``df.csv`` selects that file;
* ``outputs`` or ``outputs/`` selects every file below the folder, at any depth;
* ``plots/*.png`` selects the PNG files directly in ``plots``; ``*`` and ``?`` never cross a ``/``,
  ``[abc]`` / ``[!abc]`` are character classes;
* ``output/**/*.csv`` selects CSV files in ``output`` and in any folder below it (``**`` is zero or
  more folders).

>>> matches("output/**/*.csv", "output/x/y/b.csv"), matches("outputs/", "outputs/a/b.txt")
(True, True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from runnable.errors import PatternError

_GLOB_CHARS = frozenset("*?[")


def normalize(pattern: str, what: str = "put pattern", rule: str | None = None) -> str:
    """Check ``pattern`` and return it in canonical form (no ``.`` parts, no trailing ``/``).

    Raises PatternError for patterns that are empty, absolute, start with ``~`` or contain ``..``:
    patterns are always relative to the working folder and may not leave it. ``what`` names the
    pattern in the message; ``rule``, when given, replaces the put patterns' explanation after the
    problem (restoring selects among a run's recorded paths, not in the working folder).

    >>> normalize("./outputs/")
    'outputs'
    >>> normalize("../x", what="pattern", rule="patterns select the run's files")
    Traceback (most recent call last):
    runnable.errors.PatternError: pattern '../x' uses '..'; patterns select the run's files
    """

    def refused(problem: str, put: str) -> PatternError:
        """``problem``, then ``rule``; without a rule, ``put``: the put pattern's own words."""
        return PatternError(f"{what} {pattern!r} {f'{problem}; {rule}' if rule else put}")

    if not isinstance(pattern, str):
        raise refused("is not a string", "is not a string; give paths like 'outputs/' or '*.csv'")
    where = "patterns are relative to the working folder"
    if not pattern:  # ' ' is not empty: it is a valid file name, and selects the file of that name
        raise refused("is empty", f"is empty; {where}, e.g. 'outputs/' or '*.csv'")
    if "\0" in pattern:
        raise refused("contains a NUL byte", "contains a NUL byte")
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    # The rules below hold for the canonical form, so normalize(normalize(p)) == normalize(p) even
    # for './~', ' /' or './\\'; only a leading '/' is visible in the pattern alone.
    normal = "/".join(parts)
    if pattern.startswith("/") or normal.startswith("\\") or re.match(r"^[A-Za-z]:[\\/]", normal):
        raise refused("is an absolute path", f"is an absolute path; {where}")
    # '~', '~/x' and '~user/x' read as a home folder (a shell expands them); '~lock.txt' is a name.
    if normal == "~" or (normal.startswith("~") and "/" in normal):
        raise refused("starts with '~'", f"starts with '~', which is not expanded; {where}")
    if ".." in parts:
        raise refused("uses '..'", f"uses '..' and could leave the working folder; {where}")
    if not parts:
        raise refused("names every file", "names the working folder itself; name files or folders in it")
    return normal


def _class_regex(body: str, negate: bool) -> str:
    """A ``[...]`` class as a regex: every character escaped, ``a-z`` kept as a range.

    Escaping each character keeps ``re`` from reading ``[[``, ``&&``, ``--``, ``||`` or ``~~`` as
    set operations (a FutureWarning today) and a reversed range such as ``z-a`` is dropped, as
    fnmatch does, instead of raising ``re.error`` in the middle of a run.
    """
    items: list[str] = []
    k, n = 0, len(body)
    while k < n:
        if k + 2 < n and body[k + 1] == "-":
            low, high = body[k], body[k + 2]
            if low <= high:
                items.append(f"{re.escape(low)}-{re.escape(high)}")
            k += 3
        else:
            items.append(re.escape(body[k]))
            k += 1
    inside = "".join(items)
    if negate:
        return f"[^/{inside}]"
    # A range such as ``.-0`` spans '/', which a class must never match (it never crosses folders).
    return f"(?!/)[{inside}]" if inside else "(?!)"  # only empty ranges: matches nothing


def _component_regex(component: str) -> str:
    out: list[str] = []
    i, n = 0, len(component)
    while i < n:
        c = component[i]
        if c == "*":
            while i + 1 < n and component[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and component[j] in "!^":
                j += 1
            if j < n and component[j] == "]":
                j += 1
            while j < n and component[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '['
                out.append(re.escape(c))
            else:
                body = component[i + 1 : j]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                out.append(_class_regex(body, negate))
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a normalized pattern to a regex over POSIX relative paths."""
    return re.compile(_pattern_source(pattern), re.DOTALL)


def has_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def matches(pattern: str, rel: str) -> bool:
    """True if ``pattern`` selects the file at relative path ``rel`` (itself or a parent folder)."""
    return selects(compile_pattern(normalize(pattern)), rel)


class Globs:
    """The globs of one walk (``patterns.expand``): the first, in pattern order, that matches a path.

    Trying every glob on every path made selection patterns x files (2,000 globs: 10 s on 10,000
    files; one alternation regex of them all still 4.4 s). A glob's last part usually begins or ends
    with literal text (``f0123.t?t``, ``*.csv``): such a glob is tried only on names that begin (or
    end) with it, found by a dictionary lookup per distinct length. Globs with neither (``*``,
    ``**``) are tried on every path.
    """

    def __init__(self, indexed: Sequence[tuple[int, str]]) -> None:
        self.prefixed: dict[int, dict[str, list[tuple[int, re.Pattern[str]]]]] = {}
        self.suffixed: dict[int, dict[str, list[tuple[int, re.Pattern[str]]]]] = {}
        self.always: list[tuple[int, re.Pattern[str]]] = []
        # One glob (the common case) is tried directly: the lookups cost half the walk again.
        self.single = (indexed[0][0], compile_pattern(indexed[0][1])) if len(indexed) == 1 else None
        self.lowest = min(index for index, _pattern in indexed)
        for index, pattern in indexed if self.single is None else ():
            regex = re.compile(_pattern_source(pattern), re.DOTALL)  # once; compile_pattern's cache holds 256
            last = pattern.rsplit("/", 1)[-1]
            head = _literal_head(last)
            tail = _literal_head(last[::-1], "]")[::-1]  # read backwards, a class ends at its ']'
            if head and len(head) >= len(tail):
                self.prefixed.setdefault(len(head), {}).setdefault(head, []).append((index, regex))
            elif tail:
                self.suffixed.setdefault(len(tail), {}).setdefault(tail, []).append((index, regex))
            else:
                self.always.append((index, regex))

    def first(self, rel: str, name: str) -> int | None:
        """The index of the first glob that matches the path ``rel`` (whose last part is ``name``)."""
        if self.single is not None:
            return self.single[0] if self.single[1].fullmatch(rel) else None
        candidates = list(self.always)
        for length, table in self.prefixed.items():
            if length <= len(name):
                candidates += table.get(name[:length], ())
        for length, table in self.suffixed.items():
            if length <= len(name):
                candidates += table.get(name[-length:], ())
        if len(candidates) > 1:
            candidates.sort(key=lambda item: item[0])
        for index, regex in candidates:
            if regex.fullmatch(rel):
                return index
        return None


def _literal_head(part: str, also: str = "") -> str:
    """The text of ``part`` before its first glob character (``*``, ``?``, ``[``, or one of ``also``)."""
    for k, c in enumerate(part):
        if c in _GLOB_CHARS or c in also:
            return part[:k]
    return part


def _pattern_source(pattern: str) -> str:
    parts = pattern.split("/")
    pieces: list[str] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            pieces.append(".*" if last else "(?:[^/]+/)*")
        else:
            pieces.append(_component_regex(part) + ("" if last else "/"))
    return "".join(pieces)


def selects(regex: re.Pattern[str], rel: str) -> bool:
    """True if ``regex`` matches ``rel`` or the path of one of its parent folders."""
    if regex.fullmatch(rel):
        return True
    index = rel.find("/")
    while index != -1:
        if regex.fullmatch(rel[:index]):
            return True
        index = rel.find("/", index + 1)
    return False


def iter_matching(patterns: Sequence[str], rels: Iterable[str]) -> Iterator[str]:
    """The relative paths in ``rels`` that any of ``patterns`` selects (used when restoring)."""
    normalized = [normalize(p) for p in patterns]
    for rel in rels:
        if any(matches(p, rel) for p in normalized):
            yield rel
