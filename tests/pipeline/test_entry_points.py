"""``runnable execute``, ``runnable retry`` (also after SIGKILL) and ``runnable execute-step``, for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_python
from tests.pipeline.helpers import only_record, records, run_cli, step, write

MAIN_FORM = """
from runnable import Pipeline, PythonTask
def add(a: int, b: int = 2):
    return a + b
def main():
    return Pipeline(steps=[PythonTask(name="add", function=add, returns=["total"])])
"""

MODULE_FORM = """
from runnable import Pipeline, Stub
pipeline = Pipeline(steps=[Stub(name="only")])
"""


def test_execute_a_script_whose_main_returns_the_pipeline(tmp_path: Path) -> None:
    write(tmp_path, MAIN_FORM)
    (tmp_path / "p.yaml").write_text("a: 40\n")
    done = run_cli(tmp_path, "execute", "pipe.py", "--parameters-file", "p.yaml", "--run-id", "first-run",
                   "--tag", "nightly")
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_path)
    assert record["run_id"] == "first-run" and record["tags"] == ["nightly"]
    assert step(record, "add")["returns"] == {"total": 42}


def test_execute_a_module_level_pipeline_and_refuse_a_script_without_one(tmp_path: Path) -> None:
    write(tmp_path, MODULE_FORM)
    assert run_cli(tmp_path, "execute", "pipe.py").returncode == 0
    assert [s["name"] for s in only_record(tmp_path)["steps"]] == ["only"]
    write(tmp_path, "x = 1\n", name="none.py")
    done = run_cli(tmp_path, "execute", "none.py")
    assert done.returncode == 2
    assert done.stderr.strip() == ("Error: none.py defines no pipeline: call execute() on the pipeline in the script, "
                                   "define main() that returns it, or a module-level 'pipeline'; see docs/pipelines.md")


FLAKY = """
import os
from runnable import Catalog, Pipeline, PythonTask, pickled

def make():
    with open("made.txt", "w") as f:
        f.write("made once")
    with open("count.txt", "a") as f:
        f.write("x")
    return {{"rows": 3}}, 7

def use(table, seven):
    if not os.path.exists("fixed"):
        raise RuntimeError("not fixed yet")
    print("using", table, seven, open("made.txt").read())
    return seven + 1

{extra}
pipeline = Pipeline(steps=[
    PythonTask(name="make", function=make, returns=[pickled("table"), "seven"], catalog=Catalog(put=["made.txt"])),
    PythonTask(name="use", function=use, returns=["eight"], catalog=Catalog(get=["made.txt"])),
{more}])
if __name__ == "__main__":
    pipeline.execute()
"""


def test_retry_reruns_the_failed_step_reusing_what_succeeded(tmp_path: Path) -> None:
    write(tmp_path, FLAKY.format(extra="", more=""))
    first = run_python(tmp_path / "pipe.py", tmp_path)
    assert first.returncode == 1
    original = only_record(tmp_path)
    (tmp_path / "fixed").write_text("")
    (tmp_path / "made.txt").unlink()  # the retry brings it back from the original's catalog
    again = run_cli(tmp_path, "retry", original["run_id"])
    assert again.returncode == 0, again.stderr
    assert "using {'rows': 3} 7 made once" in again.stdout
    assert (tmp_path / "count.txt").read_text() == "x"  # make did not run again
    retried = next(r for r in records(tmp_path) if r["run_id"] != original["run_id"])
    assert retried["status"] == "SUCCESS" and retried["job"]["retry_of"] == original["run_id"]
    assert step(retried, "make")["reused_from"] == original["run_id"]
    assert step(retried, "use")["returns"] == {"eight": 8}
    assert "made.txt" in {f["path"] for f in retried["files"]}
    assert (tmp_path / ".catalog" / retried["run_id"] / "made.txt").read_text() == "made once"


def test_retry_is_refused_when_the_structure_changed(tmp_path: Path) -> None:
    write(tmp_path, FLAKY.format(extra="", more=""))
    assert run_python(tmp_path / "pipe.py", tmp_path).returncode == 1
    original = only_record(tmp_path)["run_id"]
    write(tmp_path, FLAKY.format(extra="from runnable import Stub", more='    Stub(name="extra"),\n'))
    done = run_python(tmp_path / "pipe.py", tmp_path, env={"RUNNABLE_RETRY_RUN_ID": original})
    assert done.returncode == 1
    assert f"cannot retry run {original}: the pipeline now has the step 'extra:stub'" in done.stderr
    assert len(records(tmp_path)) == 1


SLOW = """
import time
from runnable import Catalog, Pipeline, PythonTask

def first():
    with open("one.txt", "w") as f:
        f.write("one")

def second():
    import os
    if not os.path.exists("fast"):
        print("sleeping", flush=True)
        time.sleep(60)

Pipeline(steps=[PythonTask(name="first", function=first, catalog=Catalog(put=["one.txt"])),
                PythonTask(name="second", function=second)]).execute()
"""


def test_sigkill_leaves_an_honest_record_and_retry_works_after_it(tmp_path: Path) -> None:
    write(tmp_path, SLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    process = subprocess.Popen([sys.executable, "pipe.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "sleeping" in line:
            break
    time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    record = only_record(tmp_path)
    assert record["status"] == "RUNNING"
    assert [(s["path"], s["status"]) for s in record["steps"]] == [("first", "SUCCESS")]
    # A step marked SUCCESS has its files.
    assert (tmp_path / ".catalog" / record["run_id"] / "one.txt").read_text() == "one"
    listed = run_cli(tmp_path, "runs", "list")
    assert record["run_id"] in listed.stdout
    (tmp_path / "fast").write_text("")
    again = run_cli(tmp_path, "retry", record["run_id"])
    assert again.returncode == 0, again.stderr + again.stdout
    retried = next(r for r in records(tmp_path) if r["run_id"] != record["run_id"])
    assert step(retried, "first")["reused_from"] == record["run_id"]
    assert step(retried, "second")["status"] == "SUCCESS" and "reused_from" not in step(retried, "second")


def test_execute_step_runs_one_step_of_a_run(tmp_path: Path) -> None:
    write(tmp_path, FLAKY.format(extra="", more=""))
    (tmp_path / "fixed").write_text("")
    one = run_cli(tmp_path, "execute-step", "stepwise", "pipe.py", "make")
    assert one.returncode == 0, one.stderr
    record = only_record(tmp_path)
    assert record["status"] == "RUNNING" and [s["path"] for s in record["steps"]] == ["make"]
    (tmp_path / "made.txt").unlink()  # the next step's get brings it from the run's catalog
    two = run_cli(tmp_path, "execute-step", "stepwise", "pipe.py", "use")
    assert two.returncode == 0, two.stderr
    assert "using {'rows': 3} 7 made once" in two.stdout
    record = only_record(tmp_path)
    assert record["status"] == "SUCCESS"
    assert step(record, "use")["returns"] == {"eight": 8}
    assert step(record, "use")["inputs"][0]["source"]["step"] == "make"
    bad = run_cli(tmp_path, "execute-step", "stepwise", "pipe.py", "nope")
    assert bad.returncode == 2 and "the pipeline has no step 'nope'; its steps are: make, use" in bad.stderr
    assert json.loads((tmp_path / ".run_log_store" / "stepwise.json").read_text())["status"] == "SUCCESS"


def test_sigterm_during_branches_ends_them_and_records_fail(tmp_path: Path) -> None:
    write(tmp_path, """
        import os, time
        from runnable import Parallel, Pipeline, PythonTask
        def wait():
            with open(f"pid-{os.getpid()}", "w") as f:
                f.write("")
            print("waiting", flush=True)
            time.sleep(60)
        Pipeline(steps=[Parallel(name="fan", branches={k: PythonTask(name="w", function=wait).as_pipeline()
                                                       for k in "ab"})]).execute()
        """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    process = subprocess.Popen([sys.executable, "pipe.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("pid-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode != 0
    record = only_record(tmp_path)
    assert record["status"] == "FAIL"
    for marker in tmp_path.glob("pid-*"):
        pid = int(marker.name[4:])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"branch process {pid} still runs")


def test_retry_refuses_a_run_that_is_still_running(tmp_path: Path) -> None:
    write(tmp_path, SLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    process = subprocess.Popen([sys.executable, "pipe.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "sleeping" in line:
                break
        run_id = only_record(tmp_path)["run_id"]
        done = run_cli(tmp_path, "retry", run_id)
        assert done.returncode == 2
        assert f"cannot retry run {run_id}: it is still running" in done.stderr
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert len(records(tmp_path)) == 1


def test_history_commands_on_pipeline_runs(tmp_path: Path) -> None:
    write(tmp_path, MAIN_FORM)
    for run_id, a in (("pipe-a", "1"), ("pipe-b", "5")):
        done = run_cli(tmp_path, "execute", "pipe.py", "--run-id", run_id, env={"RUNNABLE_PRM_a": a})
        assert done.returncode == 0, done.stderr
    diff = run_cli(tmp_path, "runs", "diff", "pipe-a", "pipe-b")
    assert diff.returncode in (0, 1), diff.stderr
    assert "a" in diff.stdout and "5" in diff.stdout
    logs = run_cli(tmp_path, "logs", "pipe-a")
    assert logs.returncode == 0, logs.stderr
    lineage = run_cli(tmp_path, "runs", "lineage", "pipe-a")
    assert lineage.returncode == 0, lineage.stderr
    gone = run_cli(tmp_path, "gc", "--keep-last", "1", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert [r["run_id"] for r in records(tmp_path)] == ["pipe-b"]
    assert not (tmp_path / ".catalog" / "pipe-a").exists() and (tmp_path / ".catalog" / "pipe-b").is_dir()
    assert run_cli(tmp_path, "catalog", "verify", "pipe-b").returncode == 0


def test_lineage_from_a_job_into_a_pipeline_step(tmp_path: Path) -> None:
    done = run_python("""
from pathlib import Path
from runnable import Catalog, PythonJob
def make(): Path("raw.csv").write_text("a\\n1\\n")
PythonJob(function=make, catalog=Catalog(put=["raw.csv"])).execute(job_id="source-job")
""", tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "raw.csv").unlink()
    done = run_python("""
from pathlib import Path
from runnable import Catalog, Pipeline, PythonTask
def use(): print(Path("raw.csv").read_text().split())
Pipeline(steps=[PythonTask(name="use", function=use,
                           catalog=Catalog(get=["raw.csv"], get_from="source-job"))]).execute(run_id="the-pipe")
""", tmp_path)
    assert done.returncode == 0, done.stderr
    record = next(r for r in records(tmp_path) if r["run_id"] == "the-pipe")
    assert [i["source"]["run_id"] for i in record["inputs"]] == ["source-job"]
    up = run_cli(tmp_path, "runs", "lineage", "the-pipe")
    assert up.returncode == 0 and "source-job" in up.stdout, up.stdout + up.stderr
    down = run_cli(tmp_path, "runs", "lineage", "source-job", "--down")
    assert "the-pipe" in down.stdout, down.stdout + down.stderr


def test_execute_step_on_a_script_whose_main_executes_the_pipeline(tmp_path: Path) -> None:
    write(tmp_path, """
        from runnable import Pipeline, PythonTask
        def one(): print("ran one")
        def two(): print("ran two")
        def main():
            pipeline = Pipeline(steps=[PythonTask(name="one", function=one), PythonTask(name="two", function=two)])
            pipeline.execute()
            return pipeline
        if __name__ == "__main__":
            main()
        """)
    done = run_cli(tmp_path, "execute-step", "by-step", "pipe.py", "two")
    assert done.returncode == 0, done.stderr
    assert "ran two" in done.stdout and "ran one" not in done.stdout  # only the step asked for ran
    assert [s["path"] for s in only_record(tmp_path)["steps"]] == ["two"]


def test_execute_says_what_failed_in_one_line_and_refuses_a_bad_definition(tmp_path: Path) -> None:
    write(tmp_path, """
        from runnable import Pipeline, PythonTask
        def boom(): raise ValueError("no rows")
        pipeline = Pipeline(steps=[PythonTask(name="load", function=boom)])
        """)
    done = run_cli(tmp_path, "execute", "pipe.py", "--run-id", "failing")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("JobFailedError: run failing failed: step 'load' failed: ValueError: no rows;")
    write(tmp_path, """
        from runnable import Pipeline, Stub
        pipeline = Pipeline(steps=[Stub(name="x"), Stub(name="x")])
        """, name="bad.py")
    done = run_cli(tmp_path, "execute", "bad.py")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: pipeline: two steps are named 'x'; step names must be unique in a pipeline (the record and the "
        "catalog tell steps apart by name)"]


def test_execute_step_places_branch_steps_in_the_tree_a_local_run_makes(tmp_path: Path) -> None:
    write(tmp_path, """
        from runnable import Parallel, Pipeline, PythonTask
        def a(): return 1
        def b(): return 2
        pipeline = Pipeline(steps=[Parallel(name="fan", branches={
            "a": PythonTask(name="t", function=a, returns=["x"]).as_pipeline(),
            "b": PythonTask(name="t", function=b, returns=["y"]).as_pipeline()})])
        """)
    first = run_cli(tmp_path, "execute-step", "tree", "pipe.py", "fan.a.t")
    assert first.returncode == 0, first.stderr
    record = only_record(tmp_path)
    assert [(e["path"], e["status"]) for e in record["steps"]] == [("fan", "RUNNING")]
    assert step(record, "fan.a.t")["returns"] == {"x": 1}
    second = run_cli(tmp_path, "execute-step", "tree", "pipe.py", "fan.b.t")
    assert second.returncode == 0, second.stderr
    record = only_record(tmp_path)
    assert step(record, "fan")["status"] == "SUCCESS" and set(step(record, "fan")["branches"]) == {"a", "b"}
    assert record["status"] == "RUNNING"  # the launcher ends the run: fan is not the last top-level task
