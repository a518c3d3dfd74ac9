"""Property tests (hypothesis) for the put-pattern matcher and the record path checks.

What is promised: a pattern that is accepted never selects anything outside the working folder;
``matches`` (used when restoring) and ``expand`` (used when storing) agree on every tree; a path a
record may hold never leaves its folder.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from runnable.errors import PatternError, RecordError
from runnable.files.patterns import compile_pattern, expand, matches, normalize
from runnable.record import check_rel_path

FAST = settings(max_examples=300, deadline=None)
SLOW = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that matter to paths and globs, plus some that must be plain text.
PATTERN_TEXT = st.text(alphabet="ab./\\~*?[]!^-:\0 é\n", max_size=16)
NAME = st.sampled_from(["a", "b", "c.txt", ".h", "[x]", "d e", "é", "*", "ab", "-"])
GLOB_PART = st.sampled_from(["*", "**", "?", "*.txt", "[ab]", "[!a]", "[a-c]*", "[z-a]", "..", ".", ""])


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and not any(p in ("", ".", "..") for p in parts)


@FAST
@given(PATTERN_TEXT)
@example("./\\")  # found by hypothesis: it normalized to '\\', which normalize then refused
@example("./C:/x")
def test_normalize_refuses_or_returns_a_pattern_that_stays_inside(pattern: str) -> None:
    try:
        normal = normalize(pattern)
    except PatternError as exc:
        assert str(exc)  # a message, never an empty error
        return
    assert _safe(normal) and "\0" not in normal
    assert normal != "~" and not (normal.startswith("~") and "/" in normal)  # '~lock.txt' is a name
    assert normalize(normal) == normal
    assert ".." not in pattern.split("/")


@FAST
@given(st.sampled_from(["..", "../x", "a/../b", "a/..", "./..", "a/./../..", "*/../*", "**/.."]))
def test_dot_dot_in_any_position_is_refused(pattern: str) -> None:
    with pytest.raises(PatternError, match=r"\.\."):
        normalize(pattern)


@pytest.mark.parametrize("pattern", ["", "/", "/etc/passwd", "//x", "~", "~/x", "~root/.ssh", "./~/x", ".", "./",
                                     "././", "C:\\x", "c:/x", "\\x", "a\0b"])
def test_absolute_home_empty_and_nul_patterns_are_refused(pattern: str) -> None:
    """('~lock.txt', a file's own name, is a pattern like any other: see test_odd_names.py.)"""
    with pytest.raises(PatternError) as info:
        normalize(pattern)
    assert repr(pattern) in str(info.value)


@FAST
@given(PATTERN_TEXT, st.lists(NAME, min_size=1, max_size=4).map("/".join))
def test_matches_answers_or_refuses_the_pattern_never_crashes(pattern: str, rel: str) -> None:
    try:
        result = matches(pattern, rel)
    except PatternError:
        return
    assert isinstance(result, bool)


@FAST
@given(st.text(alphabet="ab.*?[]!-", min_size=1, max_size=8), st.text(alphabet="ab.[]!-", min_size=1, max_size=6))
def test_one_part_patterns_agree_with_fnmatch(pattern: str, name: str) -> None:
    assume(pattern not in (".", "..") and name not in (".", ".."))
    # A reversed range ('[-?' in '[[-?!]') is dropped by both, but fnmatch then reads the '!' that
    # comes first in what is left as negation: '[[-?!]' matches any character. Ours keeps the '!' it
    # was written as. Both agree on every class without a reversed range.
    assume(not any(a > b for a, b in re.findall(r"(.)-(.)", pattern)))
    ours = compile_pattern(normalize(pattern)).fullmatch(name) is not None
    assert ours == fnmatch.fnmatchcase(name, pattern)


@FAST
@given(st.lists(st.one_of(NAME, GLOB_PART), min_size=1, max_size=4).map("/".join),
       st.lists(NAME, min_size=1, max_size=5).map("/".join))
def test_star_never_crosses_a_folder(pattern: str, rel: str) -> None:
    try:
        normal = normalize(pattern)
    except PatternError:
        return
    if "**" not in normal.split("/") and matches(normal, rel):
        # Without '**' each pattern part consumes exactly one path part (the file or a parent).
        assert len(normal.split("/")) <= len(rel.split("/"))


# -- expand on real trees -------------------------------------------------------------------------

TREES = st.lists(st.lists(NAME, min_size=1, max_size=4).map(tuple), min_size=1, max_size=12)
PATTERNS = st.lists(st.lists(st.one_of(NAME, GLOB_PART), min_size=1, max_size=4).map("/".join),
                    min_size=1, max_size=3)


def _build(root: Path, paths: list[tuple[str, ...]]) -> set[str]:
    """Create the files (skipping ones that clash with a folder); return their relative paths."""
    made: set[str] = set()
    for parts in paths:
        target = root.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                continue
            target.write_text("/".join(parts))
        except (FileExistsError, NotADirectoryError):
            continue
        made.add("/".join(parts))
    return made


@SLOW
@given(TREES, PATTERNS)
def test_expand_agrees_with_matches_and_never_leaves_the_root(paths: list[tuple[str, ...]],
                                                              patterns: list[str]) -> None:
    try:
        normal = [normalize(p) for p in patterns]
    except PatternError:
        with pytest.raises(PatternError):
            expand(patterns, Path("."))
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "root"
        root.mkdir()
        (base / "outside").mkdir()
        (base / "outside" / "c.txt").write_text("outside")
        files = _build(root, paths)
        # Hostile links: to a folder outside, to /etc, to a file outside, a loop, and a broken one.
        os.symlink(base / "outside", root / "out")
        os.symlink("/etc", root / "etc")
        os.symlink(base / "outside" / "c.txt", root / "secret.txt")
        os.symlink(".", root / "loop")
        os.symlink("missing", root / "broken")
        selection = expand(patterns, root)

        chosen = [m.rel for m in selection.files]
        assert len(chosen) == len(set(chosen))  # each file once
        real_root = os.path.realpath(root)
        for match in selection.files:
            check_rel_path(match.rel)
            assert os.path.realpath(match.path).startswith(real_root + os.sep)
            assert Path(match.path) == root / match.rel or os.path.samefile(match.path, root / match.rel)
        expected = {rel for rel in files if any(matches(p, rel) for p in normal)}
        assert set(chosen) == expected
        for raw, p in zip(patterns, normal, strict=True):
            hit = any(matches(p, rel) for rel in files)
            assert (raw in selection.unmatched) == (not hit), (raw, sorted(files))


@SLOW
@given(st.lists(st.one_of(NAME, GLOB_PART), min_size=1, max_size=4).map("/".join))
def test_patterns_through_links_to_outside_select_nothing(suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "root"
        root.mkdir()
        outside = base / "outside"
        outside.mkdir()
        for name in ("a", "b", "c.txt", "[x]"):
            (outside / name).write_text("secret")
        os.symlink(outside, root / "out")
        os.symlink("/etc", root / "etc")
        for link in ("out", "etc", "*", "**", "?tc", "[eo]*"):
            pattern = f"{link}/{suffix}"
            try:
                normalize(pattern)
            except PatternError:
                continue
            assert expand([pattern], root).files == []


# -- check_rel_path --------------------------------------------------------------------------------

@FAST
@given(st.text(alphabet="ab./\\~\0 é\n", max_size=20))
def test_check_rel_path_accepts_only_paths_that_stay_inside(rel: str) -> None:
    try:
        assert check_rel_path(rel) == rel
    except RecordError as exc:
        assert repr(rel) in str(exc)
        return
    joined = posixpath.normpath(posixpath.join("/base/run", rel))
    assert joined.startswith("/base/run/")
    assert not rel.startswith("/") and "\0" not in rel
    assert not (rel.startswith("~") and "/" in rel)  # '~lock.txt' is a name; '~/x' reads as a home folder
    assert posixpath.normpath(rel) == rel  # already normal: no '.', '..' or empty parts


@pytest.mark.parametrize("rel", ["../x", "a/../../x", "/etc/passwd", "~/x", "", "a//b", "./a", "a/.", "a\0b", "..",
                                 "a/.."])
def test_check_rel_path_refuses_escapes(rel: str) -> None:
    with pytest.raises(RecordError):
        check_rel_path(rel)
