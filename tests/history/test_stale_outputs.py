"""Files a run did not write are marked ``"stale"`` in its record, never passed off as its outputs.

Put patterns select what is in the working folder once the job ends, so files an earlier run left
there are stored too. Each one that was not changed after the job started is marked ``"stale":
true`` in its record entry, the run warns once on stderr, ``runnable runs show`` marks them and
``runnable runs diff`` says so next to "identical". Real jobs in real subprocesses, in real folders.
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from runnable.backends.local.catalog import FileSystemStorage
from runnable.errors import RecordError
from runnable.files.patterns import expand
from runnable.files.put import FORK_MIN_FILES, put_files
from runnable.record import FileEntry, RunRecord
from tests.backends.contract.conftest import S3Server, aws_env, bucket, s3_server, subprocess_env  # noqa: F401
from tests.conftest import run_cli, run_python

# Writes out/f{start}..out/f{count - 1}; other files of out/ are what earlier runs left.
JOB = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from runnable import Catalog, PythonJob

    if os.environ.get("ONE_CPU"):  # no forked workers: the files are stored in this process
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])

    def make(count: int, start: int = 0, content: str = "v1", fail: bool = False):
        Path("out").mkdir(exist_ok=True)
        for i in range(start, count):
            Path(f"out/f{i:04d}.txt").write_text(f"{content} {i}\\n")
        if fail:
            raise RuntimeError("diverged")

    store_copy = os.environ.get("STORE_COPY", "1") == "1"
    PythonJob(function=make, catalog=Catalog(put=["out/"], store_copy=store_copy)).execute(CONFIG)
    """
)

# The review's example: a training run that fails before it writes its model.
TRAIN = textwrap.dedent(
    """
    import json
    from pathlib import Path
    from runnable import Catalog, PythonJob

    def train(fail: bool = False):
        if fail:
            raise RuntimeError("ran out of memory before saving")
        Path("models").mkdir(exist_ok=True)
        Path("models/model.pkl").write_bytes(b"weights")
        Path("metrics.json").write_text(json.dumps({"accuracy": 0.9}))

    PythonJob(function=train, catalog=Catalog(put=["models/model.pkl", "metrics.json"])).execute()
    """
)

WARNING = "runnable: warning: "


# Set for every job a test runs (through monkeypatch, so each test starts without any).
EXTRA_ENV: dict[str, str] = {}


def run_job(folder: Path, run_id: str, script: str = JOB, ok: bool = True, s3: S3Server | None = None,
            **params: Any) -> tuple[dict[str, Any], str]:
    """Run ``script`` as a real process (with ``s3.yaml`` when ``s3`` is given); return its record, as
    ``runnable runs show --json`` shows it, and its stderr."""
    (folder / "job.py").write_text(script.replace("CONFIG", "'s3.yaml'" if s3 else ""))
    env = subprocess_env(s3) if s3 else {}
    env.update(EXTRA_ENV, RUNNABLE_RUN_ID=run_id, **{f"RUNNABLE_PRM_{k}": json.dumps(v) for k, v in params.items()})
    done = run_python(folder / "job.py", folder, env=env)
    assert done.returncode == (0 if ok else 1), done.stderr
    config = ["--config", "s3.yaml"] if s3 else []
    shown = run_cli(folder, "runs", "show", run_id, "--json", *config, env=subprocess_env(s3) if s3 else None)
    assert shown.returncode == 0, shown.stderr
    record: dict[str, Any] = json.loads(shown.stdout)
    if s3 is None:  # the same as the file itself
        assert record == json.loads((folder / ".run_log_store" / f"{run_id}.json").read_text())
    return record, done.stderr


def stale_paths(record: dict[str, Any]) -> list[str]:
    return [f["path"] for f in record["files"] if f.get("stale")]


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(WARNING)]


@pytest.fixture(params=["1", "0"], ids=["copy", "hash-only"])
def store_copy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(EXTRA_ENV, "STORE_COPY", request.param)
    return str(request.param)


# -- the run record and the warning ----------------------------------------------------------------


def test_a_second_run_marks_the_files_it_did_not_write_stale(workdir: Path, store_copy: str) -> None:
    first, first_err = run_job(workdir, "first-0001", count=3)
    # Written in the first milliseconds of the job: still this run's (file times come from a
    # coarser clock than time.time_ns(), which would make them look older than the run).
    assert stale_paths(first) == [] and warnings_of(first_err) == []
    assert all("stale" not in f for f in first["files"])  # normal entries keep their shape

    second, err = run_job(workdir, "second-0002", count=1)
    assert second["status"] == "SUCCESS"
    assert [f["path"] for f in second["files"]] == ["out/f0000.txt", "out/f0001.txt", "out/f0002.txt"]
    assert stale_paths(second) == ["out/f0001.txt", "out/f0002.txt"]
    assert "stale" not in second["files"][0]
    assert [f["stale"] for f in second["files"][1:]] == [True, True]
    assert all(f["stored"] is (store_copy == "1") for f in second["files"])
    assert second["execution_log"] is not None and "stale" not in second["execution_log"]  # runnable wrote it
    assert warnings_of(err) == [
        "runnable: warning: 2 of the 3 cataloged files were not changed during this run (they were in the "
        "working folder before it started), e.g. 'out/f0001.txt'; the record marks them \"stale\""
    ]
    # The warning is in the run's own log too, as everything the run printed is.
    if store_copy == "1":
        assert "were not changed during this run" in (workdir / ".catalog/second-0002/make.execution.log").read_text()


def test_a_failed_run_that_wrote_nothing_marks_the_leftovers_stale(workdir: Path) -> None:
    good, good_err = run_job(workdir, "good-0001", TRAIN)
    assert stale_paths(good) == [] and warnings_of(good_err) == []
    failed, err = run_job(workdir, "failed-0002", TRAIN, ok=False, fail=True)
    assert failed["status"] == "FAIL" and "ran out of memory" in failed["error"]["message"]
    # A failed run keeps what the patterns select, but says none of it is its own.
    assert stale_paths(failed) == ["models/model.pkl", "metrics.json"]
    assert [f["hash"] for f in failed["files"]] == [f["hash"] for f in good["files"]]
    assert warnings_of(err) == [
        "runnable: warning: 2 of the 2 cataloged files were not changed during this run (they were in the "
        "working folder before it started), e.g. 'models/model.pkl'; the record marks them \"stale\""
    ]


def test_one_stale_file_is_worded_in_the_singular(workdir: Path) -> None:
    run_job(workdir, "first-0001", count=2)
    _, err = run_job(workdir, "second-0002", count=2, start=1)
    assert warnings_of(err) == [
        "runnable: warning: 1 of the 2 cataloged files was not changed during this run (it was in the "
        "working folder before it started), e.g. 'out/f0000.txt'; the record marks it \"stale\""
    ]


def test_a_file_rewritten_with_identical_content_is_not_stale(workdir: Path, store_copy: str) -> None:
    first, _ = run_job(workdir, "first-0001", count=3)
    time.sleep(0.05)  # well past the file system clock's tick: the rewrite is later than the first run
    second, err = run_job(workdir, "second-0002", count=3, start=1)  # f0001, f0002 again, the same bytes
    assert [f["hash"] for f in second["files"]] == [f["hash"] for f in first["files"]]
    assert stale_paths(second) == ["out/f0000.txt"] and len(warnings_of(err)) == 1
    third, err = run_job(workdir, "third-0003", count=3)  # all three again
    assert stale_paths(third) == [] and warnings_of(err) == []
    diff = run_cli(workdir, "runs", "diff", "first-0001", "third-0003")
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines()[-1] == "3 file(s) identical"  # truly: each was written again


def test_a_file_copied_with_its_old_modification_time_is_this_runs(workdir: Path) -> None:
    """``shutil.copy2``, ``cp -p``, ``tar x``, ``rsync -a`` keep the source's modification time: the
    inode's change time still says the run made the file."""
    Path("raw").mkdir()
    Path("raw/a.csv").write_text("a\n")
    Path("data").mkdir()
    Path("data/old.csv").write_text("left by hand\n")
    os.utime("raw/a.csv", ns=(1_000_000_000, 1_000_000_000))  # 1970: far older than the run
    script = textwrap.dedent(
        """
        import shutil
        from runnable import Catalog, PythonJob

        def fetch():
            shutil.copy2("raw/a.csv", "data/a.csv")

        PythonJob(function=fetch, catalog=Catalog(put=["data/"])).execute()
        """
    )
    record, err = run_job(workdir, "fetch-0001", script)
    assert os.stat("data/a.csv").st_mtime_ns == 1_000_000_000  # copied with its old time
    assert [f["path"] for f in record["files"]] == ["data/a.csv", "data/old.csv"]
    assert stale_paths(record) == ["data/old.csv"]
    assert len(warnings_of(err)) == 1


@pytest.mark.parametrize("workers", [True, False], ids=["forked", "one-process"])
def test_many_files_with_a_mix_are_marked_through_the_workers(workdir: Path, store_copy: str, workers: bool,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    count = 250
    assert count >= FORK_MIN_FILES  # so forked workers store them (on Linux with more than one CPU)
    if not workers:  # the same in one process: the job may use one CPU only
        monkeypatch.setitem(EXTRA_ENV, "ONE_CPU", "1")
    run_job(workdir, "first-0001", count=count)
    second, err = run_job(workdir, "second-0002", count=count, start=150, content="v2")
    stale = stale_paths(second)
    assert len(second["files"]) == count
    assert stale == [f"out/f{i:04d}.txt" for i in range(150)]
    assert all("stale" not in f for f in second["files"][150:])
    assert warnings_of(err) == [
        f"runnable: warning: 150 of the {count} cataloged files were not changed during this run (they were in "
        "the working folder before it started), e.g. 'out/f0000.txt'; the record marks them \"stale\""
    ]


# -- put_files on its own: both paths, both modes ------------------------------------------------


@pytest.mark.parametrize("count", [5, FORK_MIN_FILES + 40], ids=["threads", "forked"])
@pytest.mark.parametrize("store", [True, False], ids=["copy", "hash-only"])
def test_put_files_marks_sources_unchanged_since_the_start(tmp_path: Path, count: int, store: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runnable.files.put.available_cpus", lambda: 2)  # forked workers even on one CPU
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    for i in range(count):
        (work / "data" / f"f{i:04d}").write_text(f"old {i}\n")
    time.sleep(0.05)
    started = time.time_ns()
    time.sleep(0.05)
    for i in range(0, count, 2):  # every other file rewritten after the start (one with the same bytes)
        (work / "data" / f"f{i:04d}").write_text(f"old {i}\n" if i == 0 else f"new {i}\n")
    files = expand(["data"], work).files
    storage = FileSystemStorage(tmp_path / ".catalog") if store else None
    result = put_files(files, storage, "run-1", "md5", store_copy=store, started_ns=started)
    assert result.failures == []
    assert [e.path for e in result.entries if e.stale] == [f"data/f{i:04d}" for i in range(1, count, 2)]
    unmarked = put_files(files, storage, "run-2", "md5", store_copy=store)  # no start given: nothing is stale
    assert not any(e.stale for e in unmarked.entries)


class WholeSecondStorage(FileSystemStorage):
    """A local catalog whose sources report whole-second times, as on a file system that keeps no
    finer ones (ext4 made with 128-byte inodes, FAT, some network file systems)."""

    put_processes = 1

    def store(self, *args: Any, **kwargs: Any) -> Any:
        stored = super().store(*args, **kwargs)
        return dataclasses.replace(stored, changed_ns=stored.changed_ns - stored.changed_ns % 1_000_000_000)


def test_whole_second_times_do_not_make_a_file_written_in_the_starting_second_stale(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    while time.time_ns() % 1_000_000_000 > 500_000_000:  # start in the first half of a second
        time.sleep(0.01)
    time.sleep(0.02)
    started = time.time_ns()
    (work / "new.txt").write_text("written by the run, in the same second")
    storage = WholeSecondStorage(tmp_path / ".catalog")
    result = put_files(expand(["*.txt"], work).files, storage, "run-1", "md5", store_copy=True, started_ns=started)
    assert [(e.path, e.stale) for e in result.entries] == [("new.txt", False)]
    later = put_files(expand(["*.txt"], work).files, storage, "run-2", "md5", store_copy=True,
                      started_ns=started + 2_000_000_000)  # a run that started two seconds later
    assert [(e.path, e.stale) for e in later.entries] == [("new.txt", True)]


# -- records ---------------------------------------------------------------------------------------


def test_records_without_the_field_still_load_and_the_field_round_trips(workdir: Path) -> None:
    plain = {"path": "a.txt", "size": 1, "hash": {"md5": "0" * 32}, "stored": True, "location": ".catalog/r/a.txt"}
    entry = FileEntry.from_dict(plain)
    assert entry.stale is False and entry.to_dict() == plain  # an older record's entry: unchanged shape
    marked = FileEntry.from_dict({**plain, "stale": True})
    assert marked.stale is True and marked.to_dict() == {**plain, "stale": True}
    assert FileEntry.from_dict({**plain, "stale": False}).to_dict() == plain
    with pytest.raises(RecordError, match="stale"):
        FileEntry.from_dict({**plain, "stale": "yes"})
    with pytest.raises(RecordError, match="unknown field"):
        FileEntry.from_dict({**plain, "written": True})

    # A whole record written before the field existed loads, and is shown, as it always was.
    run_job(workdir, "first-0001", count=2)
    record, _ = run_job(workdir, "second-0002", count=1)
    for f in record["files"]:
        f.pop("stale", None)
    (workdir / ".run_log_store" / "second-0002.json").write_text(json.dumps(record, indent=2))
    assert RunRecord.from_dict(record).to_dict() == record
    shown = run_cli(workdir, "runs", "show", "second-0002")
    assert shown.returncode == 0, shown.stderr
    assert "stale" not in shown.stdout


# -- the command line ------------------------------------------------------------------------------


def test_runs_show_and_diff_say_which_files_are_stale(workdir: Path) -> None:
    run_job(workdir, "first-0001", count=3)
    run_job(workdir, "second-0002", count=3, start=1, content="v2")  # f0000 left over, f0001 and f0002 new
    shown = run_cli(workdir, "runs", "show", "second-0002")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith("out/")}
    assert rows["out/f0000.txt"].rstrip().endswith("yes, stale")
    assert rows["out/f0001.txt"].rstrip().endswith("yes") and "stale" not in rows["out/f0001.txt"]
    assert ("1 of the 3 cataloged files was not changed during this run (it was in the working folder before it "
            "started), e.g. 'out/f0000.txt'; the record marks it \"stale\"") in shown.stdout
    as_json = json.loads(run_cli(workdir, "runs", "show", "second-0002", "--json").stdout)
    assert [f.get("stale", False) for f in as_json["files"]] == [True, False, False]

    diff = run_cli(workdir, "runs", "diff", "first-0001", "second-0002")
    assert diff.returncode == 0, diff.stderr
    lines = diff.stdout.splitlines()
    assert "  ~ out/f0001.txt: md5:" in diff.stdout and "stale" not in "".join(lines[:-1])
    hint = "1 file(s) identical; 1 of them stale in second-0002 (left in the working folder, not written by that run)"
    assert lines[-1] == hint
    data = json.loads(run_cli(workdir, "runs", "diff", "first-0001", "second-0002", "--json").stdout)
    assert data["same_files"] == 1 and data["same_stale"] == {"second-0002": ["out/f0000.txt"]}
    reverse = run_cli(workdir, "runs", "diff", "second-0002", "first-0001")
    assert reverse.stdout.splitlines()[-1] == hint


# -- files runnable writes itself --------------------------------------------------------------------


def test_the_executed_notebook_and_the_log_are_never_stale(workdir: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="needs the notebook extra: pip install 'runnable[notebook]'")
    pytest.importorskip("papermill", reason="needs the notebook extra: pip install 'runnable[notebook]'")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]  # writes nothing, prints nothing
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, "report.ipynb")
    Path("old.csv").write_text("left over\n")
    time.sleep(0.05)
    script = textwrap.dedent(
        """
        from runnable import Catalog, NotebookJob

        NotebookJob(notebook="report.ipynb", catalog=Catalog(put=["old.csv"])).execute()
        """
    )
    record, err = run_job(workdir, "nb-0001", script)
    assert [f["path"] for f in record["files"]] == ["old.csv", "report.executed.ipynb"]
    assert stale_paths(record) == ["old.csv"]
    assert "stale" not in record["execution_log"]
    assert warnings_of(err) == [
        "runnable: warning: the one cataloged file, 'old.csv', was not changed during this run (it was in the "
        "working folder before it started); the record marks it \"stale\""
    ]


# -- S3 --------------------------------------------------------------------------------------------


def test_an_s3_catalog_marks_stale_files_too(tmp_path: Path, s3_server: S3Server, bucket: str,  # noqa: F811
                                             store_copy: str) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "s3.yaml").write_text(
        "catalog:\n"
        "  type: s3\n"
        f"  config: {{bucket: {bucket}, prefix: team/catalog, endpoint_url: '{s3_server.endpoint}', "
        "region: us-east-1}\n"
        "run-log-store:\n"
        "  type: s3\n"
        f"  config: {{bucket: {bucket}, prefix: team/runs, endpoint_url: '{s3_server.endpoint}', region: us-east-1}}\n"
    )
    first, _ = run_job(folder, "first-0001", count=3, s3=s3_server)
    assert stale_paths(first) == []
    second, err = run_job(folder, "second-0002", count=3, start=2, content="v2", s3=s3_server)
    assert stale_paths(second) == ["out/f0000.txt", "out/f0001.txt"]
    assert "stale" not in second["files"][2] and "stale" not in second["execution_log"]
    assert len(warnings_of(err)) == 1 and "2 of the 3 cataloged files" in err


def test_diff_names_stale_files_in_either_run() -> None:
    from runnable.history.diff import diff_records

    def entry(path: str, digest: str, stale: bool = False) -> FileEntry:
        return FileEntry(path, 1, {"md5": digest * 32}, True, f".catalog/r/{path}", stale)

    a = RunRecord("run-a", "SUCCESS", {}, "", files=[entry("same.txt", "a", stale=True), entry("gone.txt", "b"),
                                                      entry("both.txt", "c", stale=True)])
    b = RunRecord("run-b", "SUCCESS", {}, "", files=[entry("same.txt", "a"), entry("new.txt", "d", stale=True),
                                                      entry("both.txt", "c", stale=True)])
    result = diff_records(a, b)
    assert result.same_files == 2
    assert result.same_stale == {"run-a": ["both.txt", "same.txt"], "run-b": ["both.txt"]}
    assert {c.key: (c.a, c.b) for c in result.files} == {
        "gone.txt": (f"md5:{'b' * 32} (1 bytes)", None),
        "new.txt": (None, f"md5:{'d' * 32} (1 bytes, stale)"),
    }
    assert diff_records(a, a).same_stale == {"run-a": ["both.txt", "same.txt"]}  # a run against itself: once
