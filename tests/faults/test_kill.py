"""Kill the job process while it stores files: nothing lost, nothing corrupted.

Two ways of killing: at an exact point (``crashpoint.py`` makes the process signal itself just before
or after its N-th state-changing file-system call, for every N of a run), and from outside at a moment
chosen by watching the catalog fill up (many files; one 200 MiB file).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.helpers import (
    STORE_JOB,
    TEMP_PREFIX,
    assert_nothing_lies,
    cli,
    cli_available,
    make_tree,
    md5_of,
    read_state,
    run_job,
    start_job,
    tree_hashes,
    write_script,
)

UNIQUE_JOB = """\
import os
from pathlib import Path
from runnable import Catalog, PythonJob

def write_unique():
    # New content on every run, so every crash point also meets a not-yet-stored object.
    Path("data/unique.txt").write_text("crash point " + os.environ.get("FAULT_AT", "none"))

PythonJob(function=write_unique, catalog=Catalog(put=["data/"])).execute()
"""

COMMIT_OPS = ("link", "replace")


def _crash_points(trace: Path) -> list[tuple[int, str]]:
    points = []
    for line in trace.read_text().splitlines():
        n, op = line.split()[:2]
        if op == "mkdir":
            continue  # creating a folder changes nothing a reader trusts; keeps the suite short
        points.append((int(n), "before"))
        if op in COMMIT_OPS:
            points.append((int(n), "after"))
    return points


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One catalog that went through a SIGKILL at every crash point of a run storing 6 files."""
    work = tmp_path_factory.mktemp("crashed")
    originals = make_tree(work, 4, size=300, duplicates=1)
    script = write_script(work, "job.py", UNIQUE_JOB)
    baseline = run_job(work, script)
    assert baseline.returncode == 0, baseline.stderr
    trace = work.parent / "trace.txt"
    traced = run_job(work, script, crash=True, FAULT_AT="0", FAULT_TRACE=str(trace))  # new content too
    assert traced.returncode == 0, traced.stderr
    points = _crash_points(trace)
    assert len(points) > 15, trace.read_text()

    def crash(point: tuple[int, str]) -> tuple[tuple[int, str], int | None]:
        n, when = point
        fired = work.parent / f"fired-{n}-{when}"
        done = run_job(work, script, crash=True, FAULT_AT=str(n), FAULT_WHEN=when, FAULT_FIRED=str(fired))
        # None: this run made fewer calls than the traced one (a folder already existed).
        return point, done.returncode if fired.exists() else None

    # One at a time: every run rewrites data/unique.txt, so two at once could see each other's
    # half-written file and fail on their own (a real FAIL, not the SIGKILL under test).
    outcomes = dict(crash(point) for point in points)
    return {"work": work, "originals": originals, "outcomes": outcomes}


def test_sigkill_at_every_crash_point_leaves_no_lie(crashed: dict) -> None:
    work: Path = crashed["work"]
    outcomes: dict = crashed["outcomes"]
    reached = [p for p, rc in outcomes.items() if rc is not None]
    assert len(reached) >= len(outcomes) * 0.7, outcomes  # the points really were reached
    assert all(outcomes[p] == -signal.SIGKILL for p in reached), outcomes

    state = assert_nothing_lies(work / ".catalog", work / ".run_log_store")
    expected = {"data/unique.txt", *(p for p in crashed["originals"] if p != "data/unique.txt")}
    statuses = {}
    for run_id, record in state.records.items():
        statuses[run_id] = record["status"]
        assert record["status"] in ("RUNNING", "SUCCESS"), record  # SIGKILL: nobody wrote FAIL
        if record["status"] == "SUCCESS":
            assert {f["path"] for f in record["files"]} == expected
        else:  # a killed run: its owner is gone
            pid = record["environment"]["pid"]
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    # Every run folder belongs to a reserved run: no content without a record naming its run.
    assert set(state.run_files) <= set(state.records)
    assert list(statuses.values()).count("RUNNING") >= len(reached) * 0.5
    # The working files were never touched by storing them.
    for rel, digest in crashed["originals"].items():
        if rel != "data/unique.txt":
            assert md5_of(work / rel) == digest


needs_runs_list = pytest.mark.skipif(not cli_available("runs", "list"),
                                     reason="`runnable runs list` does not exist yet (run-history issue)")
needs_gc = pytest.mark.skipif(not cli_available("gc"), reason="`runnable gc` does not exist yet (run-history issue)")


@needs_runs_list
def test_killed_runs_are_listed_as_fail(crashed: dict) -> None:
    work: Path = crashed["work"]
    state = read_state(work / ".catalog", work / ".run_log_store")
    running = [r for r, rec in state.records.items() if rec["status"] == "RUNNING"]
    done = cli(work, "runs", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {row["run_id"]: row["status"] for row in json.loads(done.stdout)}
    for run_id in running:
        assert listed[run_id] == "FAIL", (run_id, listed[run_id])
    for run_id, record in state.records.items():
        if record["status"] == "SUCCESS":
            assert listed[run_id] == "SUCCESS"


@needs_gc
def test_gc_removes_killed_runs_and_what_only_they_referenced(crashed: dict, tmp_path: Path) -> None:
    work = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(crashed["work"]), str(work)], check=True)  # -a keeps hard links
    before = read_state(work / ".catalog", work / ".run_log_store")
    survivors = {r for r, rec in before.records.items() if rec["status"] == "SUCCESS"}
    done = cli(work, "gc", "--status", "FAIL", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    after = assert_nothing_lies(work / ".catalog", work / ".run_log_store")
    assert set(after.records) == survivors
    assert set(after.run_files) <= survivors
    assert after.temporaries == [], after.temporaries
    referenced = {f["hash"]["md5"] for rec in after.records.values()
                  for f in [*rec["files"], *([rec["execution_log"]] if rec.get("execution_log") else [])]
                  if f["stored"]}
    assert set(after.objects) == referenced  # nothing only a killed run referenced is left


def _wait_until(proc: subprocess.Popen[str], condition, what: str, limit: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until true (True) or the process ended first (False)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0005)
    raise AssertionError(f"timed out waiting for {what}")


def _count_files(folder: Path) -> int:
    """Files visible in a run folder, not counting a link still under its temporary name."""
    if not folder.is_dir():
        return 0
    return sum(1 for _d, _s, files in os.walk(folder) for name in files if not name.startswith(TEMP_PREFIX))


def _temp_object_size(catalog: Path) -> int:
    tmp = catalog / ".objects" / "tmp"
    try:
        return max((e.stat().st_size for e in os.scandir(tmp)), default=0)
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def many_files_work(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("many")
    originals = make_tree(work, 2000, size=4096)
    write_script(work, "job.py", STORE_JOB)
    return work, originals


@pytest.mark.parametrize("after_files", [1, 250, 1000, 1900])
def test_sigkill_from_outside_during_put_of_many_files(many_files_work, after_files: int) -> None:  # type: ignore[no-untyped-def]
    work, originals = many_files_work
    run_id = f"killed-after-{after_files}"
    proc = start_job(work, work / "job.py", RUNNABLE_RUN_ID=run_id)
    run_folder = work / ".catalog" / run_id
    reached = _wait_until(proc, lambda: _count_files(run_folder) >= after_files, f"{after_files} stored files")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    state = assert_nothing_lies(work / ".catalog", work / ".run_log_store")
    record = state.records[run_id]
    if reached:
        assert proc.returncode == -signal.SIGKILL
        assert record["status"] == "RUNNING" and record["files"] == []
        assert 0 < len(state.run_files[run_id]) <= len(originals)
    else:  # the run finished first: then it must be complete
        assert record["status"] == "SUCCESS" and len(record["files"]) == len(originals)
    assert tree_hashes(work) == originals


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9])
def test_sigkill_during_put_of_one_large_file(large_file, tmp_path: Path, fraction: float) -> None:  # type: ignore[no-untyped-def]
    source, digest = large_file
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    os.link(source, work / "data" / "big.bin")
    script = write_script(work, "job.py", STORE_JOB)
    size = source.stat().st_size
    for attempt in range(3):  # on a busy machine the poll may miss the moment; try again
        run_id = f"big-{attempt}"
        proc = start_job(work, script, RUNNABLE_RUN_ID=run_id)
        reached = _wait_until(proc, lambda: _temp_object_size(work / ".catalog") >= size * fraction,
                              "a partial object")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if reached:
            break
        shutil.rmtree(work / ".catalog")
        shutil.rmtree(work / ".run_log_store")
    assert reached, "the run ended three times before it could be killed"
    state = assert_nothing_lies(work / ".catalog", work / ".run_log_store")
    assert state.records[run_id]["status"] == "RUNNING"
    assert digest not in state.objects  # no partial object under the content's name
    assert "data/big.bin" not in state.run_files.get(run_id, {})
    assert md5_of(work / "data" / "big.bin") == digest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_during_a_large_put_record_fail(large_file, tmp_path: Path, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    source, digest = large_file
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    os.link(source, work / "data" / "big.bin")
    (work / "data" / "small.txt").write_text("small")
    script = write_script(work, "job.py", STORE_JOB)
    proc = start_job(work, script, RUNNABLE_RUN_ID="stopped")
    reached = _wait_until(proc, lambda: _temp_object_size(work / ".catalog") >= source.stat().st_size // 3,
                          "a partial object")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert reached
    assert proc.returncode != 0
    state = assert_nothing_lies(work / ".catalog", work / ".run_log_store")
    record = state.records["stopped"]
    assert record["status"] == "FAIL", record  # written by the process itself
    assert record["error"]["type"] in ("Terminated", "KeyboardInterrupt")
    assert "data/big.bin" not in [f["path"] for f in record["files"]]
    assert sig.name in err or "KeyboardInterrupt" in err
    assert json.loads(out[out.index("{"):])["status"] == "FAIL"  # the summary says so too
    # The 200 MiB copy was in flight: it is either absent or whole (checked above), never partial.
    assert [p for p in state.temporaries if p.parent.name == "tmp"] == []  # it cleaned its partial copy
    assert md5_of(work / "data" / "big.bin") == digest


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_at_every_storing_step_records_fail(tmp_path: Path, sig: str) -> None:
    """SIGTERM / Ctrl-C at each file-system call made while storing: the process records FAIL itself."""
    work = tmp_path / "work"
    work.mkdir()
    make_tree(work, 4, size=300, duplicates=1)
    script = write_script(work, "job.py", UNIQUE_JOB)
    assert run_job(work, script).returncode == 0  # later runs find the shared content stored
    trace = tmp_path / "trace.txt"
    assert run_job(work, script, crash=True, FAULT_AT="0", FAULT_TRACE=str(trace)).returncode == 0
    storing = [int(line.split()[0]) for line in trace.read_text().splitlines()
               if (line.split()[2].startswith("runnable.backends.local.")
                   or line.split()[2] in ("runnable.files.fileio", "runnable.files.put"))
               and "execution.log" not in line and ".run_log_store" not in line]
    assert len(storing) > 8, trace.read_text()

    def stop(n: int) -> tuple[int, int]:
        fired = tmp_path / f"fired-{n}"
        code = run_job(work, script, crash=True, FAULT_AT=str(n), FAULT_SIGNAL=sig, FAULT_FIRED=str(fired),
                       RUNNABLE_RUN_ID=f"{sig.lower()}-at-{n}").returncode
        return n, code if fired.exists() else None

    with ThreadPoolExecutor(2) as pool:
        codes = dict(pool.map(stop, storing))
    state = assert_nothing_lies(work / ".catalog", work / ".run_log_store")
    statuses = []
    assert sum(code is not None for code in codes.values()) > len(codes) * 0.7, codes
    for n, code in codes.items():
        if code is None:
            continue  # this run made fewer calls than the traced one: the point was not reached
        record = state.records[f"{sig.lower()}-at-{n}"]
        assert code != 0, (n, record["status"])  # the signal is never swallowed
        statuses.append(record["status"])
        if record["status"] == "SUCCESS":
            # The signal came while the run committed its log and record: it is held until the
            # record is written, and the run really is complete.
            assert len(record["files"]) == 6, (n, record)
        else:
            assert record["status"] == "FAIL", (n, record["status"])  # never left RUNNING
            assert record["error"]["type"] in ("Terminated", "KeyboardInterrupt"), (n, record["error"])
    assert statuses.count("FAIL") > len(statuses) // 2, statuses


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_put_of_many_files_stops_storing(many_files_work, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    """An interrupted put stops soon: files not yet started are not stored any more."""
    work, originals = many_files_work
    run_id = f"stopped-by-{sig.name}"
    proc = start_job(work, work / "job.py", RUNNABLE_RUN_ID=run_id)
    run_folder = work / ".catalog" / run_id
    reached = _wait_until(proc, lambda: _count_files(run_folder) >= 100, "100 stored files")
    proc.send_signal(sig)
    out, _err = proc.communicate(timeout=60)
    assert reached
    state = assert_nothing_lies(work / ".catalog", work / ".run_log_store")
    record = state.records[run_id]
    assert record["status"] == "FAIL" and record["error"]["type"] in ("Terminated", "KeyboardInterrupt")
    assert json.loads(out[out.index("{"):])["status"] == "FAIL"
    stored = [rel for rel in state.run_files[run_id] if rel.startswith("data/")]
    assert len(stored) < len(originals) // 2, f"{len(stored)} of {len(originals)} files stored after the signal"
    assert tree_hashes(work) == originals
