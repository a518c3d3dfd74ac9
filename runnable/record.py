"""The run record: what ran, with which parameters, what it produced, and the hash of every file.

A record is plain data that round-trips through JSON (``to_dict`` / ``from_dict``). Reading a
record checks everything a later command will trust: the run id's shape and every file path (no
absolute paths, no ``..``), so a hand-edited record cannot steer a restore outside its folder.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from runnable.errors import RecordError
from runnable.files.hashing import is_hex_digest

# 2: records gain ``inputs`` (the files a job read, by hash, with the run that stored them),
# ``metrics`` (metric histories) and ``objects`` (pickled returns). Version-1 records have none of
# them and read as a run that declared none.
SCHEMA_VERSION = 2

RUNNING, SUCCESS, FAIL = "RUNNING", "SUCCESS", "FAIL"
STATUSES = (RUNNING, SUCCESS, FAIL)

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a safe name for a folder and a file, else raise RecordError.

    >>> check_run_id("unsolvable-ramanujan-0634")
    'unsolvable-ramanujan-0634'
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise RecordError(
            f"run id {run_id!r} is not valid: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return run_id


def check_rel_path(rel: str) -> str:
    """Return ``rel`` if it is a clean relative POSIX path that stays inside its folder."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise RecordError(f"file path {rel!r} in a run record is empty or not text")
    # '~/x' or '~user/x' reads as a home folder to a shell; '~lock.txt' (an office suite's lock file)
    # is only a name, and a pattern such as '*.txt' stores it.
    if rel.startswith("/") or (rel.startswith("~") and "/" in rel):
        raise RecordError(f"file path {rel!r} in a run record is absolute; refusing to use it")
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise RecordError(f"file path {rel!r} in a run record leaves its folder or is not normalized; refusing it")
    return rel


def own_folder_prefixes(folder: str, location: str, working_folder: str | None) -> list[str]:
    """The clean relative paths (as a record spells them) that lead into runnable's own ``folder``
    (absolute), configured as ``location``: the location itself when it is relative (the default
    ``.catalog``), and the folder relative to the run's ``working_folder`` when it lies below it.

    >>> own_folder_prefixes("/p/.catalog", ".catalog", "/p")
    ['.catalog']
    >>> own_folder_prefixes("/data/cat", "/data/cat", "/data")
    ['cat']
    """
    found = []
    candidates = [location] if not os.path.isabs(location) else []
    if working_folder and os.path.isabs(working_folder):
        candidates.append(os.path.relpath(folder, working_folder))
    for candidate in candidates:
        rel = os.path.normpath(candidate).replace(os.sep, "/")
        if rel != "." and not rel.startswith("../") and rel != ".." and rel not in found:
            found.append(rel)
    return found


def refuse_paths_into(paths: Sequence[str], folders: Sequence[tuple[str, str, list[str]]]) -> None:
    """RecordError if one of a record's file ``paths`` leads into one of runnable's own ``folders``,
    given as (what, location, ``own_folder_prefixes``). A run never stores such a path (its selection
    skips those folders), so a record naming one was edited to make a restore overwrite another
    run's stored copy or forge a run record: refused like ``..`` and absolute paths.

    >>> refuse_paths_into(["data/a.txt", ".catalogue/x"], [("catalog", ".catalog", [".catalog"])])
    """
    for rel in paths:
        for what, location, prefixes in folders:
            for prefix in prefixes:
                if rel == prefix or rel.startswith(prefix + "/"):
                    raise RecordError(f"file path {rel!r} in a run record leads into the {what} folder {location}, "
                                      "which runnable manages; refusing it (was the record edited by hand?)")


def _refuse_unknown(data: dict[str, Any], cls: type, what: str) -> None:
    """Refuse fields this version does not know: guessing at them could mean trusting a lie."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise RecordError(
            f"{what} has unknown field(s) {', '.join(map(repr, unknown))}; it was edited by hand or written "
            "by a newer runnable; refusing to use it"
        )


class _Hashed:
    """What a file entry and an input entry share: one ``{algorithm: digest}`` pair in ``hash``."""

    hash: dict[str, str]

    @property
    def algorithm(self) -> str:
        return next(iter(self.hash))

    @property
    def digest(self) -> str:
        return next(iter(self.hash.values()))


@dataclass
class FileEntry(_Hashed):
    """One cataloged file of a run."""

    path: str  # relative to the working folder, POSIX separators
    size: int
    hash: dict[str, str]  # {"md5": "..."}: the algorithm beside the value
    stored: bool  # True if a copy is in the catalog
    location: str | None = None  # where the copy is, when stored
    # True if the file was not changed after the job started: it was in the working folder before
    # the run (left by an earlier one), and the run did not write it. Only in the JSON when True.
    stale: bool = False

    @property
    def md5(self) -> str | None:
        return self.hash.get("md5")

    def to_dict(self) -> dict[str, Any]:
        # Spelled out rather than asdict(): asdict deep-copies recursively, which made writing a
        # record of 10,000 files take 0.3 s; this is the same dict, in the same key order.
        data: dict[str, Any] = {"path": self.path, "size": self.size, "hash": dict(self.hash),
                                "stored": self.stored, "location": self.location}
        if self.stale:  # absent when False: the entries of files a run wrote keep their shape
            data["stale"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileEntry:
        try:
            entry = cls(
                path=check_rel_path(data["path"]),
                size=int(data["size"]),
                hash={str(k): str(v) for k, v in dict(data["hash"]).items()},
                stored=bool(data["stored"]),
                location=data.get("location"),
                stale=data.get("stale", False),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, RecordError):
                raise
            raise RecordError(f"file entry {data!r} is malformed: {exc}") from exc
        if not isinstance(entry.stale, bool):  # records written before it have no such field: False
            raise RecordError(f"file entry for {entry.path!r} has stale={entry.stale!r}; it must be true or false")
        if len(entry.hash) != 1:
            raise RecordError(f"file entry for {entry.path!r} must name exactly one hash algorithm")
        # The digest becomes a path in the object store: anything but hex could point elsewhere.
        if not is_hex_digest(entry.digest, entry.algorithm):
            raise RecordError(
                f"file entry for {entry.path!r} has hash {entry.algorithm}:{entry.digest!r}, which is not "
                f"a {entry.algorithm} digest; refusing it (was the record edited by hand?)"
            )
        if entry.size < 0:
            raise RecordError(f"file entry for {entry.path!r} has a negative size {entry.size}")
        _refuse_unknown(data, cls, f"file entry for {entry.path!r}")
        return entry


@dataclass
class InputEntry(_Hashed):
    """One file a job read (``Catalog(get=...)``): hashed before the job started, never stored.

    ``source`` names the earliest successful run that stored the same content (``run_id``, ``path``)
    and how many other runs hold it (``others``); None when no run did.
    """

    path: str
    size: int
    hash: dict[str, str]
    source: dict[str, Any] | None = None

    @property
    def source_run(self) -> str | None:
        return str(self.source["run_id"]) if self.source else None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "hash": dict(self.hash),
                "source": dict(self.source) if self.source else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputEntry:
        try:
            source = data.get("source")
            entry = cls(path=check_rel_path(data["path"]), size=int(data["size"]),
                        hash={str(k): str(v) for k, v in dict(data["hash"]).items()},
                        source=dict(source) if source else None)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, RecordError):
                raise
            raise RecordError(f"input entry {data!r} is malformed: {exc}") from exc
        if len(entry.hash) != 1 or not is_hex_digest(entry.digest, entry.algorithm):
            raise RecordError(f"input entry for {entry.path!r} has no valid hash; refusing it (was the record edited by hand?)")
        if entry.source is not None:
            check_run_id(str(entry.source.get("run_id")))
            check_rel_path(str(entry.source.get("path")))
        _refuse_unknown(data, cls, f"input entry for {entry.path!r}")
        return entry


def stale_message(files: Sequence[FileEntry]) -> str | None:
    """What a run (and ``runs show``) says when some of its files are stale; None when none is.

    >>> print(stale_message([FileEntry("a.csv", 1, {"md5": "0" * 32}, True, stale=True),
    ...                      FileEntry("b.csv", 1, {"md5": "1" * 32}, True)]))
    1 of the 2 cataloged files was not changed during this run (it was in the working folder before it started), e.g. 'a.csv'; the record marks it "stale"
    """
    stale = [f.path for f in files if f.stale]
    if not stale:
        return None
    before = "(it was in the working folder before it started)" if len(stale) == 1 else \
        "(they were in the working folder before it started)"
    if len(files) == 1:
        return f'the one cataloged file, {stale[0]!r}, was not changed during this run {before}; the record marks it "stale"'
    verb, them = ("was", "it") if len(stale) == 1 else ("were", "them")
    return (f"{len(stale)} of the {len(files)} cataloged files {verb} not changed during this run {before}, "
            f'e.g. {stale[0]!r}; the record marks {them} "stale"')


@dataclass
class RunRecord:
    """Everything known about one run. Serialised to ``{run-log store}/{run_id}.json``."""

    run_id: str
    status: str
    job: dict[str, Any]  # kind, name, and module/function, command or notebook
    start: str  # ISO 8601, UTC
    end: str | None = None
    duration_seconds: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    returns: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)  # git commit / dirty, when in a git repository
    runnable_version: str = ""
    environment: dict[str, Any] = field(default_factory=dict)  # python, host, pid, working folder
    catalog: dict[str, Any] = field(default_factory=dict)  # location, algorithm, store_copy, put
    files: list[FileEntry] = field(default_factory=list)
    inputs: list[InputEntry] = field(default_factory=list)  # schema 2: what the job read
    execution_log: FileEntry | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    # {name: [[step, value], ...]}: returned metric() values and runnable.log_metric() calls
    metrics: dict[str, list[list[float]]] = field(default_factory=dict)
    # {name: entry}: pickled() returns, stored in the catalog like files (content-addressed)
    objects: dict[str, FileEntry] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION
    # A pipeline's step tree (``runnable.pipeline.record``): one entry per step, in the order they
    # ran, a composite step's branches nested under it. Absent from a job's record (and its JSON).
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def catalog_content(self) -> list[str]:
        """The relative paths of the cataloged files, as the summary shows them."""
        return [f.path for f in self.files]

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than asdict(): asdict deep-copies every file entry through its
        # generic machinery (0.3 s for 10,000 files); only the small fields need a copy.
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("files", "inputs"):
                data[f.name] = [entry.to_dict() for entry in value]
            elif f.name == "execution_log":
                data[f.name] = value.to_dict() if value else None
            elif f.name == "metrics":  # lists of number pairs: deepcopy took 0.3 s for 100,000 points
                data[f.name] = {name: [list(point) for point in history] for name, history in value.items()}
            elif f.name == "objects":
                data[f.name] = {name: entry.to_dict() for name, entry in value.items()}
            elif f.name == "steps":
                if value:  # a job's record keeps the shape it always had
                    data[f.name] = copy.deepcopy(value)
            else:
                data[f.name] = copy.deepcopy(value)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        if not isinstance(data, dict):
            raise RecordError("a run record must be a JSON object")
        _refuse_unknown(data, cls, "run record")
        try:
            status = data["status"]
            if status not in STATUSES:
                raise RecordError(f"status {status!r} is not one of {', '.join(STATUSES)}")
            log = data.get("execution_log")
            return cls(
                run_id=check_run_id(data["run_id"]),
                status=status,
                job=dict(data.get("job") or {}),
                start=str(data["start"]),
                end=data.get("end"),
                duration_seconds=data.get("duration_seconds"),
                parameters=dict(data.get("parameters") or {}),
                returns=dict(data.get("returns") or {}),
                code=dict(data.get("code") or {}),
                runnable_version=str(data.get("runnable_version", "")),
                environment=dict(data.get("environment") or {}),
                catalog=dict(data.get("catalog") or {}),
                files=[FileEntry.from_dict(f) for f in data.get("files") or []],
                inputs=[InputEntry.from_dict(i) for i in data.get("inputs") or []],
                execution_log=FileEntry.from_dict(log) if log else None,
                skipped=list(data.get("skipped") or []),
                error=data.get("error"),
                tags=[str(t) for t in data.get("tags") or []],
                metrics=_metrics(data.get("metrics") or {}),
                objects={str(k): FileEntry.from_dict(v) for k, v in dict(data.get("objects") or {}).items()},
                schema=int(data.get("schema", 1)),
                steps=_steps(data.get("steps") or []),
            )
        except KeyError as exc:
            raise RecordError(f"run record is missing the field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, RecordError):
                raise
            raise RecordError(f"run record is malformed: {exc}") from exc


def json_text(record: RunRecord, indent: int | None) -> str:
    """``record`` as JSON text: always valid JSON, never the bare words NaN or Infinity.

    Parameters with a NaN are refused and returned NaNs become null with a warning before a record
    gets here (``runnable.params``); anything else that still holds one is written as null rather
    than as text no JSON reader accepts (``json.dumps`` writes ``NaN`` unless told not to).
    """
    data = record.to_dict()
    try:
        return json.dumps(data, indent=indent, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        nulled = json.loads(json.dumps(data, default=str), parse_constant=lambda _word: None)
        return json.dumps(nulled, indent=indent, ensure_ascii=False, default=str, allow_nan=False)


def _steps(data: Any) -> list[dict[str, Any]]:
    """A record's ``steps``: a list of objects, each with a name and a status (checked in full by
    ``runnable.pipeline.record`` where a step's files are read)."""
    if not isinstance(data, list) or not all(isinstance(s, dict) and isinstance(s.get("name"), str)
                                             and s.get("status") in STATUSES for s in data):
        raise RecordError("the record's steps must be a list of objects, each with a name and a status")
    return [dict(s) for s in data]


def _metrics(data: Any) -> dict[str, list[list[float]]]:
    """A record's ``metrics``: each name maps to a list of ``[step, value]`` number pairs."""
    if not isinstance(data, dict):
        raise RecordError(f"the record's metrics must be an object of histories, not {type(data).__name__}")
    out: dict[str, list[list[float]]] = {}
    for name, history in data.items():
        if not isinstance(history, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in p) for p in history):
            raise RecordError(f"metric {name!r} in the run record is not a list of [step, value] number pairs")
        out[str(name)] = history
    return out
