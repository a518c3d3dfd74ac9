"""The run browser changes nothing: browsing every page leaves every file of the catalog and the
run-log store byte-identical, the listing and content indexes included, even over a RUNNING run whose
owner died (shown as FAIL, "owner process died", and not rewritten). ``runnable runs list`` still
settles that run, as documented."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli
from tests.ui.demo import Demo
from tests.ui.helpers import Server
from tests.ui.http import get


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under the catalog and the run-log store, hidden caches included."""
    return {str(p.relative_to(folder)): p.read_bytes() for top in (".catalog", ".run_log_store")
            for p in sorted((folder / top).rglob("*")) if p.is_file()}


def with_a_dead_owner(demo: Demo, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the demo project in which the second training run is RUNNING, owned by a process
    of this machine that has exited; its content entry is gone too (the content index would write
    it again) and no listing index was ever written."""
    folder = tmp_path / "project"
    shutil.copytree(demo.folder, folder)
    run_id = demo.train_runs[1]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = folder / ".run_log_store" / f"{run_id}.json"
    record = json.loads(path.read_text())
    record.update(status="RUNNING", end=None, duration_seconds=None)
    record["environment"].update(host=socket.gethostname(), pid=dead.pid)
    path.write_text(json.dumps(record))
    (folder / ".run_log_store" / ".content" / f"{demo.pipeline_run}.json").unlink()
    (folder / ".run_log_store" / ".content" / ".merged.json").unlink()
    assert not list((folder / ".run_log_store").glob(".index*"))
    return folder, run_id


def test_browsing_changes_no_file_in_the_stores(demo: Demo, tmp_path: Path) -> None:
    folder, dead = with_a_dead_owner(demo, tmp_path)
    before = snapshot(folder)
    server = Server(folder)
    try:
        table = get(server.url, "/").text
        row = table.split(f'<tr data-run="{dead}"', 1)[1].split("</tr>", 1)[0]
        assert 'data-status="FAIL"' in row
        page = get(server.url, f"/runs/{dead}").text
        assert "owner process died" in page and 'data-status="FAIL"' in page
        for path in ["/?status=FAIL", "/?sort=-metric:loss", "/api/runs", f"/api/status?run={dead}",
                     f"/runs/{demo.pipeline_run}", f"/runs/{dead}/lineage", f"/runs/{demo.pipeline_run}/lineage",
                     f"/compare?run={dead}&run={demo.train_runs[0]}", f"/runs/{dead}/report",
                     f"/runs/{dead}/files/model.json", "/"]:
            assert get(server.url, path).status == 200, path
    finally:
        err = server.stop()
    assert snapshot(folder) == before, err
    assert run_cli(folder, "report", dead, "-o", str(tmp_path / "r.html")).returncode == 0
    assert snapshot(folder) == before

    listed = run_cli(folder, "runs", "list")  # the command line still settles it
    assert listed.returncode == 0 and dead in listed.stdout
    assert json.loads((folder / ".run_log_store" / f"{dead}.json").read_text())["status"] == "FAIL"
