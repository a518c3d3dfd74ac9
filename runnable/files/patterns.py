"""Catalog put patterns: which files of the working folder a pattern selects.

The pattern language (``normalize``, ``matches``) is in ``globs.py`` and the checks of odd paths in
``names.py``; here is the walk that applies them to a folder (``expand``). The public names
(``normalize``, ``matches``, ``compile_pattern``, ``iter_matching``) keep importing from here.

>>> matches("output/**/*.csv", "output/x/y/b.csv"), matches("outputs/", "outputs/a/b.txt")
(True, True)
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from runnable.files.globs import Globs, has_glob, selects
from runnable.files.globs import compile_pattern as compile_pattern
from runnable.files.globs import iter_matching as iter_matching
from runnable.files.globs import matches as matches
from runnable.files.globs import normalize as normalize
from runnable.files.names import kind_of, not_utf8, not_utf8_reason, shown, within


class Match(NamedTuple):
    """A selected file: ``rel`` is its POSIX path relative to the working folder. A named tuple:
    made once per selected file, it costs a third of a frozen dataclass."""

    rel: str
    path: str  # absolute; a plain string (a Path per file costs more than listing it, at 10,000 files)


@dataclass(frozen=True)
class Skip:
    """A path a pattern reached but that is not stored, and why."""

    rel: str
    reason: str


@dataclass
class Selection:
    """The result of expanding put patterns: files in a stable order, skips, empty patterns."""

    files: list[Match] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    # Folders that had to be listed and could not be (no permission): files the patterns select may
    # be inside, so the run fails, as for a file that cannot be read.
    unlistable: list[Skip] = field(default_factory=list)


class _Walker:
    """Expands patterns below ``root`` without following links out of it or into loops."""

    def __init__(self, root: Path, exclude: Iterable[Path]) -> None:
        self.root = os.path.realpath(root)
        self.exclude = {os.path.realpath(p) for p in exclude}
        # The excluded folders by identity: a folder met while walking that has the name of one is
        # compared by device and inode (one lstat), instead of resolving its real path (a stat per
        # path component). Not by the inode of the listing alone: for a mount point (a catalog on
        # its own volume, as the Kubernetes executor mounts it) that is the folder underneath.
        self._excluded_ids: set[tuple[int, int]] = set()
        for folder in self.exclude:
            with contextlib.suppress(OSError):
                st = os.stat(folder)
                self._excluded_ids.add((st.st_dev, st.st_ino))
        self._excluded_names = {os.path.basename(folder) for folder in self.exclude}
        self.selection = Selection()
        self._seen: dict[str, int] = {}  # selected path -> its place in selection.files
        self._skipped: set[str] = set()
        # The index of the first pattern that selects each file of selection.files, for the order
        # ("in pattern order") once every pattern was expanded; found[i]: pattern i selected a file.
        # Files sort by (that index, when that pattern reached it): in pattern order, and within one
        # pattern in the order its own walk reaches them, as if each pattern walked alone. "When" is
        # the file's place in the list, or for a file a later pattern reached first, the moment an
        # earlier one reached it too (``reached``).
        self.order: list[int] = []
        self.reached: dict[int, tuple[int, ...]] = {}
        self.found: list[bool] = []
        self._moves = 0

    def _is_excluded(self, entry: os.DirEntry[str]) -> bool:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self._excluded_ids

    def in_excluded(self, real: str) -> bool:
        """True if the real path ``real`` is one of the excluded folders or inside one."""
        return any(within(real, folder) for folder in self.exclude)

    def skip(self, rel: str, reason: str) -> None:
        if not_utf8(rel):  # a link or FIFO below a folder whose name is not UTF-8: keep the record text
            rel = shown(rel)
        if rel not in self._skipped:
            self._skipped.add(rel)
            self.selection.skipped.append(Skip(rel, reason))

    def skip_not_utf8(self, rel: str) -> None:
        self.skip(rel, not_utf8_reason(rel))

    def add(self, rel: str, path: str, index: int) -> bool:
        place = self._seen.get(rel)
        if place is not None:
            if index < self.order[place]:
                self.order[place] = index
                # After every file so far, before the next one, and after earlier such moves.
                self._moves += 1
                self.reached[place] = (len(self.selection.files), -1, self._moves)
            self.found[index] = True
            return True
        if not_utf8(rel):
            self.skip_not_utf8(rel)
            return False
        if rel.startswith("~") and "/" in rel:  # a record refuses it (record.check_rel_path): say so now
            self.skip(rel, f"its first folder {rel.split('/', 1)[0]!r} reads as a home folder to a shell, so "
                           "run records do not hold such paths: rename that folder to store it")
            return False
        self._seen[rel] = len(self.selection.files)
        self.selection.files.append(Match(rel, path))
        self.order.append(index)
        self.found[index] = True
        return True

    def consider_file(self, rel: str, abspath: str, is_link: bool, index: int) -> bool:
        """Add a non-directory entry if it is storable; return True if added."""
        try:
            st = os.stat(abspath)  # follows links; the target is checked below
        except FileNotFoundError:
            self.skip(rel, "a broken symbolic link" if is_link else "it disappeared while listing")
            return False
        except OSError as exc:
            self.skip(rel, f"cannot be examined ({exc.strerror})")
            return False
        if is_link:
            target = os.path.realpath(abspath)
            if not within(target, self.root):
                self.skip(rel, f"a symbolic link to {target}, outside the working folder")
                return False
            if stat.S_ISDIR(st.st_mode):
                self.skip(rel, "a symbolic link to a folder (not followed, to avoid loops)")
                return False
        kind = kind_of(st.st_mode)
        if kind is not None:
            self.skip(rel, f"{kind}; only regular files are stored")
            return False
        # A link inside the folder is selected as its target: storing opens the file itself and
        # refuses to follow a link (hashing.open_source), so one swapped in later is not followed.
        return self.add(rel, target if is_link else abspath, index)

    def walk(self, base_rel: str, globs: Globs | None, max_depth: int | None, index: int = -1) -> None:
        """Walk below ``base_rel`` once; select files whose path (or a parent's) one of ``globs``
        matches, for the first such glob in pattern order. ``globs=None`` selects everything below
        for pattern ``index``.
        """
        stack: list[tuple[str, int | None, int]] = [(base_rel, index if globs is None else None, 0)]
        # One glob, the common case, is matched right here: a call per path costs 10 % of the walk.
        single, single_index = (globs.single[1], globs.single[0]) if globs and globs.single else (None, -1)
        while stack:
            rel_dir, take_all, depth = stack.pop()
            abs_dir = os.path.join(self.root, rel_dir) if rel_dir else self.root
            try:
                with os.scandir(abs_dir) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError) as exc:  # gone or replaced while walking
                self.skip(rel_dir or ".", f"folder cannot be listed ({exc.strerror})")
                continue
            except OSError as exc:  # in the record's skipped list too, with the same reason
                why = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
                before = len(self.selection.skipped)
                self.skip(rel_dir or ".", f"folder cannot be listed ({why})")
                self.selection.unlistable.extend(self.selection.skipped[before:])  # once per folder
                continue
            subdirs: list[tuple[str, int | None, int]] = []
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                hit = take_all
                # Also below a matched folder, unless its glob is the group's first: an earlier glob
                # may name the file itself.
                if single is not None:
                    if take_all is None and single.fullmatch(rel) is not None:
                        hit = single_index
                elif globs is not None and (take_all is None or take_all > globs.lowest):
                    own = globs.first(rel, entry.name)
                    hit = own if hit is None or (own is not None and own < hit) else hit
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_link = entry.is_symlink()
                except OSError:
                    is_dir, is_link = False, False
                if is_dir:
                    if entry.name in self._excluded_names and self._is_excluded(entry):
                        continue
                    if hit is not None and not_utf8(rel):  # once for the folder, not once per file below it
                        self.skip_not_utf8(rel)
                        continue
                    if hit is not None or max_depth is None or depth + 1 < max_depth:
                        subdirs.append((rel, hit, depth + 1))
                elif hit is not None and not is_link and _is_plain_file(entry):
                    self.add(rel, entry.path, hit)  # its type is known from the listing
                elif hit is not None:
                    self.consider_file(rel, entry.path, is_link, hit)
            stack.extend(reversed(subdirs))


def _is_plain_file(entry: os.DirEntry[str]) -> bool:
    """True if the listing itself says ``entry`` is a regular file (no ``stat`` call on Linux)."""
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _literal_prefix(parts: Sequence[str]) -> list[str]:
    prefix: list[str] = []
    for part in parts:
        if has_glob(part):
            break
        prefix.append(part)
    return prefix


def expand(patterns: Sequence[str], root: Path, exclude: Iterable[Path] = ()) -> Selection:
    """Select the files of ``root`` that ``patterns`` name; each file once, in pattern order.

    ``exclude`` lists folders never entered (the catalog and run-log folders when they live in the
    working folder). Patterns must already be valid (see ``normalize``).

    A literal path costs a few system calls; the globs are grouped by the folder they start in
    and each group is one walk with one regex, so the cost is about one walk of the tree whatever
    the number of patterns (2,000 globs at the top took 10 s on 10,000 files when each walked the
    tree; benchmarks/patterns_bench.py).
    """
    walker = _Walker(root, exclude)
    walker.found = [False] * len(patterns)
    skipped: set[int] = set()  # reached only through a link out, or inside runnable's folders
    groups: dict[str, list[tuple[int, str]]] = {}
    depths: dict[str, int | None] = {}
    for index, raw in enumerate(patterns):
        pattern = normalize(raw)
        parts = pattern.split("/")
        base_parts = _literal_prefix(parts)
        base_rel = "/".join(base_parts)
        base_abs = os.path.join(walker.root, *base_parts) if base_parts else walker.root
        if len(base_parts) == len(parts):  # no glob: a file or a folder
            if not _expand_literal(walker, base_rel, base_abs, index):
                skipped.add(index)
            continue
        if base_parts:
            real = os.path.realpath(base_abs)
            if not os.path.isdir(base_abs) or not within(real, walker.root) or walker.in_excluded(real):
                continue
        groups.setdefault(base_rel, []).append((index, pattern))
        glob_parts = parts[len(base_parts) :]
        depth = None if "**" in glob_parts else len(glob_parts)
        known = depths.get(base_rel, 0)
        depths[base_rel] = None if depth is None or known is None else max(known, depth)
    for base_rel, indexed in groups.items():
        walker.walk(base_rel, Globs(indexed), depths[base_rel])
    _find_shadowed(walker, groups)
    selection = walker.selection
    order, reached = walker.order, walker.reached
    if reached or any(later < earlier for earlier, later in zip(order, order[1:], strict=False)):
        ordered = sorted(range(len(selection.files)), key=lambda k: (order[k], reached.get(k, (k, 0))))
        selection.files = [selection.files[k] for k in ordered]
    selection.unmatched = [raw for index, raw in enumerate(patterns) if not walker.found[index] or index in skipped]
    return selection


def _expand_literal(walker: _Walker, base_rel: str, base_abs: str, index: int) -> bool:
    """Select the file or folder ``base_rel`` for pattern ``index``; False if it is refused."""
    try:
        lst = os.lstat(base_abs)
    except OSError:
        return True  # absent: the pattern matched nothing
    # Check the real path even when the last part is no link: a parent folder may be one
    # (``etc/passwd`` with ``etc -> /etc``).
    target = os.path.realpath(base_abs)
    if not within(target, walker.root):
        how = "a symbolic link to" if stat.S_ISLNK(lst.st_mode) else "reached through a symbolic link:"
        walker.skip(base_rel, f"{how} {target}, outside the working folder")
        return False
    if walker.in_excluded(target):
        walker.skip(base_rel, "inside runnable's own catalog or run-log folder")
        return False
    if os.path.isdir(base_abs):
        if not_utf8(base_rel):
            walker.skip_not_utf8(base_rel)
            return False
        walker.walk(base_rel, None, None, index)
    else:
        walker.consider_file(base_rel, base_abs, stat.S_ISLNK(lst.st_mode), index)
    return True


def _find_shadowed(walker: _Walker, groups: dict[str, list[tuple[int, str]]]) -> None:
    """Mark found the globs that select only files an earlier pattern selected too: a walk's
    match names the first pattern that matches, so these were not seen matching. Each is checked
    against the selected files below its folder, stopping at the first hit; usually none is left."""
    for base_rel, indexed in groups.items():
        below = f"{base_rel}/" if base_rel else ""
        for index, pattern in indexed:
            if walker.found[index]:
                continue
            regex = compile_pattern(pattern)
            walker.found[index] = any(selects(regex, m.rel) for m in walker.selection.files if m.rel.startswith(below))
