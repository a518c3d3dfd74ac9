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
