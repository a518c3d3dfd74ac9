"""Lineage by content: which runs stored a file, what a run read, and the runs up- and downstream.

* ``which``: a local file (hashed with every algorithm the index knows) or a hash (full, or a unique
  prefix of at least 8 hex characters) -> every run that stored that content, oldest first.
* upstream of a run: the sources of its inputs, recursively (what it was made from);
* downstream of a run: the runs that read any of its outputs as an input, recursively.

All of it is answered from the content index (``runnable.history.contentindex``), checked against records.

>>> # which(history, "model.pkl").holders -> [Holder(run_id=..., path="model.pkl", ...)]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runnable.errors import UsageError
from runnable.files.hashcache import HashCache
from runnable.history.contentindex import ContentIndex, Holder, key_of

if TYPE_CHECKING:
    from runnable.history.runs import History
    from runnable.record import RunRecord

MIN_PREFIX = 8
_HEX = frozenset("0123456789abcdef")


@dataclass
class WhichResult:
    """The content asked about (``key``: ``md5:...``; None if it matched nothing) and its holders."""

    query: str
    key: str | None
    holders: list[Holder] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "hash": self.key, "runs": [h.to_dict() for h in self.holders]}


def which(history: History, path_or_hash: str, index: ContentIndex | None = None,
          cache: HashCache | None = None) -> WhichResult:
    """Every run that stored the content of ``path_or_hash`` (a file, or a hash or its prefix).

    UsageError in one line when the text is neither an existing file nor 8+ hex characters, or when
    a prefix matches several contents.
    """
    index = index or ContentIndex(history.store)
    if os.path.isfile(path_or_hash):
        cache = cache or HashCache.default()
        algorithms = index.algorithms()
        keys = [key_of(algorithm, cache.digest(path_or_hash, algorithm)) for algorithm in algorithms]
        cache.save()
        for key in keys:
            holders = index.holders(key)
            if holders:
                return WhichResult(path_or_hash, key, holders)
        return WhichResult(path_or_hash, keys[0])
    text = path_or_hash.strip().lower()
    names: tuple[str, ...] = ("md5", "sha256", "blake3")
    if ":" in text:  # md5:abc... as the records and `runs show` print it: only that algorithm's contents
        algorithm, text = text.split(":", 1)
        if algorithm not in names:
            raise UsageError(f"{path_or_hash!r}: unknown hash algorithm {algorithm!r}; "
                             f"use one of {', '.join(names)}, or no prefix")
        names = (algorithm,)
    if len(text) < MIN_PREFIX or not set(text) <= _HEX:
        if os.path.exists(path_or_hash):
            raise UsageError(f"{path_or_hash!r} is not a regular file; give a file or a hash")
        raise UsageError(f"{path_or_hash!r} is neither a file nor a hash; give a file's path, or at least "
                         f"{MIN_PREFIX} hex characters of a hash")
    keys = index.keys_with_prefix(text, names)
    if len(keys) > 1:
        shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
        raise UsageError(f"hash prefix {text!r} matches {len(keys)} contents ({shown}); give more characters")
    if not keys:
        return WhichResult(path_or_hash, None)
    return WhichResult(path_or_hash, keys[0], index.holders(keys[0]))


@dataclass
class Node:
    """One run in a lineage tree, with the runs it links to (up: its sources; down: its readers)
    and the files that link them."""

    run_id: str
    job: str
    status: str
    start: str
    via: list[str] = field(default_factory=list)  # the paths linking it to its parent in the tree
    children: list[Node] = field(default_factory=list)
    seen: bool = False  # already shown higher in the tree (a diamond): its children are not repeated

    def to_dict(self) -> dict[str, Any]:
        """The tree as nested dictionaries; built with an explicit stack, not recursion: a chain of
        1,100 runs is 1,100 levels deep, past Python's recursion limit (write it with ``json_text``)."""
        def fields(node: Node) -> dict[str, Any]:
            return {"run_id": node.run_id, "job": node.job, "status": node.status, "start": node.start,
                    "via": list(node.via), "seen": node.seen, "children": []}

        root = fields(self)
        stack = [(self, root)]
        while stack:
            node, data = stack.pop()
            for child in node.children:
                child_data = fields(child)
                data["children"].append(child_data)
                stack.append((child, child_data))
        return root


class _Records:
    """The records a tree reads, each read (and its inputs keyed) once: a reader of 10,000 of a
    run's outputs was read back 10,000 times to check each link, and again to sort."""

    def __init__(self, history: History) -> None:
        self.history = history
        self._records: dict[str, RunRecord | None] = {}
        self._inputs: dict[str, set[tuple[str, str]]] = {}

    def record(self, run_id: str) -> RunRecord:
        """The record (KeyError or ValueError as ``History.record`` raises them, every time)."""
        if run_id not in self._records:
            try:
                self._records[run_id] = self.history.record(run_id)
            except (KeyError, ValueError):
                self._records[run_id] = None
                raise
        found = self._records[run_id]
        if found is None:
            return self.history.record(run_id)  # raises again, with its message
        return found

    def get(self, run_id: str) -> RunRecord | None:
        try:
            return self.record(run_id)
        except (KeyError, ValueError):
            return None  # deleted since, or unreadable: not an answer

    def read_by(self, reader: str, key: str, path: str) -> bool:
        """Whether ``reader``'s record says it read content ``key`` as ``path``: the index's entries
        only say where to look (as ``ContentIndex.holders`` checks its answers against the records)."""
        if reader not in self._inputs:
            record = self.get(reader)
            self._inputs[reader] = set() if record is None else {
                (i.path, key_of(i.algorithm, i.digest)) for i in record.inputs}
        return (path, key) in self._inputs[reader]


def _links_up(records: _Records, run_id: str) -> list[tuple[str, list[str]]]:
    """(source run, input paths) of a run's inputs, in input order."""
    out: dict[str, list[str]] = {}
    for entry in records.record(run_id).inputs:
        if entry.source_run and entry.source_run != run_id:
            out.setdefault(entry.source_run, []).append(entry.path)
    return list(out.items())


def _links_down(records: _Records, run_id: str, readers: dict[str, list[tuple[str, str]]]) -> list[tuple[str, list[str]]]:
    out: dict[str, list[str]] = {}
    for f in records.record(run_id).files:
        key = key_of(f.algorithm, f.digest)
        for reader, path in readers.get(key, []):
            if reader != run_id and records.read_by(reader, key, path):
                out.setdefault(reader, []).append(path)
    return list(out.items())


def _start(records: _Records, run_id: str) -> str:
    record = records.get(run_id)
    return "" if record is None else record.start


def tree(history: History, run_id: str, down: bool = False) -> Node:
    """The lineage tree rooted at ``run_id``: upstream (default) or downstream.

    Downstream reads the index's input lists once (``ContentIndex.readers``) and each record it
    names at most once."""
    readers = ContentIndex(history.store).readers() if down else {}
    records = _Records(history)
    seen: set[str] = set()

    def node(rid: str, via: list[str]) -> tuple[Node, Iterator[tuple[str, list[str]]] | None]:
        """The node of ``rid`` and its links still to follow (None when it is shown already)."""
        record = records.record(rid)
        here = Node(rid, str(record.job.get("name", "")), record.status, record.start, via)
        if rid in seen:
            here.seen = True
            return here, None
        seen.add(rid)
        links = _links_down(records, rid, readers) if down else _links_up(records, rid)
        if down:  # readers in the order they ran (upstream keeps the order of the inputs)
            links.sort(key=lambda link: (_start(records, link[0]), link[0]))
        return here, iter(links)

    # Depth first with an explicit stack, in the order recursion would visit: a chain of 1,100
    # runs is 1,100 levels deep, past Python's recursion limit. No depth limit.
    root, links = node(run_id, [])
    stack = [(root, links)] if links is not None else []
    while stack:
        parent, pending = stack[-1]
        link = next(pending, None)
        if link is None:
            stack.pop()
            continue
        try:
            child, child_links = node(*link)
        except (KeyError, ValueError):
            continue  # a source run deleted since: the record still names it, the tree cannot
        parent.children.append(child)
        if child_links is not None:
            stack.append((child, child_links))
    return root


def render(root: Node) -> list[str]:
    """The tree as text lines, one run per line."""
    lines = [f"{root.run_id}  {root.job}  {root.status}  {root.start[:19]}"]
    # (node, prefix) still to print, last pushed first out: the order recursion would print them.
    stack: list[tuple[Node, str, bool]] = [(c, "", i == len(root.children) - 1)
                                           for i, c in reversed(list(enumerate(root.children)))]
    while stack:
        child, prefix, last = stack.pop()
        via = ", ".join(child.via)
        mark = " (shown above)" if child.seen else ""
        lines.append(f"{prefix}{'└── ' if last else '├── '}{child.run_id}  {child.job}  {child.status}  "
                     f"{child.start[:19]}  via {via}{mark}")
        inner = prefix + ("    " if last else "│   ")
        stack.extend((c, inner, i == len(child.children) - 1) for i, c in reversed(list(enumerate(child.children))))
    return lines


_END = object()


def json_text(data: Any, indent: int = 2) -> str:
    """``json.dumps(data, indent=indent, ensure_ascii=False)`` of nested dicts and lists, written
    with an explicit stack: the standard encoder recurses and fails past ~1,000 levels (a long chain)."""
    out: list[str] = []
    stack: list[list[Any]] = []  # [items left, is a dict, depth, items written]

    def start(value: Any, depth: int) -> None:
        if isinstance(value, dict) and value:
            out.append("{")
            stack.append([iter(value.items()), True, depth, 0])
        elif isinstance(value, list) and value:
            out.append("[")
            stack.append([iter(value), False, depth, 0])
        else:
            out.append(json.dumps(value, ensure_ascii=False, default=str))

    start(data, 0)
    while stack:
        top = stack[-1]
        item: Any = next(top[0], _END)
        if item is _END:
            stack.pop()
            out.append("\n" + " " * (indent * top[2]) + ("}" if top[1] else "]"))
            continue
        out.append(("," if top[3] else "") + "\n" + " " * (indent * (top[2] + 1)))
        top[3] += 1
        if top[1]:
            out.append(json.dumps(str(item[0]), ensure_ascii=False) + ": ")
            item = item[1]
        start(item, top[2] + 1)
    return "".join(out)


def dot(root: Node, down: bool = False) -> str:
    """The tree in Graphviz's language: an edge from each source run to the run that read it."""
    out = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box];"]
    nodes: dict[str, Node] = {}
    edges: set[tuple[str, str, str]] = set()

    stack = [root]  # not recursion: see tree
    while stack:
        node = stack.pop()
        nodes.setdefault(node.run_id, node)
        for child in node.children:
            a, b = (node.run_id, child.run_id) if down else (child.run_id, node.run_id)
            edges.add((a, b, ", ".join(child.via)))
            stack.append(child)
    for rid, node in sorted(nodes.items()):
        out.append(f'  "{rid}" [label="{_escape(node.job)}\\n{rid}\\n{_escape(node.status)}"];')
    for a, b, via in sorted(edges):
        out.append(f'  "{a}" -> "{b}" [label="{_escape(via)}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


__all__ = ["MIN_PREFIX", "Node", "WhichResult", "dot", "json_text", "render", "tree", "which"]
