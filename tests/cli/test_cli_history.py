"""The history commands end to end: real runs made by real jobs, the CLI in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.history_helpers import (
    corrupt,
    load_record,
    object_path,
    record_path,
    save_record,
)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- runs list ---------------------------------------------------------------------------------
def test_list_shows_runs_newest_first_as_a_plain_table_when_piped(project: Path) -> None:
    done = run_cli(project, "runs", "list")
    assert done.returncode == 0, done.stderr
    rows = lines(done.stdout)
    assert rows[0].split()[:3] == ["RUN", "ID", "STATUS"]
    assert [r.split()[0] for r in rows[1:]] == ["delta-run-0004", "gamma-run-0003", "beta-run-0002",
                                                 "alpha-run-0001"]
    beta = rows[3].split()
    stored = sum(p.stat().st_size for p in (project / ".catalog" / "beta-run-0002").rglob("*")
                 if p.is_file() and not p.name.endswith(".log"))
    assert beta[1] == "SUCCESS" and "make" in beta and beta[-3:] == ["2", str(stored), "B"]
    assert "│" not in done.stdout and "\x1b[" not in done.stdout  # plain when piped


def test_list_filters_and_json(project: Path) -> None:
    done = run_cli(project, "runs", "list", "--status", "fail", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [r["run_id"] for r in data] == ["gamma-run-0003"]
    assert data[0]["status"] == "FAIL" and "asked to fail" in data[0]["error"]
    tagged = json.loads(run_cli(project, "runs", "list", "--tag", "exp", "--json").stdout)
    assert [r["run_id"] for r in tagged] == ["beta-run-0002", "alpha-run-0001"]
    both = json.loads(run_cli(project, "runs", "list", "--tag", "exp", "--tag", "big", "--json").stdout)
    assert [r["run_id"] for r in both] == ["beta-run-0002"]
    limited = json.loads(run_cli(project, "runs", "list", "--limit", "2", "--json").stdout)
    assert [r["run_id"] for r in limited] == ["delta-run-0004", "gamma-run-0003"]
    assert json.loads(run_cli(project, "runs", "list", "--since", "1h", "--json").stdout) != []
    future = run_cli(project, "runs", "list", "--since", "2999-01-01")
    assert future.returncode == 0 and "no runs match" in future.stdout


def test_list_rejects_a_date_it_cannot_read(project: Path) -> None:
    done = run_cli(project, "runs", "list", "--since", "last tuesday")
    assert done.returncode == 2
    assert "'last tuesday' is not understood" in done.stderr


def test_list_keeps_an_index_that_the_records_override(own: Path) -> None:
    assert run_cli(own, "runs", "list").returncode == 0
    index = own / ".run_log_store" / ".index.json"
    assert index.is_file()
    data = load_record(own, "alpha-run-0001")
    data["tags"] = ["edited-by-hand"]
    save_record(own, "alpha-run-0001", data)  # the index is now stale for this run
    listed = json.loads(run_cli(own, "runs", "list", "--tag", "edited-by-hand", "--json").stdout)
    assert [r["run_id"] for r in listed] == ["alpha-run-0001"]
    record_path(own, "beta-run-0002").unlink()
    index.write_text("{not json")
    listed = json.loads(run_cli(own, "runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == ["delta-run-0004", "gamma-run-0003", "alpha-run-0001"]


def test_a_running_record_whose_owner_died_is_listed_and_rewritten_as_fail(own: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    data = load_record(own, "alpha-run-0001")
    data.update(status="RUNNING", end=None, files=[], error=None)
    data["environment"].update(host=socket.gethostname(), pid=int(dead.stdout))
    save_record(own, "alpha-run-0001", data)
    reused = load_record(own, "beta-run-0002")  # a live pid, but that process started after the run
    reused.update(status="RUNNING", end=None, start="2001-01-01T00:00:00.000+00:00")
    reused["environment"].update(host=socket.gethostname(), pid=os.getpid())
    save_record(own, "beta-run-0002", reused)
    alive = load_record(own, "delta-run-0004")  # this test process: alive and older than the run
    alive.update(status="RUNNING", end=None)
    alive["environment"].update(host=socket.gethostname(), pid=os.getpid())
    save_record(own, "delta-run-0004", alive)

    done = run_cli(own, "runs", "list")
    assert done.returncode == 0, done.stderr
    status = {row.split()[0]: row.split()[1:5] for row in lines(done.stdout)[1:]}
    assert status["alpha-run-0001"][:4] == ["FAIL", "(owner", "process", "died)"]
    assert status["beta-run-0002"][:2] == ["FAIL", "(owner"]
    assert status["delta-run-0004"][0] == "RUNNING"
    rewritten = load_record(own, "alpha-run-0001")
    assert rewritten["status"] == "FAIL" and "owner process died" in rewritten["error"]["message"]
    assert load_record(own, "delta-run-0004")["status"] == "RUNNING"


# -- runs show / logs / diff -------------------------------------------------------------------
def test_show_prints_the_whole_record(project: Path) -> None:
    done = run_cli(project, "runs", "show", "beta-run-0002")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    df = (project / ".catalog" / "beta-run-0002" / "df.csv").read_bytes()
    assert "status          SUCCESS" in out
    assert "rows = 5" in out and 'note = "first"' in out
    assert f"md5:{md5(df)}" in out and "df.csv" in out and "data_folder/data.txt" in out
    assert "exp, big" in out
    as_json = json.loads(run_cli(project, "runs", "show", "beta-run-0002", "--json").stdout)
    assert as_json == load_record(project, "beta-run-0002")
    hash_only = run_cli(project, "runs", "show", "delta-run-0004").stdout
    assert "big.bin" in hash_only and "hash only" in hash_only


def test_logs_prints_the_execution_log(project: Path) -> None:
    done = run_cli(project, "logs", "beta-run-0002")
    assert done.returncode == 0, done.stderr
    assert "wrote 5 rows" in done.stdout
    failed = run_cli(project, "logs", "gamma-run-0003")
    assert "RuntimeError: asked to fail" in failed.stdout


KILLED_OR_WAITING = """
import os, signal, sys, time
from runnable import PythonJob

def train():
    print("epoch 1 loss 0.5", flush=True)
    time.sleep(0.5)
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    time.sleep(60)

PythonJob(function=train).execute(job_id=sys.argv[2])
"""


def test_logs_of_a_killed_run_or_a_run_in_progress_show_what_it_wrote_so_far(tmp_path: Path) -> None:
    work, temp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    env = {"TMPDIR": str(temp)}  # the runs' scratch folders: private to this test
    (work / "job.py").write_text(KILLED_OR_WAITING)
    killed = subprocess.run([sys.executable, "job.py", "kill", "oom-1"], cwd=work, capture_output=True,
                            env={**os.environ, **env}, timeout=60, check=False)
    assert killed.returncode == -9

    done = run_cli(work, "logs", "oom-1")  # found through the record, whatever $TMPDIR is now
    assert done.returncode == 0, done.stderr
    assert done.stdout == "epoch 1 loss 0.5\n"
    assert "run oom-1 never finished: this is the log it wrote so far, from " in done.stderr

    running = subprocess.Popen([sys.executable, "job.py", "wait", "busy-1"], cwd=work, env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert running.stdout is not None and running.stdout.readline() == b"epoch 1 loss 0.5\n"
        done = run_cli(work, "logs", "busy-1")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "epoch 1 loss 0.5\n" and "run busy-1 is still running" in done.stderr
    finally:
        running.kill()
        running.wait()
        if running.stdout is not None:
            running.stdout.close()

    # gc deletes the killed run and the log it left.
    scratch = Path(load_record(work, "oom-1")["environment"]["scratch"])
    gone = run_cli(work, "gc", "--status", "fail", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert "deleted run oom-1" in gone.stdout and not scratch.exists()


def test_a_record_naming_a_folder_runnable_did_not_make_is_never_read_or_deleted(own: Path, tmp_path: Path) -> None:
    mine = tmp_path / "runnable-examples"  # runnable's kind of name, but not marked as its folder
    mine.mkdir()
    (mine / "execution.log").write_text("private")
    link = tmp_path / "runnable-abcd1234"  # runnable's kind of name, but a link to that folder
    link.symlink_to(mine)
    for named in (mine, link):
        record = load_record(own, "gamma-run-0003")
        record["execution_log"] = None
        record["environment"]["scratch"] = str(named)
        save_record(own, "gamma-run-0003", record)
        shown = run_cli(own, "logs", "gamma-run-0003")
        assert shown.returncode == 1 and shown.stdout == "" and "stored no execution log" in shown.stderr
    gone = run_cli(own, "gc", "--status", "fail", "--yes")
    assert "deleted run gamma-run-0003" in gone.stdout
    assert (mine / "execution.log").read_text() == "private" and link.is_symlink()


def test_diff_shows_parameters_and_files_that_differ(project: Path) -> None:
    done = run_cli(project, "runs", "diff", "alpha-run-0001", "beta-run-0002")
    assert done.returncode == 0, done.stderr
    assert "~ rows: 3 -> 5" in done.stdout
    assert "~ df.csv: md5:" in done.stdout
    assert "1 file(s) identical" in done.stdout  # data_folder/data.txt
    data = json.loads(run_cli(project, "runs", "diff", "alpha-run-0001", "delta-run-0004", "--json").stdout)
    kinds = {c["key"]: c["kind"] for c in data["files"]}
    assert kinds == {"big.bin": "added", "df.csv": "removed", "data_folder/data.txt": "removed"}
    assert {c["key"] for c in data["parameters"]} == {"rows", "note", "fail"}  # fail: alpha's default


@pytest.mark.parametrize("command", [["runs", "show"], ["logs"], ["catalog", "get"], ["catalog", "verify"],
                                     ["runs", "diff", "alpha-run-0001"]])
def test_an_unknown_run_suggests_the_closest_ids(project: Path, command: list[str]) -> None:
    done = run_cli(project, *command, "beta-run-002")
    assert done.returncode == 2
    assert "no run 'beta-run-002'" in done.stderr and "did you mean beta-run-0002" in done.stderr
    assert "Traceback" not in done.stderr


# -- catalog get -------------------------------------------------------------------------------
def test_get_restores_every_stored_file_checked(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "restored"
    done = run_cli(project, "catalog", "get", "beta-run-0002", "--to", str(target))
    assert done.returncode == 0, done.stdout + done.stderr
    for rel in ("df.csv", "data_folder/data.txt"):
        assert (target / rel).read_bytes() == (project / ".catalog" / "beta-run-0002" / rel).read_bytes()
        assert os.access(target / rel, os.W_OK)  # a normal file, not a read-only object
    assert "2 restored" in done.stdout
    again = run_cli(project, "catalog", "get", "beta-run-0002", "--to", str(target))
    assert again.returncode == 0 and "0 restored, 2 unchanged" in again.stdout
    assert sorted(p.name for p in target.rglob("*")) == ["data.txt", "data_folder", "df.csv"]  # no temporaries


def test_get_with_patterns_restores_only_what_they_select(project: Path, tmp_path: Path) -> None:
    done = run_cli(project, "catalog", "get", "alpha-run-0001", "data_folder/", "--to", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert [p.relative_to(tmp_path / "r").as_posix() for p in (tmp_path / "r").rglob("*") if p.is_file()] == \
        ["data_folder/data.txt"]
    nothing = run_cli(project, "catalog", "get", "alpha-run-0001", "*.parquet", "--to", str(tmp_path / "r"))
    assert nothing.returncode == 2 and "matches no file of run alpha-run-0001" in nothing.stderr
    escaping = run_cli(project, "catalog", "get", "alpha-run-0001", "../x", "--to", str(tmp_path / "r"))
    assert escaping.returncode == 2 and "'..'" in escaping.stderr


def test_get_never_overwrites_a_different_file_without_force(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.mkdir()
    (target / "df.csv").write_text("my own edits\n")
    done = run_cli(project, "catalog", "get", "alpha-run-0001", "df.csv", "--to", str(target))
    assert done.returncode == 1
    assert "refused     df.csv: a different file is there" in done.stdout and "--force" in done.stdout
    assert (target / "df.csv").read_text() == "my own edits\n"
    forced = run_cli(project, "catalog", "get", "alpha-run-0001", "df.csv", "--to", str(target), "--force")
    assert forced.returncode == 0, forced.stdout
    assert (target / "df.csv").read_bytes() == (project / ".catalog" / "alpha-run-0001" / "df.csv").read_bytes()


def test_get_defaults_to_the_working_folder(own: Path) -> None:
    (own / "df.csv").unlink()
    done = run_cli(own, "catalog", "get", "beta-run-0002", "df.csv")
    assert done.returncode == 0, done.stdout
    assert (own / "df.csv").read_bytes() == (own / ".catalog" / "beta-run-0002" / "df.csv").read_bytes()


def test_get_reports_hash_only_entries_as_not_restorable(project: Path, tmp_path: Path) -> None:
    done = run_cli(project, "catalog", "get", "delta-run-0004", "--to", str(tmp_path / "t"))
    assert done.returncode == 1
    assert f"not stored  big.bin: recorded by hash only (md5:{md5(b'x' * 4096)})" in done.stdout
    assert not (tmp_path / "t" / "big.bin").exists()


def test_get_refuses_a_corrupt_stored_copy_and_verify_says_corrupt(own: Path, tmp_path: Path) -> None:
    digest = load_record(own, "beta-run-0002")["files"][0]["hash"]["md5"]  # df.csv
    corrupt(object_path(own, digest), b"X")
    target = tmp_path / "t"
    done = run_cli(own, "catalog", "get", "beta-run-0002", "--to", str(target))
    assert done.returncode == 1
    assert "failed      df.csv: the stored copy is CORRUPT" in done.stdout
    assert not (target / "df.csv").exists() and (target / "data_folder" / "data.txt").is_file()
    assert [p.name for p in target.iterdir()] == ["data_folder"]  # no temporary left behind
    verify = run_cli(own, "catalog", "verify", "beta-run-0002")
    assert verify.returncode == 1
    states = {row.split()[1]: row.split()[2] for row in lines(verify.stdout)[1:-1]}
    assert states == {"df.csv": "CORRUPT", "data_folder/data.txt": "OK", "make.execution.log": "OK"}
    assert "1 problem(s)" in verify.stdout


def test_a_hostile_record_path_is_refused_and_nothing_is_written_outside(own: Path, tmp_path: Path) -> None:
    data = load_record(own, "alpha-run-0001")
    data["files"][0]["path"] = "../../x"
    save_record(own, "alpha-run-0001", data)
    target = tmp_path / "a" / "b" / "t"
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    done = run_cli(own, "catalog", "get", "alpha-run-0001", "--to", str(target))
    assert done.returncode == 2
    assert "'../../x'" in done.stderr and "refusing" in done.stderr
    after = sorted(str(p) for p in tmp_path.rglob("*"))
    assert set(after) - set(before) <= {str(tmp_path / "a"), str(tmp_path / "a" / "b")} and not (tmp_path / "x").exists()
    listing = run_cli(own, "runs", "list")
    assert listing.returncode == 0 and "UNREADABLE" in listing.stdout and "'../../x'" in listing.stderr
    verify = run_cli(own, "catalog", "verify", "--all")
    assert verify.returncode == 1 and "UNREADABLE" in verify.stdout


def test_get_does_not_follow_a_link_out_of_the_target_folder(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "t"
    target.mkdir()
    (target / "data_folder").symlink_to(outside)
    done = run_cli(project, "catalog", "get", "alpha-run-0001", "--to", str(target))
    assert done.returncode == 1
    assert "refused     data_folder/data.txt: it would be written outside" in done.stdout
    assert list(outside.iterdir()) == []
    assert (target / "df.csv").is_file()


# -- catalog verify ----------------------------------------------------------------------------
def test_verify_all_is_ok_on_an_untouched_project(project: Path) -> None:
    done = run_cli(project, "catalog", "verify", "--all")
    assert done.returncode == 0, done.stdout
    assert "4 run(s), 11 file(s) checked: all OK"  # 3 + 3 + 3 + big.bin and its log in done.stdout


def test_verify_compares_hash_only_entries_with_the_working_folder(own: Path) -> None:
    (own / "big.bin").write_bytes(b"y" * 10)
    changed = run_cli(own, "catalog", "verify", "delta-run-0004", "--json")
    assert changed.returncode == 1
    files = {f["path"]: f["state"] for f in json.loads(changed.stdout)[0]["files"]}
    assert files["big.bin"] == "CHANGED"
    (own / "big.bin").unlink()
    missing = run_cli(own, "catalog", "verify", "delta-run-0004")
    assert missing.returncode == 1 and "MISSING" in missing.stdout


def test_verify_reports_a_deleted_object_as_missing(own: Path) -> None:
    entry = load_record(own, "alpha-run-0001")["files"][1]
    object_path(own, entry["hash"]["md5"]).unlink()
    (own / ".catalog" / "alpha-run-0001" / entry["path"]).unlink()
    done = run_cli(own, "catalog", "verify", "alpha-run-0001", "--json")
    assert done.returncode == 1
    assert {f["path"]: f["state"] for f in json.loads(done.stdout)[0]["files"]}[entry["path"]] == "MISSING"


def test_verify_needs_run_ids_or_all(project: Path) -> None:
    done = run_cli(project, "catalog", "verify")
    assert done.returncode == 2 and "--all" in done.stderr


# -- gc ----------------------------------------------------------------------------------------
def all_objects(project: Path) -> set[str]:
    base = project / ".catalog" / ".objects" / "md5"
    return {p.parent.name + p.name for p in base.rglob("*") if p.is_file()}


def referenced(project: Path) -> set[str]:
    out = set()
    for path in (project / ".run_log_store").glob("*.json"):
        if path.name.startswith("."):
            continue
        record = json.loads(path.read_text())
        for entry in [*record["files"], *([record["execution_log"]] if record["execution_log"] else [])]:
            if entry["stored"]:
                out.add(entry["hash"]["md5"])
    return out


def test_gc_dry_run_deletes_nothing(own: Path) -> None:
    objects = all_objects(own)
    done = run_cli(own, "gc", "--status", "FAIL", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would delete run gamma-run-0003" in done.stdout and "dry run: 1 run(s)" in done.stdout
    assert record_path(own, "gamma-run-0003").exists() and all_objects(own) == objects


def test_gc_by_job_keeps_the_newest_of_that_job_and_spares_other_jobs(own: Path) -> None:
    done = run_cli(own, "gc", "--job", "make", "--keep-last", "1", "--yes")
    assert done.returncode == 0, done.stderr
    assert "deleted run alpha-run-0001" in done.stdout and "deleted run beta-run-0002" in done.stdout
    listed = run_cli(own, "runs", "list").stdout
    assert "gamma-run-0003" in listed and "delta-run-0004" in listed  # the newest 'make' run, and 'big'
    assert "alpha-run-0001" not in listed and "beta-run-0002" not in listed
    assert run_cli(own, "catalog", "verify", "--all").returncode == 0


def test_gc_deletes_runs_and_only_unreferenced_content(own: Path) -> None:
    shared = load_record(own, "alpha-run-0001")["files"][1]["hash"]["md5"]  # data.txt, also in beta
    done = run_cli(own, "gc", "--status", "FAIL")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deleted run gamma-run-0003" in done.stdout
    assert not record_path(own, "gamma-run-0003").exists()
    assert not (own / ".catalog" / "gamma-run-0003").exists()
    assert all_objects(own) == referenced(own)  # the failed run's own content went, nothing else
    assert shared in all_objects(own)
    assert run_cli(own, "catalog", "verify", "--all").returncode == 0
    kept = run_cli(own, "gc", "--keep-last", "1")
    assert kept.returncode == 0, kept.stderr
    assert [r["run_id"] for r in json.loads(run_cli(own, "runs", "list", "--json").stdout)] == ["delta-run-0004"]
    assert all_objects(own) == referenced(own)
    assert run_cli(own, "catalog", "verify", "--all", "--working-folder", str(own)).returncode == 0


def test_gc_without_options_removes_orphans_and_abandoned_temporaries(own: Path) -> None:
    record_path(own, "alpha-run-0001").unlink()  # as if a record was removed by hand
    tmp = own / ".catalog" / ".objects" / "tmp"
    tmp.mkdir(exist_ok=True)
    (tmp / ".runnable-tmp-0000-object").write_bytes(b"partial")
    (own / ".run_log_store" / ".runnable-tmp-0000-x.json").write_bytes(b"{")
    done = run_cli(own, "gc")
    assert done.returncode == 0, done.stderr
    assert all_objects(own) == referenced(own)
    assert "removed abandoned temporary files" in done.stdout
    assert list(tmp.iterdir()) == [] and not (own / ".run_log_store" / ".runnable-tmp-0000-x.json").exists()
    assert len(referenced(own)) == len(all_objects(own)) > 0


def test_gc_never_deletes_a_run_whose_owner_is_alive_nor_content_while_it_runs(own: Path) -> None:
    data = load_record(own, "gamma-run-0003")
    data.update(status="RUNNING", end=None)
    data["environment"].update(host=socket.gethostname(), pid=os.getpid())
    save_record(own, "gamma-run-0003", data)
    record_path(own, "alpha-run-0001").unlink()  # leaves content nobody refers to
    objects = all_objects(own)
    done = run_cli(own, "gc", "--status", "RUNNING", "--older-than", "0s")
    assert done.returncode == 0, done.stderr
    assert record_path(own, "gamma-run-0003").exists()
    assert "kept 1 run(s) in progress: gamma-run-0003" in done.stdout
    assert "kept unreferenced content" in done.stdout and all_objects(own) == objects


def test_gc_rejects_a_bad_age(project: Path) -> None:
    done = run_cli(project, "gc", "--older-than", "soon", "--dry-run")
    assert done.returncode == 2 and "'soon' is not understood" in done.stderr


# -- configuration and help --------------------------------------------------------------------
def test_commands_read_the_configured_stores(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    config = folder / "conf.yaml"
    config.write_text("catalog: {type: file-system, config: {catalog_location: store/cat}}\n"
                      "run-log-store: {type: file-system, config: {log_folder: store/logs}}\n")
    (folder / "job.py").write_text("from pathlib import Path\nfrom runnable import Catalog, ShellJob\n"
                                   "ShellJob(command='echo hi > a.txt', catalog=Catalog(put=['a.txt'])).execute()\n")
    made = run_cli(folder, "execute-job", "job.py", "--config", str(config), "--run-id", "conf-run-1")
    assert made.returncode == 0, made.stderr
    assert (folder / "store" / "logs" / "conf-run-1.json").is_file()
    assert "no runs" in run_cli(folder, "runs", "list").stdout  # the default folders are empty
    by_option = run_cli(folder, "runs", "list", "--config", str(config), "--json")
    assert [r["run_id"] for r in json.loads(by_option.stdout)] == ["conf-run-1"]
    by_env = run_cli(folder, "catalog", "verify", "--all", env={"RUNNABLE_CONFIGURATION_FILE": str(config)})
    assert by_env.returncode == 0 and "1 run(s), 2 file(s) checked: all OK" in by_env.stdout


@pytest.mark.parametrize("command", [["runs"], ["runs", "list"], ["runs", "show"], ["runs", "diff"], ["logs"],
                                     ["catalog"], ["catalog", "get"], ["catalog", "verify"], ["gc"]])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    done = run_cli(tmp_path, *command, "--help")
    assert done.returncode == 0 and "Usage:" in done.stdout
    if command not in (["runs"], ["catalog"]):
        assert "--config" in done.stdout
