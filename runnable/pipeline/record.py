"""The step entries of a pipeline's record (``RunRecord.steps``) and the tree ``runs show`` draws.

One entry per step that started, in the order they ran::

    {"name": "train", "path": "train", "kind": "python", "status": "SUCCESS", "attempts": 1,
     "start": "...", "end": "...", "duration_seconds": 0.1,
     "parameters": {...}, "returns": {...}, "metrics": {...}, "inputs": [InputEntry...],
     "outputs": ["model.pkl"], "objects": ["model"], "execution_log": "train.execution.log",
     "stored": [FileEntry...],                              # the versions the step stored: outputs + log
     "stored_objects": {"model": FileEntry},                # its pickled returns, with their hashes
     "error": {"type", "message", "traceback"},           # a failed step
     "branches": {"a": [entries], ...},                     # Parallel, Map (by item index), Loop, Conditional
     "on_failure": [entries],                               # the on_failure pipeline, when it ran
     "reused_from": "RUN_ID"}                               # a retry's step copied from the original

>>> print("\\n".join(tree([{"name": "a", "path": "a", "kind": "stub", "status": "SUCCESS",
...                        "duration_seconds": 0.004}])))
SUCCESS  a  (stub)  0.00s
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from runnable.record import FileEntry


def tree(entries: list[dict[str, Any]], indent: str = "") -> list[str]:
    """The step tree as text lines: status, name, kind, time, and why a step failed."""
    return list(_lines(entries, indent))


def _lines(entries: list[dict[str, Any]], indent: str) -> Iterator[str]:
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):  # a hand-edited record: draw the steps that are steps
            yield f"{indent}?        (not a step: {str(entry)[:60]!r})"
            continue
        kind = entry.get("kind", "?")
        seconds = entry.get("duration_seconds")
        timing = f"  {seconds:.2f}s" if isinstance(seconds, (int, float)) else ""
        reused = f"  reused from {entry['reused_from']}" if entry.get("reused_from") else ""
        yield f"{indent}{str(entry.get('status', '?')).ljust(7)}  {entry.get('name')}  ({kind}){timing}{reused}"
        error = entry.get("error")
        if isinstance(error, dict) and error.get("message"):
            first = str(error["message"]).splitlines()[0] if str(error["message"]) else ""
            yield f"{indent}         error: {error.get('type')}: {first}"
        branches = entry.get("branches") or {}
        for key, branch in branches.items() if isinstance(branches, dict) else ():
            yield f"{indent}         [{key}]"
            yield from _lines(branch, indent + "           ")
        if entry.get("on_failure"):
            yield f"{indent}         on_failure:"
            yield from _lines(entry["on_failure"], indent + "           ")


def stored_versions(entries: list[dict[str, Any]], objects: bool = True) -> Iterator[tuple[str, FileEntry]]:
    """(step path, file entry) of every version the step entries name with its hash, in the order
    the steps ran, branches and on_failure paths included.

    The run's ``files`` keep one version per path (a later step's wins); these are what each step
    itself stored, so that a later ``get``, a retry, ``gc`` and ``verify`` find a version another
    step replaced since. Records written before step entries held them yield nothing here.
    """
    # A hand-edited record may hold anything where a step belongs: what is not a step names no
    # version (the run browser and `runs show` skip it too); a malformed version is a RecordError.
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        path = str(entry.get("path", entry.get("name")))
        stored = entry.get("stored") or []
        for data in stored if isinstance(stored, list) else [stored]:
            yield path, FileEntry.from_dict(data)
        stored_objects = entry.get("stored_objects") or {}
        for data in (stored_objects.values() if isinstance(stored_objects, dict) else [stored_objects]) if objects else ():
            yield path, FileEntry.from_dict(data)
        branches = entry.get("branches") or {}
        for branch in [*(branches.values() if isinstance(branches, dict) else ()), entry.get("on_failure") or []]:
            yield from stored_versions(branch, objects)


def forget_output(entries: list[dict[str, Any]], rel: str, digest: str) -> None:
    """Take the version ``digest`` of ``rel`` out of the entries that list it as an output (a glob
    that caught another branch's file while it was being written: not this step's output)."""
    for entry in entries:
        kept = [d for d in entry.get("stored") or [] if not (d.get("path") == rel and digest in d.get("hash", {}).values())]
        if len(kept) != len(entry.get("stored") or []):
            entry["stored"] = kept
            entry["outputs"] = [p for p in entry.get("outputs") or [] if p != rel]
        for branch in [*(entry.get("branches") or {}).values(), entry.get("on_failure") or []]:
            forget_output(branch, rel, digest)


def find(entries: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The entry of the step at dotted ``path`` in the tree, branches and on_failure paths included."""
    for entry in entries:
        if entry.get("path") == path:
            return entry
        for branch in [*(entry.get("branches") or {}).values(), entry.get("on_failure") or []]:
            found = find(branch, path)
            if found is not None:
                return found
    return None


def failed_steps(entries: list[dict[str, Any]]) -> list[str]:
    """The dotted paths of the steps that failed, innermost first within a composite."""
    out: list[str] = []
    for entry in entries:
        for branch in (entry.get("branches") or {}).values():
            out += failed_steps(branch)
        if entry.get("status") == "FAIL":
            out.append(str(entry.get("path", entry.get("name"))))
    return out
