"""Outdated outputs: compare the latest successful run of each job with the working folder.

For each job, its latest successful run says what it read (``inputs``) and what it wrote
(``files``). Against the working folder now:

* an input is ``changed`` (other content), ``vanished`` (gone), or ``new`` (a file its ``get``
  patterns select today that the run did not read): the run's outputs are outdated;
* an output is ``changed`` (edited by hand, or by something other than that run) or ``missing``.

The question ``dvc status`` answers. Files are compared by hash (``runnable.files.hashcache``: an
unchanged file is not read again).

>>> # [(s.job, s.up_to_date) for s in job_status(History.from_config(), Path.cwd())]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnable.errors import RecordError, RunNotFoundError, UsageError
from runnable.files.hashcache import HashCache
from runnable.files.patterns import expand
from runnable.history.runs import History
from runnable.record import SUCCESS, RunRecord

CHANGED, VANISHED, NEW, MISSING = "changed", "vanished", "new", "missing"


@dataclass
class JobStatus:
    """One job: its latest successful run and what differs in the working folder since."""

    job: str
    run_id: str
    start: str
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (path, changed / vanished / new)
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (path, changed / missing)

    @property
    def up_to_date(self) -> bool:
        return not (self.inputs or self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "run_id": self.run_id, "start": self.start, "up_to_date": self.up_to_date,
                "inputs": [{"path": p, "state": s} for p, s in self.inputs],
                "outputs": [{"path": p, "state": s} for p, s in self.outputs]}


def _differs(path: str | None, algorithm: str, digest: str, cache: HashCache) -> str | None:
    if path is None:
        return MISSING
    try:
        return None if cache.digest(path, algorithm) == digest else CHANGED
    except FileNotFoundError:
        return MISSING
    except OSError:  # swapped for a link or a FIFO since it was selected: not the file
        return MISSING


def _literal(rel: str) -> str:
    """A pattern that selects exactly the file ``rel`` (a glob character in a name is a class)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in rel)


def _selected(paths: list[str], folder: Path, exclude: list[Path]) -> dict[str, str]:
    """rel -> the path to read, for the recorded ``paths`` the job's rules select today
    (``patterns.expand``): a link out of the folder, a FIFO or a folder is not one of them."""
    if not paths:
        return {}
    return {m.rel: m.path for m in expand([_literal(p) for p in paths], folder, exclude).files}


def check(record: RunRecord, folder: Path, cache: HashCache, exclude: list[Path]) -> JobStatus:
    """What differs between ``record`` and ``folder``."""
    status = JobStatus(str(record.job.get("name", "")), record.run_id, record.start)
    found = _selected(sorted({i.path for i in record.inputs} | {f.path for f in record.files}), folder, exclude)
    for entry in record.inputs:
        state = _differs(found.get(entry.path), entry.algorithm, entry.digest, cache)
        if state is not None:
            status.inputs.append((entry.path, VANISHED if state == MISSING else CHANGED))
    patterns = [str(p) for p in record.catalog.get("get") or []]
    if patterns:
        read = {i.path for i in record.inputs}
        for match in expand(patterns, folder, exclude).files:
            if match.rel not in read:
                status.inputs.append((match.rel, NEW))
    for f in record.files:
        state = _differs(found.get(f.path), f.algorithm, f.digest, cache)
        if state is not None:
            status.outputs.append((f.path, state))
    return status


def job_status(history: History, folder: Path, job: str | None = None, cache: HashCache | None = None) -> list[JobStatus]:
    """The status of every job's latest successful run (or only ``job``'s), by job name.

    UsageError when ``job`` has no successful run.
    """
    latest: dict[str, str] = {}
    for summary in history.summaries():  # newest first
        if summary.status == SUCCESS and summary.job not in latest and (job is None or summary.job == job):
            latest[summary.job] = summary.run_id
    if job is not None and job not in latest:
        raise UsageError(f"job {job!r} has no successful run in the run-log store {history.store.location}; "
                         "`runnable runs list` shows every run")
    cache = cache or HashCache.default()
    exclude = [Path(history.storage.location).absolute(), Path(history.store.location).absolute()]
    out = []
    for name in sorted(latest):
        try:
            record = history.record(latest[name])
        except (RunNotFoundError, RecordError):
            continue  # deleted or unreadable since it was listed
        out.append(check(record, folder, cache, exclude))
    cache.save()
    return out


__all__ = ["CHANGED", "MISSING", "NEW", "VANISHED", "JobStatus", "check", "job_status"]
