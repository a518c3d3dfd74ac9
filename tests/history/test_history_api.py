"""The Python API of run history: runnable.runs(), runnable.get_run(), Run objects, the index, gc."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import runnable
from runnable.backends.runlog import FileSystemRunLogStore
from runnable.errors import IntegrityError, RestoreError, RunNotFoundError, UsageError
from runnable.history.gc import Policy, choose, collect
from runnable.history.index import RunIndex
from runnable.history.runs import History
from runnable.history.when import parse_duration, parse_moment
from runnable.record import RunRecord
from runnable.run.liveness import owner_alive, pid_alive
from tests.history_helpers import copy_project, corrupt, load_record, object_path, save_record


@pytest.fixture
def here(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared project as the working folder (read-only tests)."""
    for key in list(os.environ):
        if key.startswith("RUNNABLE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(project)
    return project


@pytest.fixture
def own(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the project as the working folder."""
    for key in list(os.environ):
        if key.startswith("RUNNABLE_"):
            monkeypatch.delenv(key)
    copy = copy_project(project, tmp_path / "own")
    monkeypatch.chdir(copy)
    return copy


def test_runs_are_newest_first_and_filterable(here: Path) -> None:
    assert [r.run_id for r in runnable.runs()] == ["delta-run-0004", "gamma-run-0003", "beta-run-0002",
                                                    "alpha-run-0001"]
    assert [r.run_id for r in runnable.runs(status="FAIL")] == ["gamma-run-0003"]
    assert [r.run_id for r in runnable.runs(tag="exp", limit=1)] == ["beta-run-0002"]
    assert [r.run_id for r in runnable.runs(tag=["exp", "big"])] == ["beta-run-0002"]
    assert runnable.runs(since=datetime.now(UTC) + timedelta(days=1)) == []
    assert len(runnable.runs(since="1d")) == 4
    with pytest.raises(UsageError):
        runnable.runs(since="someday")


def test_a_run_exposes_its_record(here: Path) -> None:
    run = runnable.get_run("beta-run-0002")
    assert isinstance(run, runnable.Run)
    assert run.status == "SUCCESS" and run.parameters == {"rows": 5, "note": "first", "fail": False}
    assert run.tags == ["exp", "big"] and run.job == "make"
    assert run.start is not None and run.end is not None and run.start <= run.end
    df = (here / ".catalog" / "beta-run-0002" / "df.csv").read_bytes()
    entry = run.files[0]
    assert (entry.path, entry.size, entry.md5, entry.stored) == ("df.csv", len(df), hashlib.md5(df).hexdigest(), True)
    with run.open("df.csv") as handle:
        assert handle.read() == df
    assert "wrote 5 rows" in run.log()
    assert run.record.run_id == "beta-run-0002"


def test_open_refuses_what_it_cannot_read(here: Path) -> None:
    with pytest.raises(RestoreError, match="hash only"):
        runnable.get_run("delta-run-0004").open("big.bin")
    with pytest.raises(RestoreError, match="did you mean df.csv"):
        runnable.get_run("beta-run-0002").open("df.cvs")


def test_an_unknown_run_is_a_key_error_with_suggestions(here: Path) -> None:
    with pytest.raises(KeyError) as info:
        runnable.get_run("alpha-run-001")
    assert isinstance(info.value, RunNotFoundError)
    assert "did you mean alpha-run-0001" in str(info.value)
    with pytest.raises(RunNotFoundError, match="no run '../etc'"):
        runnable.get_run("../etc")


def test_open_detects_a_corrupt_stored_copy(own: Path) -> None:
    run = runnable.get_run("alpha-run-0001")
    corrupt(object_path(own, run.files[0].digest), b"Z")
    with pytest.raises(IntegrityError, match="corrupt"), run.open("df.csv") as handle:
        handle.read()
    check = run.verify()
    assert not check.ok and [f.state for f in check.files] == ["CORRUPT", "OK", "OK"]


def test_restore_through_the_api(here: Path, tmp_path: Path) -> None:
    report = runnable.get_run("alpha-run-0001").restore(["df.csv"], to=tmp_path / "r")
    assert report.ok and report.written == ["df.csv"]
    assert (tmp_path / "r" / "df.csv").read_bytes() == (here / ".catalog" / "alpha-run-0001" / "df.csv").read_bytes()


def test_config_argument_selects_the_stores(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(f"catalog: {{type: file-system, config: {{catalog_location: '{project / '.catalog'}'}}}}\n"
                      f"run-log-store: {{type: file-system, config: {{log_folder: '{project / '.run_log_store'}'}}}}\n")
    assert len(runnable.runs(config=config)) == 4
    assert runnable.runs() == []
    monkeypatch.setenv("RUNNABLE_CONFIGURATION_FILE", str(config))
    assert runnable.get_run("alpha-run-0001").status == "SUCCESS"


# -- the index ---------------------------------------------------------------------------------
def test_the_index_is_reused_and_repaired_from_the_records(own: Path) -> None:
    store = FileSystemRunLogStore(own / ".run_log_store")
    (own / ".run_log_store" / ".index.json").unlink(missing_ok=True)
    index = RunIndex(store)
    assert len(index.summaries()) == 4 and index.reread == 4
    assert len(index.summaries()) == 4 and index.reread == 0
    data = load_record(own, "alpha-run-0001")
    data["status"] = "FAIL"
    save_record(own, "alpha-run-0001", data)
    statuses = {s.run_id: s.status for s in index.summaries()}
    assert index.reread == 1 and statuses["alpha-run-0001"] == "FAIL"
    (own / ".run_log_store" / "beta-run-0002.json").unlink()
    assert {s.run_id for s in index.summaries()} == {"alpha-run-0001", "gamma-run-0003", "delta-run-0004"}
    (own / ".run_log_store" / ".index.json").write_bytes(b"\x00garbage")
    assert len(index.summaries()) == 3 and index.reread == 3


# -- liveness ----------------------------------------------------------------------------------
def test_liveness_of_owners() -> None:
    host = socket.gethostname()
    assert owner_alive({"host": host, "pid": os.getpid()}, datetime.now(UTC)) is True
    assert owner_alive({"host": "another-host.invalid", "pid": 1}, None) is None
    assert owner_alive({}, None) is None
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert pid_alive(proc.pid) is False
    assert pid_alive(os.getpid(), datetime(2001, 1, 1, tzinfo=UTC)) is False  # started after: id reused


def test_a_zombie_owner_is_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # finished, not yet reaped: a zombie
        assert pid_alive(proc.pid) is False
    finally:
        proc.wait()


def test_get_run_settles_a_dead_owner(own: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    data = load_record(own, "beta-run-0002")
    data.update(status="RUNNING", end=None)
    data["environment"].update(host=socket.gethostname(), pid=proc.pid)
    save_record(own, "beta-run-0002", data)
    run = runnable.get_run("beta-run-0002")
    assert run.status == "FAIL" and run.error is not None and "owner process died" in run.error["message"]
    assert load_record(own, "beta-run-0002")["status"] == "FAIL"


# -- gc planning -------------------------------------------------------------------------------
def _record(run_id: str, status: str, start: datetime) -> RunRecord:
    return RunRecord(run_id, status, {}, start.isoformat())


def test_gc_choice_of_runs() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    records = {r.run_id: r for r in [
        _record("old-fail", "FAIL", now - timedelta(days=40)),
        _record("old-ok", "SUCCESS", now - timedelta(days=35)),
        _record("new-fail", "FAIL", now - timedelta(days=1)),
        _record("new-ok", "SUCCESS", now - timedelta(hours=1)),
        _record("running", "RUNNING", now - timedelta(days=50)),
    ]}

    def chosen(**kw: object) -> list[str]:
        return [r.run_id for r in choose(records, Policy(**kw), now)[0]]  # type: ignore[arg-type]

    assert chosen() == []
    assert chosen(statuses=("FAIL",)) == ["new-fail", "old-fail"]
    assert chosen(older_than=parse_duration("30d")) == ["old-ok", "old-fail"]
    assert chosen(keep_last=2) == ["old-ok", "old-fail"]
    assert chosen(statuses=("FAIL",), keep_last=1) == ["old-fail"]
    assert chosen(statuses=("RUNNING",)) == []
    assert chosen(older_than=timedelta(days=1_000_000)) == []  # older than the calendar: none, no OverflowError
    with pytest.raises(UsageError):
        Policy(statuses=("DONE",))


def test_gc_choice_by_job_and_tag() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)

    def run(run_id: str, job: str, days: int, tags: list[str]) -> RunRecord:
        return RunRecord(run_id, "SUCCESS", {"kind": "python", "name": job}, (now - timedelta(days=days)).isoformat(),
                         tags=tags)

    records = {r.run_id: r for r in [
        run("prep-1", "prep", 9, ["data"]), run("train-1", "train", 8, ["sweep"]), run("train-2", "train", 7, []),
        run("train-3", "train", 6, ["sweep"]), run("prep-2", "prep", 5, ["data", "v2"]),
    ]}

    def chosen(**kw: object) -> list[str]:
        return [r.run_id for r in choose(records, Policy(**kw), now)[0]]  # type: ignore[arg-type]

    # keep the 2 newest training runs: the data runs are not counted, nor deleted
    assert chosen(jobs=("train",), keep_last=2) == ["train-1"]
    assert chosen(tags=("sweep",)) == ["train-3", "train-1"]
    assert chosen(tags=("data", "v2")) == ["prep-2"]  # every tag must match
    assert chosen(jobs=("prep", "train"), keep_last=4) == ["prep-1"]
    assert chosen(jobs=("nothing",)) == []


def test_gc_through_the_api_keeps_everything_referenced(own: Path) -> None:
    history = History.from_config()
    dry = collect(history, Policy(statuses=("FAIL",)), dry_run=True)
    assert [r.run_id for r in dry.runs] == ["gamma-run-0003"] and dry.objects
    report = collect(history, Policy(statuses=("FAIL",)))
    assert [r.run_id for r in report.runs] == ["gamma-run-0003"]
    assert {o[1] for o in report.objects} == {o[1] for o in dry.objects}
    assert all(run.verify(own).ok for run in runnable.runs())


def test_when_parsing() -> None:
    assert parse_duration("2w").days == 14 and parse_duration("1h30m").total_seconds() == 5400
    assert parse_moment("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(UsageError):
        parse_duration("30 days")
    assert json.dumps(parse_moment("2024-05-01").isoformat())
