"""Declared inputs (``Catalog(get=...)``) and the content index, through real runs in subprocesses:
hashed before the job starts, traced to the run that stored the same content, fetched from a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runnable.backends.runlog import FileSystemRunLogStore
from runnable.errors import PatternError
from runnable.files.hashing import hash_file
from runnable.history.contentindex import ContentIndex, key_of
from runnable.record import RunRecord
from tests.conftest import run_python

CHAIN = '''
import sys
from pathlib import Path
from runnable import Catalog, PythonJob

def prepare():
    Path("data").mkdir(exist_ok=True)
    Path("data/features.csv").write_text("a,b\\n1,2\\n")
    Path("data/labels.csv").write_text("y\\n1\\n")

def train():
    Path("model.pkl").write_text("model of " + Path("data/features.csv").read_text())
    print("job started")

if __name__ == "__main__":
    step, *rest = sys.argv[1:]
    get_from = rest[0] if rest else None
    if step == "prepare":
        PythonJob(function=prepare, catalog=Catalog(put=["data/"])).execute()
    else:
        get = {"train": ["data/*.csv"], "missing": ["data/", "nothere.csv"], "escape": ["link.csv"]}[step]
        PythonJob(function=train, catalog=Catalog(get=get, get_from=get_from, put=["model.pkl"])).execute()
'''


def records(folder: Path) -> dict[str, RunRecord]:
    store = FileSystemRunLogStore(folder / ".run_log_store")
    return {run_id: store.get(run_id) for run_id in store.iter_ids()}


def step(folder: Path, *args: str) -> tuple[int, str, str]:
    proc = run_python(folder / "chain.py", folder, *args)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def chain(workdir: Path) -> Path:
    (workdir / "chain.py").write_text(CHAIN)
    return workdir


def _runs(folder: Path) -> list[RunRecord]:
    return sorted(records(folder).values(), key=lambda r: r.start)


def test_inputs_are_hashed_and_traced_to_the_run_that_stored_them(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    code, _, err = step(chain, "train")
    assert code == 0, err
    prepare, train = _runs(chain)
    assert train.schema == 2
    assert [i.path for i in train.inputs] == ["data/features.csv", "data/labels.csv"]
    first = train.inputs[0]
    assert first.hash == {"md5": hash_file(chain / "data/features.csv")[0]}
    assert first.size == (chain / "data/features.csv").stat().st_size
    assert first.source == {"run_id": prepare.run_id, "path": "data/features.csv", "others": 0}
    # Inputs are only hashed: nothing of them is in the train run's catalog folder.
    assert not (chain / ".catalog" / train.run_id / "data").exists()
    assert train.catalog["get"] == ["data/*.csv"]


def test_source_is_the_earliest_successful_run_and_others_are_counted(chain: Path) -> None:
    for _ in range(2):
        assert step(chain, "prepare")[0] == 0
    assert step(chain, "train")[0] == 0
    first, second, train = _runs(chain)
    assert second.run_id != first.run_id
    assert train.inputs[0].source == {"run_id": first.run_id, "path": "data/features.csv", "others": 1}


def test_content_never_stored_has_no_source(chain: Path) -> None:
    (chain / "data").mkdir()
    (chain / "data/features.csv").write_text("made by hand\n")
    assert step(chain, "train")[0] == 0
    (train,) = _runs(chain)
    assert train.inputs[0].source is None


def test_a_get_pattern_selecting_nothing_fails_the_run_before_the_job_starts(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    code, out, err = step(chain, "missing")
    assert code != 0
    assert "get pattern 'nothere.csv' matched no file" in err
    assert "job started" not in out + err
    assert err.splitlines()[0].startswith("runnable: error: InputError: get pattern 'nothere.csv'")
    failed = _runs(chain)[-1]
    assert failed.status == "FAIL" and failed.inputs == [] and not (chain / "model.pkl").exists()


def test_a_get_pattern_leaving_the_folder_is_refused_in_one_line(workdir: Path) -> None:
    from runnable import Catalog

    with pytest.raises(PatternError, match="get pattern '../x.csv' uses '..'"):
        Catalog(get=["../x.csv"])
    with pytest.raises(PatternError, match="list of patterns"):
        Catalog(get="x.csv")
    with pytest.raises(PatternError, match="needs get"):
        Catalog(get_from="latest")


def test_a_symbolic_link_out_of_the_folder_is_not_an_input(chain: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n")
    os.symlink(outside, chain / "link.csv")
    code, out, err = step(chain, "escape")
    assert code != 0
    assert "get pattern 'link.csv' matched no file" in err and "outside the working folder" in err
    assert "job started" not in out


def test_get_from_restores_the_runs_files_then_records_it_as_the_source(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    (prepare,) = _runs(chain)
    for f in (chain / "data").iterdir():
        f.unlink()
    code, _, err = step(chain, "train", "latest:prepare")
    assert code == 0, err
    train = _runs(chain)[-1]
    assert (chain / "data/features.csv").read_text() == "a,b\n1,2\n"
    assert [(i.path, i.source and i.source["run_id"]) for i in train.inputs] == [
        ("data/features.csv", prepare.run_id), ("data/labels.csv", prepare.run_id)]
    assert train.catalog["get_from"] == "latest:prepare"
    # by run id, with identical files already there: left alone
    before = (chain / "data/features.csv").stat().st_ino
    assert step(chain, "train", prepare.run_id)[0] == 0
    assert (chain / "data/features.csv").stat().st_ino == before


def test_get_from_never_overwrites_a_different_working_file(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    (chain / "data/features.csv").write_text("edited by hand\n")
    code, out, err = step(chain, "train", "latest")
    assert code != 0
    assert "input 'data/features.csv' in the working folder differs from the copy stored by run" in err
    assert "move or delete it" in err
    assert (chain / "data/features.csv").read_text() == "edited by hand\n"
    assert "job started" not in out


def test_get_from_a_missing_run_is_one_clear_line(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    code, _, err = step(chain, "train", "no-such-run-1234")
    assert code != 0
    assert "get_from='no-such-run-1234': no run 'no-such-run-1234' in the run-log store" in err
    code, _, err = step(chain, "train", "latest:nojob")
    assert "get_from='latest:nojob': there is no successful run of job 'nojob'" in err


# -- the content index --------------------------------------------------------------------------
def test_each_finished_run_writes_its_own_index_entry_after_its_record(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    (prepare,) = _runs(chain)
    entry = json.loads((chain / ".run_log_store/.content" / f"{prepare.run_id}.json").read_text())
    assert entry["run_id"] == prepare.run_id and entry["status"] == "SUCCESS"
    assert sorted(f[1] for f in entry["files"]) == ["data/features.csv", "data/labels.csv"]


def test_the_index_is_rebuilt_from_records_after_a_crash_and_checked_against_them(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    assert step(chain, "prepare")[0] == 0
    first, second = _runs(chain)
    store = FileSystemRunLogStore(chain / ".run_log_store")
    key = key_of("md5", hash_file(chain / "data/features.csv")[0])
    # A crash between the record and the entry: the run is indexed from its record when found.
    (chain / ".run_log_store/.content" / f"{second.run_id}.json").unlink()
    assert [h.run_id for h in ContentIndex(store).holders(key)] == [first.run_id, second.run_id]
    assert (chain / ".run_log_store/.content" / f"{second.run_id}.json").exists()
    # The same once the snapshot covers the run: the entry is gone, the record is not.
    assert (chain / ".run_log_store/.content/.merged.json").exists()
    (chain / ".run_log_store/.content" / f"{second.run_id}.json").unlink()
    assert [h.run_id for h in ContentIndex(store).holders(key)] == [first.run_id, second.run_id]
    rebuilt = ContentIndex(store)
    rebuilt.rebuild()
    assert [h.run_id for h in rebuilt.holders(key)] == [first.run_id, second.run_id]
    # A record deleted behind the index's back: its entry never becomes an answer.
    (chain / ".run_log_store" / f"{first.run_id}.json").unlink()
    assert [h.run_id for h in ContentIndex(store).holders(key)] == [second.run_id]
    # A damaged snapshot and a damaged entry are rebuilt, never trusted.
    (chain / ".run_log_store/.content/.merged.json").write_text("{not json")
    (chain / ".run_log_store/.content" / f"{second.run_id}.json").write_text("garbage")
    assert [h.run_id for h in ContentIndex(store).holders(key)] == [second.run_id]
    assert ContentIndex(store).rebuild() == 1
    assert not (chain / ".run_log_store/.content" / f"{first.run_id}.json").exists()


def test_the_snapshot_is_reused_and_only_new_entries_are_read(chain: Path) -> None:
    for _ in range(3):
        assert step(chain, "prepare")[0] == 0
    store = FileSystemRunLogStore(chain / ".run_log_store")
    index = ContentIndex(store)
    index.keys_with_prefix("")
    assert index.reread == 3
    again = ContentIndex(store)
    again.keys_with_prefix("")
    assert again.reread == 0
    assert step(chain, "prepare")[0] == 0
    third = ContentIndex(store)
    third.keys_with_prefix("")
    assert third.reread == 1


def test_a_version_1_record_stays_readable_and_is_indexed(chain: Path) -> None:
    """A record exactly as runnable wrote it before inputs existed (schema 1, no ``inputs``)."""
    (chain / ".run_log_store").mkdir()
    digest = "e5ebd4c02cefbe7955977c67ada242b7"
    old = {
        "run_id": "old-run-0001", "status": "SUCCESS", "job": {"kind": "python", "name": "prepare"},
        "start": "2026-01-01T00:00:00.000+00:00", "end": "2026-01-01T00:00:01.000+00:00",
        "duration_seconds": 1.0, "parameters": {}, "returns": {}, "code": {}, "runnable_version": "0.9",
        "environment": {}, "catalog": {"put": ["features.csv"]},
        "files": [{"path": "features.csv", "size": 8, "hash": {"md5": digest}, "stored": True,
                   "location": ".catalog/old-run-0001/features.csv"}],
        "execution_log": None, "skipped": [], "error": None, "tags": [], "schema": 1,
    }
    (chain / ".run_log_store/old-run-0001.json").write_text(json.dumps(old))
    store = FileSystemRunLogStore(chain / ".run_log_store")
    record = store.get("old-run-0001")
    assert record.schema == 1 and record.inputs == []
    assert [h.run_id for h in ContentIndex(store).holders(f"md5:{digest}")] == ["old-run-0001"]


def test_gc_drops_the_index_entry_of_a_deleted_run_and_reindex_rebuilds_it(chain: Path) -> None:
    from tests.conftest import run_cli

    assert step(chain, "prepare")[0] == 0
    assert step(chain, "prepare")[0] == 0
    first, second = _runs(chain)
    content = chain / ".run_log_store/.content"
    proc = run_cli(chain, "gc", "--keep-last", "1")
    assert proc.returncode == 0, proc.stderr
    assert not (content / f"{first.run_id}.json").exists()
    assert (content / f"{second.run_id}.json").exists()
    for f in content.iterdir():
        f.unlink()
    proc = run_cli(chain, "catalog", "reindex")
    assert proc.returncode == 0, proc.stderr
    assert "rebuilt from 1 finished run(s)" in proc.stdout
    assert sorted(p.name for p in content.iterdir()) == [".merged.json", f"{second.run_id}.json"]
    (content / f"{second.run_id}.json").unlink()
    assert run_cli(chain, "catalog", "verify", "--all").returncode == 0
    assert (content / f"{second.run_id}.json").exists()


def test_an_input_changing_while_it_is_hashed_is_one_clear_line(workdir: Path) -> None:
    """A writer appends to the input for the whole time it is hashed: the digest would describe
    bytes that never existed together, so the run is refused before the job starts."""
    import threading

    from runnable.errors import InputError
    from runnable.run.inputs import collect

    big = workdir / "growing.bin"
    big.write_bytes(b"x" * (8 << 20))
    stop = threading.Event()

    def append() -> None:
        with open(big, "ab") as out:
            while not stop.is_set():
                out.write(b"y" * 4096)
                out.flush()

    writer = threading.Thread(target=append)
    writer.start()
    try:
        with pytest.raises(InputError, match=r"input 'growing.bin' changed while it was being hashed; the job "
                                             r"did not start: run again once nothing writes to it"):
            collect(["growing.bin"], workdir, "md5", ContentIndex(FileSystemRunLogStore(workdir / ".rls")))
    finally:
        stop.set()
        writer.join()


def test_a_hand_edited_input_entry_is_refused_when_read() -> None:
    from runnable.errors import RecordError
    from runnable.record import InputEntry

    good = {"path": "a.csv", "size": 1, "hash": {"md5": "0" * 32}, "source": {"run_id": "r-1", "path": "a.csv",
                                                                             "others": 0}}
    assert InputEntry.from_dict(good).source_run == "r-1"
    for bad, words in ((dict(good, path="../a.csv"), "leaves its folder"),
                       (dict(good, hash={"md5": "../../x"}), "no valid hash"),
                       (dict(good, source={"run_id": "../x", "path": "a"}), "run id"),
                       (dict(good, extra=1), "unknown field")):
        with pytest.raises(RecordError, match=words):
            InputEntry.from_dict(bad)


def test_many_inputs_find_their_sources_through_the_key_set_and_a_merged_snapshot(workdir: Path) -> None:
    """600 inputs: past 256 lookups the index answers from one set of stored keys; the stored
    run's entry (600 lines) and a reader's (600 more) wait outside the snapshot or are merged."""
    from runnable.record import FileEntry, RunRecord
    from runnable.run.inputs import collect

    (workdir / "data").mkdir()
    store = FileSystemRunLogStore(workdir / ".run_log_store")
    files = []
    for n in range(600):
        path = workdir / "data" / f"f{n:03d}.txt"
        path.write_text(f"content {n}\n")
        if n % 2 == 0:  # half of them were stored by a run
            digest, size = hash_file(path)
            files.append(FileEntry(f"data/f{n:03d}.txt", size, {"md5": digest}, True))
    stored = RunRecord("maker-0001", "SUCCESS", {"name": "make"}, "2026-01-01T00:00:00", files=files)
    store.put(stored)
    ContentIndex(store).add(stored)
    inputs = collect(["data/"], workdir, "md5", ContentIndex(store))
    assert len(inputs) == 600
    assert [i.source_run for i in inputs] == ["maker-0001" if n % 2 == 0 else None for n in range(600)]
    reader = RunRecord("reader-0002", "SUCCESS", {"name": "read"}, "2026-01-02T00:00:00", inputs=inputs)
    store.put(reader)
    ContentIndex(store).add(reader)
    again = collect(["data/"], workdir, "md5", ContentIndex(store))
    assert [i.source for i in again] == [i.source for i in inputs]
    assert set(ContentIndex(store).readers()) == {f"md5:{i.digest}" for i in inputs}


def test_concurrent_runs_each_index_their_own_content(workdir: Path) -> None:
    """Six runs at once, each storing its own file and reading a shared one (so each loads the index
    and may write the snapshot while the others write their entries): all six are found after."""
    import subprocess
    import sys

    (workdir / "shared.csv").write_text("shared\n")
    script = workdir / "job.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom runnable import Catalog, PythonJob\n"
        "def work(n: int = 0):\n    Path(f'out{n}.txt').write_text(f'output {n}\\n')\n"
        "n = int(sys.argv[1])\n"
        "PythonJob(function=work, catalog=Catalog(get=['shared.csv'], put=[f'out{n}.txt'])).execute()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    procs = [subprocess.Popen([sys.executable, str(script), str(n)], cwd=workdir,
                              env={**env, "RUNNABLE_PRM_n": str(n)},  # the job's parameter n
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for n in range(6)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    store = FileSystemRunLogStore(workdir / ".run_log_store")
    index = ContentIndex(store)
    for n in range(6):
        holders = index.holders(key_of("md5", hash_file(workdir / f"out{n}.txt")[0]))
        assert [h.path for h in holders] == [f"out{n}.txt"], n
    assert len(list(store.iter_content_ids())) == 6


def test_gc_removes_abandoned_temporaries_of_the_content_index(chain: Path) -> None:
    from runnable.files.fileio import TEMP_PREFIX
    from tests.conftest import run_cli

    assert step(chain, "prepare")[0] == 0
    left = chain / ".run_log_store/.content" / f"{TEMP_PREFIX}1-x-1-run.json"
    left.write_text("half written")
    old = 0  # 1970: abandoned long ago
    os.utime(left, (old, old))
    proc = run_cli(chain, "gc")
    assert proc.returncode == 0, proc.stderr
    assert not left.exists()


def test_get_from_latest_with_no_job_is_one_clear_line() -> None:
    from runnable import Catalog

    for value in ("latest:", "latest: "):
        with pytest.raises(PatternError) as info:
            Catalog(get=["x.csv"], get_from=value)
        assert "names no job after 'latest:'" in str(info.value) and "\n" not in str(info.value)


def test_get_from_over_a_symbolic_link_says_what_to_do_without_force(chain: Path) -> None:
    assert step(chain, "prepare")[0] == 0
    target = chain / "elsewhere.csv"
    target.write_text("mine\n")
    (chain / "data/features.csv").unlink()
    os.symlink("../elsewhere.csv", chain / "data/features.csv")
    code, out, err = step(chain, "train", "latest")
    assert code != 0 and "job started" not in out
    assert "input 'data/features.csv' from run" in err and "remove the link, or drop get_from" in err
    assert "--force" not in err and target.read_text() == "mine\n"
