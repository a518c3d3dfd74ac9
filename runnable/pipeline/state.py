"""What a traversal carries between steps: the files, objects and metrics steps produced, and how
a sequence of steps ended. Plain data: a branch's process sends it back to the pipeline's pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from runnable import params as _params
from runnable.record import SUCCESS, FileEntry, InputEntry
from runnable.run import metrics as _metrics


@dataclass
class Produced:
    """What steps produced, to fold into the run's record (a branch's process sends its own back)."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    objects: dict[str, FileEntry] = field(default_factory=dict)
    metrics: dict[str, list[list[float]]] = field(default_factory=dict)
    inputs: list[InputEntry] = field(default_factory=list)
    # path -> (producing step, entry): where a later step's get finds it
    by_path: dict[str, tuple[str, FileEntry]] = field(default_factory=dict)
    # paths a step's put named exactly (not through a glob or a folder): the step wrote them itself
    named: set[str] = field(default_factory=set)

    def add(self, other: Produced) -> None:
        for entry in other.files.values():
            keep(self.files, entry)
        self.objects.update(other.objects)
        _metrics.merge(self.metrics, other.metrics)
        self.inputs += other.inputs
        self.by_path.update(other.by_path)
        self.named |= other.named


def keep(files: dict[str, FileEntry], entry: FileEntry) -> None:
    """Add ``entry`` to ``files`` by path: a later step's file wins, unless it is the same content
    found again (stale: a Map item's ``put`` glob that also matched an earlier item's file)."""
    old = files.get(entry.path)
    if old is not None and entry.stale and not old.stale and old.digest == entry.digest:
        return
    files[entry.path] = entry


@dataclass
class Branch:
    """How a sequence of steps ended: status, entries, the values its steps returned."""

    status: str = SUCCESS
    entries: list[dict[str, Any]] = field(default_factory=list)
    returned: dict[str, Any] = field(default_factory=dict)
    recorded: dict[str, Any] = field(default_factory=dict)  # the returns the record keeps (JSON)
    failed: str | None = None  # "step 'x' failed: reason"
    produced: Produced = field(default_factory=Produced)
    terminated: bool = False


def parameter_value(parameters: dict[str, Any], name: str) -> Any:
    """A parameter as a step's rule reads it: a ``RUNNABLE_PRM_*`` text is read as JSON when it is
    (a function's argument is converted by its annotation instead, see ``runnable.params``)."""
    value = parameters.get(name)
    return _params.guess(value) if isinstance(value, _params.FromEnv) else value


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[name] = value
    return out
