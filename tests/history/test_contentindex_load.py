"""What the content index reads on each load: a run that stored and read nothing writes no entry
(and its record is read once, not on every load), an entry with many inputs is parsed by one reader
and then covered by the snapshot, inputs are checked when read, and lineage downstream reads each
record once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runnable.backends.local.catalog import FileSystemStorage
from runnable.backends.runlog import FileSystemRunLogStore
from runnable.history import contentindex
from runnable.history.contentindex import ContentIndex, key_of
from runnable.history.lineage import tree
from runnable.history.runs import History
from runnable.record import FileEntry, InputEntry, RunRecord
from tests.conftest import run_cli, run_python
from tests.lineage_helpers import run_chain

EMPTY_JOB = '''
from runnable import PythonJob

def nothing():
    print("no files")

PythonJob(function=nothing).execute()
'''


def _content(folder: Path) -> Path:
    return folder / ".run_log_store" / ".content"


def test_a_run_that_stored_and_read_nothing_writes_no_entry_and_lineage_still_works(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare, train, evaluate = run_chain(workdir)
    proc = run_python(EMPTY_JOB, workdir)
    assert proc.returncode == 0, proc.stderr
    empty = str(json.loads(proc.stdout[proc.stdout.index("{"):])["run_id"])
    assert not (_content(workdir) / f"{empty}.json").exists()
    assert (_content(workdir) / f"{prepare}.json").exists()

    # Until the snapshot is rewritten (after 64 new runs; here at once), a reader reads the empty
    # run's record; the rewrite notes it as empty, writing no entry ...
    store = FileSystemRunLogStore(workdir / ".run_log_store")
    waiting = ContentIndex(store)
    waiting.keys_with_prefix("")
    assert waiting.reread == 3  # train's and evaluate's entries (not covered yet), the empty run's record
    assert not (_content(workdir) / f"{empty}.json").exists()
    monkeypatch.setattr(contentindex, "REWRITE_AFTER", 0)
    first = ContentIndex(store)
    first.keys_with_prefix("")
    assert not (_content(workdir) / f"{empty}.json").exists()
    header = json.loads((_content(workdir) / ".merged.json").read_bytes().split(b"\n", 1)[0])
    assert empty in header["empty"] and empty not in header["runs"]
    # ... and no later reader reads it again.
    again = ContentIndex(store)
    again.keys_with_prefix("")
    assert again.reread == 0

    down = run_cli(workdir, "runs", "lineage", prepare, "--down", "--json")
    assert down.returncode == 0, down.stderr
    assert train in down.stdout and evaluate in down.stdout and empty not in down.stdout
    alone = run_cli(workdir, "runs", "lineage", empty, "--json")
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["children"] == []
    which = run_cli(workdir, "runs", "which", "data/features.csv", "--json")
    assert which.returncode == 0, which.stderr
    assert [r["run_id"] for r in json.loads(which.stdout)["runs"]] == [prepare]

    # gc of the empty run: the snapshot forgets it; reindex counts it, still with no entry.
    (workdir / ".run_log_store" / f"{empty}.json").unlink()
    after = ContentIndex(store)
    assert [h.run_id for h in after.holders(key_of("md5", _md5(workdir / "data/features.csv")))] == [prepare]
    assert ContentIndex(store).rebuild() == 3
    assert sorted(p.name for p in _content(workdir).glob("[!.]*.json")) == sorted(
        f"{r}.json" for r in (prepare, train, evaluate))


def _md5(path: Path) -> str:
    from runnable.files.hashing import hash_file
    return hash_file(path)[0]


def _reader(run_id: str, n: int, start: str) -> RunRecord:
    inputs = [InputEntry(f"in/f{k:04d}.txt", 10, {"md5": f"{k:032x}"}, None) for k in range(n)]
    return RunRecord(run_id, "SUCCESS", {"name": "read"}, start, inputs=inputs)


def test_an_entry_with_many_inputs_is_parsed_by_one_reader_then_covered_by_the_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contentindex, "REWRITE_LINES", 100)
    store = FileSystemRunLogStore(tmp_path / ".run_log_store")
    maker = RunRecord("maker-0001", "SUCCESS", {"name": "make"}, "2026-01-01T00:00:00",
                      files=[FileEntry("out.txt", 10, {"md5": f"{7:032x}"}, True)])
    store.put(maker)
    ContentIndex(store).add(maker)
    ContentIndex(store).keys_with_prefix("")  # the snapshot covers the maker
    reader = _reader("reader-0002", 150, "2026-01-02T00:00:00")
    store.put(reader)
    ContentIndex(store).add(reader)

    first = ContentIndex(store)
    assert [h.run_id for h in first.holders(f"md5:{7:032x}")] == ["maker-0001"]
    assert first.reread == 1  # the reader's entry, parsed once ...
    second = ContentIndex(store)
    assert [h.run_id for h in second.holders(f"md5:{7:032x}")] == ["maker-0001"]
    assert second.reread == 0  # ... then covered by the snapshot, not parsed by every later run
    readers = ContentIndex(store).readers()
    assert readers[f"md5:{7:032x}"] == [("reader-0002", "in/f0007.txt")] and len(readers) == 150


def test_a_forged_input_in_an_entry_is_never_a_reader(tmp_path: Path) -> None:
    store = FileSystemRunLogStore(tmp_path / ".run_log_store")
    reader = _reader("reader-0002", 3, "2026-01-02T00:00:00")
    store.put(reader)
    ContentIndex(store).add(reader)
    path = store.root / ".content" / "reader-0002.json"
    entry = json.loads(path.read_text())
    for forged in (["md5:" + "a" * 32, "../../etc/passwd"], ["md5:zz", "x.txt"], "not-a-pair", ["md5:" + "b" * 32]):
        path.write_text(json.dumps({**entry, "inputs": [*entry["inputs"], forged]}))
        readers = ContentIndex(store).readers()
        # what the record says, not what the entry was made to say
        assert sorted(readers) == sorted(key_of("md5", f"{k:032x}") for k in range(3)), forged


class CountingStore(FileSystemRunLogStore):
    """The real file-system store, counting the records read."""

    reads: dict[str, int]

    def get(self, run_id: str) -> RunRecord:
        self.reads[run_id] = self.reads.get(run_id, 0) + 1
        return super().get(run_id)


def test_lineage_down_reads_each_record_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / ".run_log_store")
    store.reads = {}
    outputs = [FileEntry(f"out/f{k:04d}.txt", 10, {"md5": f"{k:032x}"}, True) for k in range(300)]
    maker = RunRecord("maker-0001", "SUCCESS", {"name": "make"}, "2026-01-01T00:00:00", files=outputs)
    reader = _reader("reader-0002", 300, "2026-01-02T00:00:00")
    for record in (maker, reader):
        store.put(record)
        ContentIndex(store).add(record)
    store.reads = {}
    root = tree(History(FileSystemStorage(tmp_path / ".catalog"), store), "maker-0001", down=True)
    assert [c.run_id for c in root.children] == ["reader-0002"] and len(root.children[0].via) == 300
    assert max(store.reads.values()) <= 2, store.reads  # was 300 reads of the reader's record


def test_a_job_with_get_does_not_import_the_run_history(workdir: Path) -> None:
    """Only get_from needs ``runnable.history.runs``: importing it (and what it imports) cost ~30 ms a
    run, a fifth of a job reading 10,000 small files."""
    (workdir / "in.txt").write_text("x\n")
    code = '''
import sys
from runnable import Catalog, ShellJob
ShellJob(command="true", catalog=Catalog(get=["in.txt"])).execute()
print("HISTORY" if "runnable.history.runs" in sys.modules else "NO-HISTORY")
'''
    proc = run_python(code, workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("NO-HISTORY"), proc.stdout[-200:]


class EntryCountingStore(FileSystemRunLogStore):
    """The real file-system store, counting the index entries read."""

    entries_read: list[str]

    def read_content(self, run_id: str) -> bytes | None:
        self.entries_read.append(run_id)
        return super().read_content(run_id)


def test_lineage_down_reads_only_the_entries_of_runs_that_read_something(tmp_path: Path) -> None:
    store = EntryCountingStore(tmp_path / ".run_log_store")
    store.entries_read = []
    makers = [RunRecord(f"maker-{n:04d}", "SUCCESS", {"name": "make"}, f"2026-01-01T00:{n:02d}:00",
                        files=[FileEntry("out.txt", 10, {"md5": f"{n:032x}"}, True)]) for n in range(20)]
    reader = _reader("reader-0099", 3, "2026-01-02T00:00:00")  # read what maker-0001 and -0002 stored
    for record in [*makers, reader]:
        store.put(record)
        ContentIndex(store).add(record)
    ContentIndex(store).rebuild()  # a snapshot covering all 21 runs
    store.entries_read = []
    root = tree(History(FileSystemStorage(tmp_path / ".catalog"), store), "maker-0001", down=True)
    assert [c.run_id for c in root.children] == ["reader-0099"]
    assert store.entries_read == ["reader-0099"]  # not the 20 entries of runs that read nothing
    # An older snapshot (no list of readers): every entry is read, the answer is the same.
    merged = store.root / ".content" / ".merged.json"
    head, _, body = merged.read_bytes().partition(b"\n")
    header = json.loads(head)
    del header["readers"]
    merged.write_bytes(json.dumps(header).encode() + b"\n" + body)
    store.entries_read = []
    root = tree(History(FileSystemStorage(tmp_path / ".catalog"), store), "maker-0001", down=True)
    assert [c.run_id for c in root.children] == ["reader-0099"] and len(store.entries_read) == 21
