"""Inputs: the files a job reads, declared with ``Catalog(get=[...])``, hashed before it starts.

Before the job's code runs (``runner.py``), in this order:

1. with ``get_from``, the selected files of that run are restored into the working folder
   (``runnable.history.restore``: verified by hash, never outside the folder); a working file that differs
   from the run's copy is never overwritten, the run fails first, naming it; an identical one is
   left alone;
2. every file the ``get`` patterns select in the working folder (the ``put`` patterns' rules, by
   ``runnable.files.patterns``) is hashed in full with the catalog's algorithm, streamed through the
   shared reader in ``runnable.files.hashing``, unless the hash cache (``runnable.files.hashcache``) knows it
   unchanged; nothing is copied or stored;
3. each gets its ``source`` from the content index: the earliest successful run that stored the
   same content (with ``get_from``, that run), and how many other runs hold it.

A pattern that selects nothing fails the run before the job starts, naming the pattern.

Inside a pipeline (to come), ``get`` with no ``get_from`` reads from the same run's catalog: that
is ``fetch()`` given the pipeline's own run record, then the same hashing and sources.

>>> # collect(["data/"], Path.cwd(), "md5", ContentIndex(store)) -> [InputEntry(path=..., ...)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runnable.backends.protocols import Storage
from runnable.errors import InputError, RunNotFoundError
from runnable.files.hashcache import HashCache
from runnable.files.hashing import SourceChangedError
from runnable.files.patterns import expand
from runnable.history.contentindex import ContentIndex, key_of, source_of
from runnable.record import SUCCESS, InputEntry, RunRecord

if TYPE_CHECKING:  # only get_from needs the history: importing it (and what it imports) cost ~30 ms a run
    from runnable.history.runs import History

LATEST = "latest"


def resolve_run(get_from: str, history: History) -> RunRecord:
    """The record ``get_from`` names: a run id, ``latest`` (the newest successful run) or
    ``latest:JOB`` (the newest successful run of that job). InputError in one line if there is none.
    """
    if get_from == LATEST or get_from.startswith(LATEST + ":"):
        job = get_from[len(LATEST) + 1:] if ":" in get_from else None
        for summary in history.summaries():  # newest first
            if summary.status == SUCCESS and (job is None or summary.job == job):
                return history.record(summary.run_id)
        which = f"of job {job!r} " if job else ""
        raise InputError(f"get_from={get_from!r}: there is no successful run {which}in the run-log store "
                         f"{history.store.location}; run it first, or name a run id")
    try:
        return history.record(get_from)
    except RunNotFoundError as exc:
        raise InputError(f"get_from={get_from!r}: {exc.args[0]}") from None


def fetch(record: RunRecord, storage: Storage, patterns: Sequence[str], working_folder: Path,
          protected: Sequence[tuple[str, str, Path]]) -> None:
    """Restore the files of ``record`` that ``patterns`` select into ``working_folder``; InputError
    naming the first file that could not be, before anything runs."""
    from runnable.history.restore import restore

    try:
        report = restore(record, storage, list(patterns), working_folder, force=False, protected=protected)
    except (RunNotFoundError, ValueError) as exc:  # a pattern matching none of the run's files
        raise InputError(f"get_from={record.run_id!r}: {exc}") from None
    for rel, why in report.refused:
        if why.startswith("a different file is there"):
            raise InputError(
                f"input {rel!r} in the working folder differs from the copy stored by run {record.run_id}; "
                f"it is not overwritten: move or delete it to use the run's copy, or drop get_from to read it as is")
        if why.startswith("a symbolic link is there"):  # restore's advice (--force) is not get_from's
            raise InputError(f"input {rel!r} from run {record.run_id} was not restored: a symbolic link is there "
                             "in the working folder; it is not replaced: remove the link, or drop get_from")
        raise InputError(f"input {rel!r} from run {record.run_id} was not restored: {why}")
    for rel, expected in report.not_stored:
        raise InputError(f"input {rel!r} of run {record.run_id} was recorded by hash only ({expected}); "
                         "no copy is stored to fetch; put it with store_copy=True in that job")
    for rel, why in report.failed:
        raise InputError(f"input {rel!r} from run {record.run_id} could not be restored: {why}")


def collect(patterns: Sequence[str], working_folder: Path, algorithm: str, index: ContentIndex,
            exclude: Iterable[Path] = (), fetched: RunRecord | None = None,
            skip_runs: Iterable[str] = (), cache: HashCache | None = None) -> list[InputEntry]:
    """Hash every file ``patterns`` select and find each one's source (see the module docstring).

    ``cache`` (``runnable.files.hashcache``) answers for files unchanged since they were last hashed.
    """
    cache = cache or HashCache(None, enabled=False)
    selection = expand(list(patterns), working_folder, exclude)
    if selection.unmatched:
        pattern = selection.unmatched[0]
        why = next((s.reason for s in selection.skipped if s.rel == pattern.rstrip("/")), None)
        detail = f" ({why})" if why else ""
        raise InputError(f"get pattern {pattern!r} matched no file in {working_folder}{detail}; "
                         "the job did not start")
    from_run: set[tuple[str, str, str]] = set()
    if fetched is not None:
        from_run = {(f.path, f.algorithm, f.digest) for f in fetched.files}
    inputs: list[InputEntry] = []
    for match in selection.files:
        try:
            digest, size = cache.hash(match.path, algorithm)
        except SourceChangedError:
            raise InputError(f"input {match.rel!r} changed while it was being hashed; the job did not start: "
                             "run again once nothing writes to it") from None
        except OSError as exc:
            raise InputError(f"input {match.rel!r} could not be read: {exc.strerror or exc}") from None
        holders = index.holders(key_of(algorithm, digest), exclude=skip_runs)
        source = source_of(holders)
        if fetched is not None and (match.rel, algorithm, digest) in from_run:
            others = len({h.run_id for h in holders} - {fetched.run_id})
            source = {"run_id": fetched.run_id, "path": match.rel, "others": others}
        inputs.append(InputEntry(match.rel, size, {algorithm: digest}, source))
    return inputs


__all__ = ["LATEST", "collect", "fetch", "resolve_run"]
