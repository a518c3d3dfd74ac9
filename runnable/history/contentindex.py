"""The content index: for every content (by hash), the runs and paths that stored it.

Every stored file is known by its full hash, so any file anywhere can be traced to the run that
made it by its content, not its name. Reading every record to answer that costs seconds at 10,000
runs; the index answers in milliseconds. It is kept in two layers in the run-log store:

* one small *entry* per finished run that stored or read a file (``.content/{run_id}.json``),
  written after its record and only by that run: concurrent runs never write the same file, and a
  crash between the record and the entry leaves the index stale (the run is missing from it),
  never wrong. An entry is written once (``rebuild`` rewrites all of them, and the snapshot with
  them). A run that stored and read nothing writes none (it cost ~8 ms a run, for nothing);
* a *snapshot* (``.content/.merged.json``), a cache any reader replaces atomically: a header line
  naming the runs it covers (and the runs found to hold nothing, so their records are not read
  again), then one line per (content, run, path), sorted, so one content is found by a binary
  search in the bytes, without parsing 100,000 lines. Entries not covered yet are read and merged
  in memory; the snapshot is rewritten once they are more than a few, or hold many lines: each
  entry is then parsed by one reader, not by every later run.

Which entries exist is the only thing checked on every read (a listing of names, no record read):
runs whose entry is gone (``gc``) are left out, runs with no entry (written by an older runnable,
or whose writer crashed after the record) are indexed from their records when found. Every
answer is then checked against the records it names: a record deleted or no longer holding that
content drops the answer. ``rebuild()`` (``runnable catalog reindex``) writes everything again.

>>> # ContentIndex(store).holders("md5:" + digest) -> [Holder(run_id=..., path=..., ...), ...]
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from runnable.backends.protocols import ContentIndexedRunLogStore, RunLogStore
from runnable.errors import RecordError, RunNotFoundError
from runnable.history.verify import earlier_versions
from runnable.record import RUNNING, SUCCESS, RunRecord, check_rel_path, check_run_id

ENTRY_VERSION = 1
SNAPSHOT_VERSION = 3  # 3: no input rows (see _lines)
# The snapshot is rewritten when this many runs (or this share of those it covers) are not in it:
# rewriting 100,000 lines costs ~0.3 s, merging a few entries in memory ~0.1 ms each.
REWRITE_AFTER = 64
REWRITE_SHARE = 0.02
# ... or when the entries waiting hold this many files and inputs: each load parses them (a
# 10,000-input entry: ~5 ms) and sorts their file lines (~8 us a line), which every later job
# would otherwise pay until 64 runs are waiting.
REWRITE_LINES = 5_000
_FILE = b"F"
_INPUT = b"I"
# A content key as the index writes it (``key_of``): an algorithm name, a colon, lower-case hex.
_KEY = re.compile(r"[a-z0-9]{1,16}:[0-9a-f]{8,128}")
_SIZE = re.compile(rb"[0-9]{1,19}")


def key_of(algorithm: str, digest: str) -> str:
    """The index key of a content: ``md5:900150983cd24fb0d6963f7d28e17f72``.

    >>> key_of("md5", "900150983cd24fb0d6963f7d28e17f72")
    'md5:900150983cd24fb0d6963f7d28e17f72'
    """
    return f"{algorithm}:{digest}"


@dataclass(frozen=True)
class Holder:
    """A run that stored (or recorded by hash only, ``stored=False``) one content under ``path``."""

    run_id: str
    path: str
    size: int
    stored: bool
    status: str
    job: str
    start: str

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "path": self.path, "size": self.size, "stored": self.stored,
                "status": self.status, "job": self.job, "start": self.start}


def entry_of(record: RunRecord) -> dict[str, Any]:
    """The index entry of one run: its files by hash (not its execution log: no one reads it) and
    what it read (for lineage downstream)."""
    return {
        "version": ENTRY_VERSION,
        "run_id": record.run_id,
        "status": record.status,
        "job": str(record.job.get("name", "")),
        "start": record.start,
        # A pipeline's earlier versions too (a later step put the path again): `runs which` finds them.
        "files": [[key_of(f.algorithm, f.digest), f.path, f.size, f.stored]
                  for f in (*record.files, *earlier_versions(record))],
        "inputs": [[_first_key(i.hash), i.path] for i in record.inputs],
    }


def _first_key(hashes: dict[str, str]) -> str:
    # key_of(entry.algorithm, entry.digest) without its two property calls and iterators: 10,000
    # inputs took 24 ms through them, half of writing the entry.
    for algorithm, digest in hashes.items():
        return f"{algorithm}:{digest}"
    raise RecordError("an entry with no hash")  # never: a record's entries always hold one


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")


def _lines(entry: dict[str, Any], inputs: bool = False) -> Iterator[bytes]:
    """The snapshot lines of one entry: ``key TAB F TAB run TAB size TAB stored TAB "path"``, one per
    stored file (with ``inputs``, also ``key TAB I TAB run TAB 0 TAB 0 TAB "path"`` per input). The
    path is last and JSON-quoted: a tab or a newline in a file name cannot split a line.

    Inputs stay out of the snapshot: a job reading 10,000 files would otherwise add 10,000 lines
    to sort into it on every run (0.2 s at 100,000 lines); only ``readers()`` needs them.
    """
    run_id = entry["run_id"]
    for key, path, size, stored in entry["files"]:
        yield f"{key}\tF\t{run_id}\t{size}\t{int(stored)}\t{_quote(path)}".encode("utf-8", "backslashreplace")
    if inputs:
        for key, path in entry.get("inputs", []):
            yield f"{key}\tI\t{run_id}\t0\t0\t{_quote(path)}".encode("utf-8", "backslashreplace")


def _quote(path: str) -> str:
    # json.dumps only where JSON needs an escape (control characters, tabs, newlines, quotes,
    # backslashes, undecodable bytes): it cost 6 us a path, a third of indexing 10,000 inputs.
    if path.isprintable() and '"' not in path and "\\" not in path:
        return f'"{path}"'
    return json.dumps(path, ensure_ascii=False)


@dataclass(frozen=True)
class _Row:
    key: str
    kind: bytes
    run_id: str
    size: int
    stored: bool
    path: str

    @classmethod
    def parse(cls, line: bytes) -> _Row | None:
        """The row of one snapshot line, or None for a line that is not one the index writes (a damaged
        or hand-edited snapshot): it is skipped, never believed and never a traceback."""
        parts = line.split(b"\t", 5)
        if len(parts) != 6 or parts[1] not in (_FILE, _INPUT) or not _SIZE.fullmatch(parts[3]):
            return None
        key, kind, run_id, size, stored, path = parts
        try:
            text_path = json.loads(path)
            row = cls(key.decode(), kind, run_id.decode(), int(size), stored == b"1", text_path)
        except ValueError:  # includes UnicodeDecodeError and a JSONDecodeError
            return None
        return row if _valid(row.key, row.run_id, row.path) else None


class _Snapshot:
    """The snapshot's header (runs covered; ``empty``: finished runs that hold nothing, so have no
    entry; ``readers``: the covered runs that read an input, whose entries lineage downstream
    reads; both optional: older snapshots lack them) and its sorted body, searched in place."""

    def __init__(self, raw: bytes | None) -> None:
        self.runs: set[str] = set()
        self.empty: set[str] = set()
        self.readers: set[str] | None = None  # None: not known (an older snapshot), read every entry
        self.body = b""
        if not raw:
            return
        head, _, body = raw.partition(b"\n")
        try:
            header = json.loads(head)
            if header.get("version") != SNAPSHOT_VERSION:
                return
            runs = {str(r) for r in header["runs"]}
            empty = {str(r) for r in header.get("empty", [])}
            readers = {str(r) for r in header["readers"]} if "readers" in header else None
            for run_id in runs | empty | (readers or set()):
                check_run_id(run_id)
        except (ValueError, KeyError, TypeError, AttributeError, RecordError):
            return  # damaged: rebuilt, never trusted
        self.runs = runs
        self.empty = empty - runs
        self.readers = None if readers is None else readers & runs
        self.body = body

    def _first(self, target: bytes) -> int:
        """The offset of the first line >= ``target`` (lines are sorted as bytes)."""
        body = self.body
        lo, hi = 0, len(body)
        while lo < hi:
            mid = (lo + hi) // 2
            start = body.rfind(b"\n", 0, mid) + 1
            end = body.find(b"\n", start)
            end = len(body) if end < 0 else end
            if body[start:end] < target:
                lo = end + 1
            else:
                hi = start
        return lo

    def starting(self, prefix: bytes) -> Iterator[bytes]:
        """Every line that starts with ``prefix``, in order."""
        body = self.body
        at = self._first(prefix)
        while at < len(body) and body.startswith(prefix, at):
            end = body.find(b"\n", at)
            end = len(body) if end < 0 else end
            yield body[at:end]
            at = end + 1

    def all_lines(self) -> list[bytes]:
        """Every line whose fields are in place (a damaged one is dropped when the snapshot is
        rewritten; its path is checked when it is read: a full parse here cost ~4 us a line)."""
        return [line for line in self.body.split(b"\n") if _well_formed(line)]


class ContentIndex:
    """Which runs hold which content, for the runs of ``store``.

    A store without ``ContentIndexedRunLogStore`` is answered by reading every record (slow, right).
    """

    def __init__(self, store: RunLogStore) -> None:
        self.store = store
        self._loaded = False
        self._snapshot = _Snapshot(None)
        self._alive: set[str] = set()  # runs with an entry now
        self._extra: dict[str, dict[str, Any]] = {}  # entries the snapshot does not cover
        self._extra_lines: list[bytes] = []  # their lines, sorted: searched like the snapshot
        self._lookups = 0
        self._loaded_keys: _Snapshot | None = None  # the snapshot _stored_keys_set was built from
        self._stored_keys_set: set[bytes] = set()
        self._records: dict[str, RunRecord | None] = {}
        self.reread = 0  # entries (or records) read on the last load, for tests and benchmarks

    # -- writing --------------------------------------------------------------------------------
    def add(self, record: RunRecord) -> None:
        """Index a finished run; call after its record is written (the record commits the run)."""
        if record.status == RUNNING or not isinstance(self.store, ContentIndexedRunLogStore):
            return
        if not record.files and not record.inputs:
            return  # nothing to find it by: a reader notes it as empty in the snapshot (see _load)
        self.store.write_content(record.run_id, _encode(entry_of(record)))
        self._loaded = False

    def drop(self, run_id: str) -> None:
        """Forget a deleted run (``gc``); call after its record is deleted."""
        if isinstance(self.store, ContentIndexedRunLogStore):
            self.store.delete_content(run_id)
        self._loaded = False

    def rebuild(self) -> int:
        """Write every finished run's entry again from its record, drop entries of runs that are
        gone, write a fresh snapshot; return the number of runs indexed."""
        store = self.store
        if not isinstance(store, ContentIndexedRunLogStore):
            return 0
        ids = set(store.iter_ids())
        entries, empty = {}, set()
        for run_id in ids:
            record = self._read(run_id)
            if record is None or record.status == RUNNING:
                continue
            if not record.files and not record.inputs:
                empty.add(run_id)
                continue
            entries[run_id] = entry_of(record)
            store.write_content(run_id, _encode(entries[run_id]))
        for run_id in list(_content_ids(store)):
            if run_id not in entries:  # a run gone, or one that holds nothing (written by an older runnable)
                store.delete_content(run_id)
        self._write_snapshot(store, _Snapshot(None), entries, empty=empty)
        self._loaded = False
        return len(entries) + len(empty)

    # -- reading --------------------------------------------------------------------------------
    def _read(self, run_id: str) -> RunRecord | None:
        if run_id not in self._records:
            try:
                self._records[run_id] = self.store.get(run_id)
            except (RunNotFoundError, RecordError):
                self._records[run_id] = None
        return self._records[run_id]

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        store = self.store
        if not isinstance(store, ContentIndexedRunLogStore):
            self._snapshot, self._extra = _Snapshot(None), {}
            for run_id in store.iter_ids():
                record = self._read(run_id)
                if record is not None and record.status != RUNNING:
                    self._extra[run_id] = entry_of(record)
            self._alive = set(self._extra)
            self._extra_lines = sorted(line for entry in self._extra.values() for line in _lines(entry))
            self.reread = len(self._extra)
            return
        snapshot = _Snapshot(store.read_content_snapshot())
        alive = set(_content_ids(store))
        extra: dict[str, dict[str, Any]] = {}
        for run_id in alive - snapshot.runs:
            entry = _parse_entry(store.read_content(run_id), run_id)
            if entry is not None:
                extra[run_id] = entry
        # Finished runs with no entry (or a damaged one): written by an older runnable, or their
        # writer crashed between the record and the entry, or they hold nothing (no entry is
        # written then). Indexed now, from their records; the empty ones noted in the snapshot.
        ids = set(store.iter_ids())
        empty = snapshot.empty & ids
        found_empty = 0
        for run_id in ids - (alive & snapshot.runs) - set(extra) - empty:
            record = self._read(run_id)
            if record is None or record.status == RUNNING:
                continue
            if not record.files and not record.inputs:
                empty.add(run_id)
                found_empty += 1
                continue
            extra[run_id] = entry_of(record)
            try:
                store.write_content(run_id, _encode(extra[run_id]))
            except OSError:
                pass  # a read-only store is still answered, from the record
            alive.add(run_id)
        self.reread = len(extra) + found_empty
        gone = len(snapshot.runs - alive) + len(snapshot.empty - empty)
        covered = max(len(snapshot.runs) + len(snapshot.empty), 1)
        waiting = sum(len(e["files"]) + len(e["inputs"]) for e in extra.values())
        if (len(extra) + found_empty + gone > max(REWRITE_AFTER, REWRITE_SHARE * covered)
                or waiting > REWRITE_LINES or (not snapshot.runs and not snapshot.empty and (extra or found_empty))):
            try:
                snapshot = self._write_snapshot(store, snapshot, extra, keep=alive, empty=empty)
                extra = {}
            except OSError:
                pass  # only a cache: answered from memory
        self._snapshot, self._alive, self._extra = snapshot, alive, extra
        # One sorted list, searched by bisection: a run of 10,000 files not yet in the snapshot
        # would otherwise be scanned once per lookup (an input set of 10,000 files: 10^8 lines).
        self._extra_lines = sorted(line for entry in extra.values() for line in _lines(entry))

    @staticmethod
    def _write_snapshot(store: ContentIndexedRunLogStore, old: _Snapshot, extra: dict[str, dict[str, Any]],
                        keep: set[str] | None = None, empty: set[str] | None = None) -> _Snapshot:
        runs = (old.runs & keep if keep is not None else set(old.runs)) | set(extra)
        fresh = set(extra)  # runs indexed anew replace their old lines
        if old.runs <= runs and not fresh & old.runs:
            # Nothing gone, nothing replaced (the common case: new runs only): every old line is
            # kept without finding its run (a split and a decode a line, ~40 ms at 100,000 lines).
            lines = old.all_lines()
        else:
            lines = [line for line in old.all_lines()
                     if (run := line.split(b"\t", 3)[2].decode()) in runs and run not in fresh]
        for entry in extra.values():
            lines.extend(_lines(entry))
        lines.sort()  # the old lines are one sorted run: ~n comparisons, not n log n
        head: dict[str, Any] = {"version": SNAPSHOT_VERSION, "runs": sorted(runs)}
        if empty:
            head["empty"] = sorted(empty - runs)
        kept = runs - fresh
        if old.readers is not None or not kept & old.runs:
            head["readers"] = sorted((old.readers or set()) & kept | {r for r, e in extra.items() if e["inputs"]})
        header = json.dumps(head, separators=(",", ":")).encode()
        raw = header + b"\n" + b"\n".join(lines) + (b"\n" if lines else b"")
        store.write_content_snapshot(raw)
        return _Snapshot(raw)

    def _rows(self, prefix: str) -> Iterator[_Row]:
        """Every row whose key starts with ``prefix``, of runs that still have an entry."""
        self._load()
        target = prefix.encode()
        for line in self._snapshot.starting(target):
            row = _Row.parse(line)
            if row is not None and row.run_id in self._alive and row.run_id not in self._extra:  # (extra: indexed anew)
                yield row
        lines = self._extra_lines
        at = bisect.bisect_left(lines, target)
        while at < len(lines) and lines[at].startswith(target):
            extra = _Row.parse(lines[at])
            if extra is not None:
                yield extra
            at += 1

    def algorithms(self) -> list[str]:
        """The hash algorithms of the indexed contents (``md5`` when none is indexed)."""
        self._load()
        found = set()
        for name in ("md5", "sha256", "blake3"):
            if any(True for _ in self._rows(f"{name}:")):
                found.add(name)
        return sorted(found) or ["md5"]

    def keys_with_prefix(self, prefix: str, algorithms: Iterable[str] = ("md5", "sha256", "blake3")) -> list[str]:
        """Every stored content key whose digest starts with ``prefix``."""
        keys: set[str] = set()
        for algorithm in algorithms:
            keys.update(row.key for row in self._rows(f"{algorithm}:{prefix}") if row.kind == _FILE)
        return sorted(keys)

    def readers(self) -> dict[str, list[tuple[str, str]]]:
        """content key -> ``(run_id, path)`` of every finished run that read it as an input."""
        self._load()
        out: dict[str, list[tuple[str, str]]] = {}
        store = self.store
        known = self._snapshot.readers
        for run_id in sorted(self._alive):
            # Inputs are only in the entries (see _lines): one read per run that read something
            # (the snapshot names them), for this rare question.
            if known is not None and run_id not in known and run_id not in self._extra:
                continue
            entry = self._extra.get(run_id)
            if entry is None and isinstance(store, ContentIndexedRunLogStore):
                entry = _parse_entry(store.read_content(run_id), run_id)
            inputs = _inputs_of(entry, run_id) if entry is not None else None
            if inputs is None:  # damaged or hand-edited: what the record says (or nothing)
                record = self._read(run_id)
                inputs = [] if record is None else [(key_of(i.algorithm, i.digest), i.path) for i in record.inputs]
            for key, path in inputs:
                out.setdefault(key, []).append((run_id, path))
        return out

    def _stored_keys(self) -> set[bytes] | None:
        """After the first 256 lookups (a job with many inputs), every stored content key in one
        set: a binary search per input cost 12 us, 0.12 s for 10,000 inputs; one pass over the
        snapshot costs ~1 us per line, once. None until then."""
        self._lookups += 1
        if self._lookups <= 256:
            return None
        if self._loaded_keys is not self._snapshot:
            lines = self._snapshot.body.split(b"\n") + self._extra_lines
            self._stored_keys_set = {line.split(b"\t", 1)[0] for line in lines if b"\tF\t" in line}
            self._loaded_keys = self._snapshot
        return self._stored_keys_set

    def holders(self, key: str, exclude: Iterable[str] = ()) -> list[Holder]:
        """The runs holding content ``key``, oldest first; each checked against its record."""
        skip = set(exclude)
        algorithm, digest = key.split(":", 1)
        found: list[Holder] = []
        self._load()
        if self._stored_keys() is not None and key.encode() not in self._stored_keys_set:
            return found
        for row in self._rows(key + "\tF\t"):  # stored files only: inputs sort apart, unparsed
            if row.run_id in skip:
                continue
            record = self._read(row.run_id)
            if record is None:
                continue  # deleted since it was indexed (or unreadable now): not an answer
            for f in (*record.files, *earlier_versions(record)):
                if f.path == row.path and f.hash.get(algorithm) == digest:
                    found.append(Holder(row.run_id, row.path, f.size, f.stored, record.status,
                                        str(record.job.get("name", "")), record.start))
                    break
        found.sort(key=lambda h: (h.start, h.run_id, h.path))
        return found


def source_of(holders: list[Holder]) -> dict[str, Any] | None:
    """The ``source`` of an input: the earliest successful holder, and how many other runs hold it.

    >>> source_of([Holder("b", "x", 1, True, "SUCCESS", "j", "2"), Holder("a", "y", 1, True, "FAIL", "j", "1")])
    {'run_id': 'b', 'path': 'x', 'others': 1}
    """
    good = [h for h in holders if h.status == SUCCESS]
    if not good:
        return None
    first = min(good, key=lambda h: (h.start, h.run_id, h.path))
    others = len({h.run_id for h in holders} - {first.run_id})
    return {"run_id": first.run_id, "path": first.path, "others": others}


def _valid(key: Any, run_id: Any, path: Any) -> bool:
    """Whether an index row's fields are ones the index writes: a key ``algorithm:hex``, a valid run
    id, a clean relative path (no tab, newline or '..' can reach a snapshot line or a lookup)."""
    try:
        check_run_id(run_id)
        check_rel_path(path)
    except RecordError:
        return False
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


_LINE = re.compile(rb"[a-z0-9]{1,16}:[0-9a-f]{8,128}\t[FI]\t[A-Za-z0-9][A-Za-z0-9._-]{0,127}\t[0-9]{1,19}\t[01]\t\"")


def _well_formed(line: bytes) -> bool:
    return _LINE.match(line) is not None


def _content_ids(store: ContentIndexedRunLogStore) -> Iterator[str]:
    """The runs with an entry; a file whose name is not a run id (put there by hand) is not one."""
    for run_id in store.iter_content_ids():
        try:
            yield check_run_id(run_id)
        except RecordError:
            continue


def _parse_entry(raw: bytes | None, run_id: str) -> dict[str, Any] | None:
    """The entry of ``run_id``, or None when it is damaged or hand-edited (any field not as the index
    writes it: sizes are integers >= 0, keys ``algorithm:hex``, paths relative): the record is read
    instead (see _load), never a traceback.

    Its inputs are only checked to be a list here: they are checked one by one when read
    (``_inputs_of``, for ``readers``). Checking 10,000 of them cost ~50 ms, on every load, for
    every entry waiting outside the snapshot, and only lineage downstream reads them."""
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        if entry.get("version") != ENTRY_VERSION or entry.get("run_id") != run_id:
            return None
        files = [[k, p, s, bool(st)] for k, p, s, st in entry["files"]]
        inputs = entry.get("inputs", [])
        if not isinstance(inputs, list):
            return None
        if not all(_valid(k, run_id, p) and type(s) is int and s >= 0 for k, p, s, _ in files):
            return None
        return {**entry, "files": files, "inputs": inputs}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _inputs_of(entry: dict[str, Any], run_id: str) -> list[tuple[str, str]] | None:
    """The (key, path) of every input of a parsed entry, or None if any is not as the index writes it
    (the run's record is read instead)."""
    out = []
    for item in entry.get("inputs", []):
        if not isinstance(item, list) or len(item) != 2 or not _valid(item[0], run_id, item[1]):
            return None
        out.append((item[0], item[1]))
    return out
