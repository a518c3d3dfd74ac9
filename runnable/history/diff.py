"""What differs between two runs: parameters, returns and files (added, removed, changed by hash).

Files with the same hash in both runs are counted as identical; those that either run's record
marks stale (it did not write them: they were left in the working folder) are also listed by run in
``same_stale``, since "identical" then only means that nothing rewrote the file.

>>> from runnable.record import RunRecord
>>> a = RunRecord("a", "SUCCESS", {}, "", parameters={"lr": 0.1})
>>> b = RunRecord("b", "SUCCESS", {}, "", parameters={"lr": 0.2, "seed": 1})
>>> [(c.key, c.kind) for c in diff_records(a, b).parameters]
[('lr', 'changed'), ('seed', 'added')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runnable.record import FileEntry, InputEntry, RunRecord

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass
class Change:
    """One difference: ``a`` is the value in the first run, ``b`` in the second (None if absent)."""

    key: str
    kind: str  # added / removed / changed
    a: Any = None
    b: Any = None


@dataclass
class RunDiff:
    a: str
    b: str
    parameters: list[Change] = field(default_factory=list)
    returns: list[Change] = field(default_factory=list)
    files: list[Change] = field(default_factory=list)
    same_files: int = 0
    # Inputs (``Catalog(get=...)``) by path: changed when their content or their source run differs.
    inputs: list[Change] = field(default_factory=list)
    same_stale: dict[str, list[str]] = field(default_factory=dict)  # run id -> identical files stale in it

    @property
    def empty(self) -> bool:
        return not (self.parameters or self.returns or self.files or self.inputs)


def diff_values(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """Keys added, removed or with a different value, sorted by key."""
    changes: list[Change] = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            changes.append(Change(key, REMOVED, a[key], None))
        elif key not in a:
            changes.append(Change(key, ADDED, None, b[key]))
        elif a[key] != b[key]:
            changes.append(Change(key, CHANGED, a[key], b[key]))
    return changes


def _describe(entry: FileEntry) -> str:
    return f"{entry.algorithm}:{entry.digest} ({entry.size} bytes{', stale' if entry.stale else ''})"


def _describe_input(entry: InputEntry) -> str:
    source = f"from {entry.source_run}" if entry.source_run else "no source run"
    return f"{entry.algorithm}:{entry.digest} ({entry.size} bytes, {source})"


def diff_inputs(a: RunRecord, b: RunRecord) -> list[Change]:
    """Inputs added, removed, or read with other content or from another source run, by path."""
    inputs_a = {i.path: i for i in a.inputs}
    inputs_b = {i.path: i for i in b.inputs}
    changes = []
    for path in sorted(set(inputs_a) | set(inputs_b)):
        ia, ib = inputs_a.get(path), inputs_b.get(path)
        if ib is None and ia is not None:
            changes.append(Change(path, REMOVED, _describe_input(ia), None))
        elif ia is None and ib is not None:
            changes.append(Change(path, ADDED, None, _describe_input(ib)))
        elif ia is not None and ib is not None and (ia.hash != ib.hash or ia.source_run != ib.source_run):
            changes.append(Change(path, CHANGED, _describe_input(ia), _describe_input(ib)))
    return changes


def diff_records(a: RunRecord, b: RunRecord) -> RunDiff:
    """Compare two records. Files are equal when their hashes are (same algorithm and value)."""
    result = RunDiff(a.run_id, b.run_id, diff_values(a.parameters, b.parameters), diff_values(a.returns, b.returns))
    files_a = {f.path: f for f in a.files}
    files_b = {f.path: f for f in b.files}
    for path in sorted(set(files_a) | set(files_b)):
        fa, fb = files_a.get(path), files_b.get(path)
        if fb is None and fa is not None:
            result.files.append(Change(path, REMOVED, _describe(fa), None))
        elif fa is None and fb is not None:
            result.files.append(Change(path, ADDED, None, _describe(fb)))
        elif fa is not None and fb is not None:
            if fa.hash != fb.hash:
                result.files.append(Change(path, CHANGED, _describe(fa), _describe(fb)))
            else:
                result.same_files += 1
                pairs = ((a.run_id, fa), (b.run_id, fb)) if a.run_id != b.run_id else ((a.run_id, fa),)
                for run, entry in pairs:  # (a run compared with itself counts once)
                    if entry.stale:
                        result.same_stale.setdefault(run, []).append(path)
    result.inputs = diff_inputs(a, b)
    return result
