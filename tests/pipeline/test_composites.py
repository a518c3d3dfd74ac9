"""Parallel, Map, Conditional and Loop, run for real, nested, and failing inside a branch."""

from __future__ import annotations

import os
from pathlib import Path

from tests.pipeline.helpers import only_record, run, step

COMMON = """
import os, time
from runnable import Catalog, Conditional, Loop, Map, Parallel, Pipeline, PythonTask, Stub, pickled

def square(x):
    with open(f"sq-{x}.txt", "w") as f:
        f.write(str(x * x))
    return x * x, os.getpid()

def mark(label):
    return label

def fails(x):
    if x == 2:
        raise RuntimeError(f"item {x} is bad")
    time.sleep(0.2)
    return x
"""


def test_parallel_branches_run_as_concurrent_processes(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
import time
def slow_a():
    time.sleep(0.5); return os.getpid()
def slow_b():
    time.sleep(0.5); return os.getpid()
fan = Parallel(name="fan", branches={
    "a": PythonTask(name="t", function=slow_a, returns=["pid_a"]).as_pipeline(),
    "b": PythonTask(name="t", function=slow_b, returns=["pid_b"]).as_pipeline()})
def after(pid_a, pid_b):
    print("pids", pid_a, pid_b, os.getpid())
Pipeline(steps=[fan, PythonTask(name="after", function=after)]).execute()
""")
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_path)
    fan = step(record, "fan")
    assert fan["status"] == "SUCCESS" and set(fan["branches"]) == {"a", "b"}
    assert fan["duration_seconds"] < 0.95  # two 0.5 s branches at the same time
    pid_a, pid_b, parent = (int(x) for x in done.stdout.split("pids ")[1].split()[:3])
    assert len({pid_a, pid_b, parent}) == 3
    assert step(record, "fan.a.t")["execution_log"] == "fan.a.t.execution.log"
    assert {"fan.a.t.execution.log", "fan.b.t.execution.log"} <= {f["path"] for f in record["files"]}


def test_map_collects_returns_as_lists_and_through_a_reducer(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
branch = PythonTask(name="sq", function=square, returns=["squared", "pid"],
                    catalog=Catalog(put=["sq-*.txt"])).as_pipeline()
def report(squared, total):
    print("squares", squared, "total", total)
Pipeline(steps=[
    Map(name="each", branch=branch, iterate_on="xs", iterate_as="x"),
    Map(name="total", branch=PythonTask(name="sq", function=square, returns=["total", "pid2"]).as_pipeline(),
        iterate_on="xs", iterate_as="x", reducer="lambda *x: sum(x) if not isinstance(x[0], int) or x[0] >= 0 else 0"),
    PythonTask(name="report", function=report),
]).execute()
""", env={"RUNNABLE_PRM_xs": "[1, 2, 3]"})
    assert done.returncode == 0, done.stderr
    assert "squares [1, 4, 9] total 14" in done.stdout
    record = only_record(tmp_path)
    each = step(record, "each")
    assert list(each["branches"]) == ["0", "1", "2"]
    assert step(record, "each.1.sq")["parameters"] == {"x": 2}
    assert {"sq-1.txt", "sq-2.txt", "sq-3.txt"} <= {f["path"] for f in record["files"]}


def test_a_failing_map_item_fails_the_step_after_the_others_finish(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
branch = PythonTask(name="f", function=fails, returns=["y"]).as_pipeline()
Pipeline(steps=[Map(name="each", branch=branch, iterate_on="xs", iterate_as="x"), Stub(name="next")]).execute()
""", env={"RUNNABLE_PRM_xs": "[1, 2, 3]"})
    assert done.returncode == 1
    record = only_record(tmp_path)
    assert [s["path"] for s in record["steps"]] == ["each"]
    assert step(record, "each.0.f")["status"] == "SUCCESS" and step(record, "each.2.f")["status"] == "SUCCESS"
    assert step(record, "each.1.f")["status"] == "FAIL"
    assert "step 'each.1.f' failed: RuntimeError: item 2 is bad" in record["error"]["message"]


def test_a_failing_reducer_fails_the_step_in_one_line(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
branch = PythonTask(name="m", function=mark, returns=["y"]).as_pipeline()
Pipeline(steps=[Map(name="each", branch=branch, iterate_on="labels", iterate_as="label",
                    reducer=lambda *v: 1 / 0)]).execute()
""", env={"RUNNABLE_PRM_labels": '["a", "b"]'})
    assert done.returncode == 1
    message = only_record(tmp_path)["error"]["message"]
    assert "step 'each' failed: the reducer failed on 'y': ZeroDivisionError: division by zero" in message


def test_conditional_runs_the_branch_the_parameter_names(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
choose = Conditional(name="choose", parameter="kind", branches={
    "csv": PythonTask(name="t", function=mark, returns=["picked"]).as_pipeline(),
    "json": PythonTask(name="t", function=lambda: "json", returns=["picked"]).as_pipeline()})
def show(picked): print("picked", picked)
Pipeline(steps=[choose, PythonTask(name="show", function=show)]).execute()
""", env={"RUNNABLE_PRM_kind": "csv", "RUNNABLE_PRM_label": "from-csv"})
    assert done.returncode == 0, done.stderr
    assert "picked from-csv" in done.stdout
    record = only_record(tmp_path)
    assert list(step(record, "choose")["branches"]) == ["csv"]


def test_loop_repeats_until_break_on(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
def grow(index, size: int = 1):
    return size * 2, size * 2 >= 8
body = PythonTask(name="grow", function=grow, returns=["size", "done"]).as_pipeline()
def show(size): print("size", size)
Pipeline(steps=[Loop(name="again", branch=body, max_iterations=10, break_on="done", index_as="index"),
                PythonTask(name="show", function=show)]).execute()
""")
    assert done.returncode == 0, done.stderr
    assert "size 8" in done.stdout
    loop = step(only_record(tmp_path), "again")
    assert loop["iterations"] == 3 and list(loop["branches"]) == ["0", "1", "2"]


def test_map_inside_parallel(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
inner = Map(name="each", branch=PythonTask(name="sq", function=square, returns=["squared", "pid"]).as_pipeline(),
            iterate_on="xs", iterate_as="x")
fan = Parallel(name="fan", branches={"maps": Pipeline(steps=[inner]),
                                     "other": Stub(name="s").as_pipeline()})
def show(squared): print("nested", squared)
Pipeline(steps=[fan, PythonTask(name="show", function=show)]).execute()
""", env={"RUNNABLE_PRM_xs": "[2, 3]"})
    assert done.returncode == 0, done.stderr
    assert "nested [4, 9]" in done.stdout
    record = only_record(tmp_path)
    assert step(record, "fan.maps.each.1.sq")["returns"] == {"squared": 9, "pid": step(record, "fan.maps.each.1.sq")["returns"]["pid"]}
    assert os.getpid() not in (step(record, "fan.maps.each.0.sq")["returns"]["pid"],)


def test_a_failing_parallel_branch_fails_the_step_after_the_other_finishes(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
import time
def slow():
    time.sleep(0.3)
    with open("slow-done.txt", "w") as f:
        f.write("done")
def broken():
    raise KeyError("missing column")
fan = Parallel(name="fan", branches={"slow": PythonTask(name="s", function=slow).as_pipeline(),
                                     "bad": PythonTask(name="b", function=broken).as_pipeline()})
Pipeline(steps=[fan, Stub(name="after")]).execute()
""")
    assert done.returncode == 1
    record = only_record(tmp_path)
    assert [s["path"] for s in record["steps"]] == ["fan"]
    assert step(record, "fan.slow.s")["status"] == "SUCCESS" and (tmp_path / "slow-done.txt").exists()
    assert "step 'fan.bad.b' failed: KeyError: 'missing column'" in record["error"]["message"]


def test_conditional_without_a_branch_for_the_value_and_a_failing_loop(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
choose = Conditional(name="choose", parameter="kind", branches={"csv": Stub(name="t").as_pipeline()})
Pipeline(steps=[choose]).execute()
""", env={"RUNNABLE_PRM_kind": "xml"})
    assert done.returncode == 1
    message = only_record(tmp_path)["error"]["message"]
    assert message == "step 'choose' failed: parameter 'kind' is 'xml', which names no branch; the branches are 'csv'"
    looped = tmp_path / "loop"
    looped.mkdir()
    done = run(looped, COMMON + """
def once(index):
    if index == 1:
        raise ValueError("second round fails")
    return False
body = PythonTask(name="once", function=once, returns=["stop"]).as_pipeline()
Pipeline(steps=[Loop(name="again", branch=body, max_iterations=3, break_on="stop")]).execute()
""")
    assert done.returncode == 1
    record = only_record(looped)
    assert step(record, "again.0.once")["status"] == "SUCCESS" and step(record, "again.1.once")["status"] == "FAIL"
    assert "step 'again.1.once' failed: ValueError: second round fails" in record["error"]["message"]


def test_concurrent_branches_storing_one_path_with_different_contents_fail_the_step(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
def write(label):
    time.sleep(0.4 if label == "b" else 0)  # a has stored its copy before b writes: each stores its own
    with open("out.txt", "w") as f:
        f.write(label * 3)
branch = PythonTask(name="w", function=write, catalog=Catalog(put=["out.txt"])).as_pipeline()
Pipeline(steps=[Map(name="each", branch=branch, iterate_on="labels", iterate_as="label")]).execute()
""", env={"RUNNABLE_PRM_labels": '["a", "b"]'})
    assert done.returncode == 1
    assert "both stored 'out.txt', with different contents, at the same time" in only_record(tmp_path)["error"]["message"]


def test_secrets_never_reach_a_step_log_or_the_record(tmp_path: Path) -> None:
    done = run(tmp_path, """
        import os
        from runnable import Pipeline, PythonTask, ShellTask
        def show():
            print("token is", os.environ["API_TOKEN"])
        Pipeline(steps=[PythonTask(name="py", function=show, secrets=["API_TOKEN"]),
                        ShellTask(name="sh", command='echo "shell sees $API_TOKEN"', secrets=["API_TOKEN"])]).execute()
        """, env={"API_TOKEN": "tok-98765-secret"})
    assert done.returncode == 0, done.stderr
    assert "tok-98765-secret" not in done.stdout + done.stderr
    for file in [*(tmp_path / ".catalog").rglob("*.log"), *(tmp_path / ".run_log_store").glob("*.json")]:
        assert "tok-98765-secret" not in file.read_text(errors="replace"), file
    assert "token is" in (tmp_path / ".catalog" / only_record(tmp_path)["run_id"] / "py.execution.log").read_text()
    # Masking the record between steps must not cut the step tree short.
    assert [s["path"] for s in only_record(tmp_path)["steps"]] == ["py", "sh"]


def test_a_branch_process_killed_by_a_signal_fails_its_step(tmp_path: Path) -> None:
    done = run(tmp_path, COMMON + """
import signal
def die(label):
    if label == "b":
        os.kill(os.getpid(), signal.SIGKILL)
    return label
branch = PythonTask(name="d", function=die, returns=["y"]).as_pipeline()
Pipeline(steps=[Map(name="each", branch=branch, iterate_on="labels", iterate_as="label")]).execute()
""", env={"RUNNABLE_PRM_labels": '["a", "b"]'})
    assert done.returncode == 1
    record = only_record(tmp_path)
    assert step(record, "each.0.d")["status"] == "SUCCESS" and step(record, "each")["branches"]["1"] == []
    assert "branch '1' failed: its process was killed by signal SIGKILL" in record["error"]["message"]
