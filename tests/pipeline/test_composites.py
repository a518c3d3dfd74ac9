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
    "json": Stub(name="t").as_pipeline()})
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
