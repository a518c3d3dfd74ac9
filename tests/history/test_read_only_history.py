"""``History(..., read_only=True)``: reads every run as the history API does and writes nothing to
the run-log store: a dead owner's RUNNING run is reported as FAIL and left as it is, and the listing
index is kept in memory (reused by the next listing, never written)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from runnable.backends.local.catalog import FileSystemStorage
from runnable.backends.runlog import FileSystemRunLogStore
from runnable.history.index import RunIndex
from runnable.history.readonly import ReadOnlyIndexedRunLogStore, read_only_view
from runnable.history.runs import History
from tests.history_helpers import load_record, save_record


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def history(own: Path, read_only: bool) -> History:
    return History(FileSystemStorage(own / ".catalog"), FileSystemRunLogStore(own / ".run_log_store"),
                   read_only=read_only)


def test_a_dead_owner_is_reported_failed_and_left_as_it_is(own: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    data = load_record(own, "beta-run-0002")
    data.update(status="RUNNING", end=None)
    data["environment"].update(host=socket.gethostname(), pid=dead.pid)
    save_record(own, "beta-run-0002", data)
    for index in (own / ".run_log_store").glob(".index*"):
        index.unlink()
    before = files_of(own / ".run_log_store")

    reader = history(own, read_only=True)
    run = reader.get("beta-run-0002")
    assert run.status == "FAIL" and run.error is not None and "owner process died" in run.error["message"]
    listed = {s.run_id: s.status for s in reader.summaries()}
    assert listed["beta-run-0002"] == "FAIL" and len(listed) == 4
    assert files_of(own / ".run_log_store") == before  # no record rewritten, no index written
    assert json.loads((own / ".run_log_store" / "beta-run-0002.json").read_text())["status"] == "RUNNING"

    history(own, read_only=False).get("beta-run-0002")  # the ordinary history settles it, as documented
    assert load_record(own, "beta-run-0002")["status"] == "FAIL"


def test_the_listing_index_is_kept_in_memory(own: Path) -> None:
    for index in (own / ".run_log_store").glob(".index*"):
        index.unlink()
    view = read_only_view(FileSystemRunLogStore(own / ".run_log_store"))
    assert isinstance(view, ReadOnlyIndexedRunLogStore)
    index = RunIndex(view)
    assert len(index.summaries()) == 4 and index.reread == 4
    assert len(index.summaries()) == 4 and index.reread == 0  # from memory
    assert not list((own / ".run_log_store").glob(".index*"))
    data = load_record(own, "alpha-run-0001")
    data["status"] = "FAIL"
    save_record(own, "alpha-run-0001", data)
    statuses = {s.run_id: s.status for s in index.summaries()}
    assert index.reread == 1 and statuses["alpha-run-0001"] == "FAIL"  # still checked against the records
