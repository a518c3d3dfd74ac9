"""Sequential pipelines, run for real: parameters, returns, files between steps, one record."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_python
from tests.pipeline.helpers import only_record, run, run_cli, step

FLOW = """
import os
from runnable import Catalog, Pipeline, PythonTask, ShellTask, Stub, metric, pickled

def prepare(rows: int = 3):
    os.makedirs("data", exist_ok=True)
    with open("data/clean.csv", "w") as f:
        f.write("a\\n" * rows)
    return {"x": list(range(rows))}, rows

def train(df, n_rows, lr: float):
    print("training on", df, n_rows, lr)
    assert open("data/clean.csv").read().count("a") == n_rows
    with open("model.txt", "w") as f:
        f.write(str(lr))
    return 0.5 + lr

pipeline = Pipeline(steps=[
    PythonTask(name="prepare", function=prepare, returns=[pickled("df"), "n_rows"],
               catalog=Catalog(put=["data/clean.csv"])),
    Stub(name="wait"),
    PythonTask(name="train", function=train, returns=[metric("accuracy")],
               catalog=Catalog(get=["data/clean.csv"], put=["model.txt"])),
    ShellTask(name="report", command='echo "acc=$accuracy rows=$n_rows"; export summary="done-$n_rows"',
              returns=["summary"]),
])
if __name__ == "__main__":
    pipeline.execute(parameters_file="params.yaml")
"""


def test_parameters_returns_and_files_flow_through_one_run(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("rows: 4\n")
    done = run(tmp_path, FLOW, env={"RUNNABLE_PRM_lr": "0.25"})
    assert done.returncode == 0, done.stderr
    assert "training on {'x': [0, 1, 2, 3]} 4 0.25" in done.stdout
    assert "acc=0.75 rows=4" in done.stdout
    record = only_record(tmp_path)
    run_id = record["run_id"]
    assert record["status"] == "SUCCESS" and record["job"]["kind"] == "pipeline"
    assert [s["path"] for s in record["steps"]] == ["prepare", "wait", "train", "report"]
    assert all(s["status"] == "SUCCESS" and s["attempts"] == 1 and s["start"] and s["end"] for s in record["steps"])
    assert record["parameters"] == {"rows": 4, "lr": 0.25}
    assert step(record, "prepare")["parameters"] == {"rows": 4}
    assert step(record, "prepare")["returns"] == {"n_rows": 4}
    assert step(record, "prepare")["objects"] == ["df"]
    assert step(record, "train")["parameters"] == {"df": {"x": [0, 1, 2, 3]}, "n_rows": 4, "lr": 0.25}
    assert record["metrics"] == {"accuracy": [[0, 0.75]]}
    assert step(record, "report")["returns"] == {"summary": "done-4"}
    assert record["returns"] == {"n_rows": 4, "summary": "done-4"}
    # The later step's get came from this run's catalog, by hash, from the step that put it.
    [read] = step(record, "train")["inputs"]
    assert read["path"] == "data/clean.csv"
    assert read["source"] == {"run_id": run_id, "path": "data/clean.csv", "step": "prepare", "others": 0}
    assert step(record, "train")["outputs"] == ["model.txt"]
    paths = {f["path"] for f in record["files"]}
    assert {"data/clean.csv", "model.txt", "prepare.execution.log", "train.execution.log",
            "report.execution.log"} <= paths
    assert record["objects"]["df"]["path"] == ".runnable-objects/df.pickle"
    assert "training on" in (tmp_path / ".catalog" / run_id / "train.execution.log").read_text()
    # The history commands work on the pipeline's run.
    shown = run_cli(tmp_path, "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "steps:" in shown.stdout and "SUCCESS  train  (python)" in shown.stdout
    assert run_cli(tmp_path, "catalog", "verify", run_id).returncode == 0
    target = tmp_path / "restored"
    got = run_cli(tmp_path, "catalog", "get", run_id, "--to", str(target))
    assert got.returncode == 0, got.stderr
    assert (target / "data" / "clean.csv").read_text() == "a\n" * 4
    loaded = run_cli(tmp_path, "runs", "list")
    assert run_id in loaded.stdout
    python = f"import runnable; print(runnable.get_run({run_id!r}).load('df'))"
    assert run_python(python, tmp_path).stdout.strip() == "{'x': [0, 1, 2, 3]}"


def test_sdk_import_path_and_as_pipeline(tmp_path: Path) -> None:
    done = run(tmp_path, """
        from runnable.sdk import PythonTask
        def hello(): print("hello from one step")
        PythonTask(name="hello", function=hello).as_pipeline().execute()
        """)
    assert done.returncode == 0, done.stderr
    assert "hello from one step" in done.stdout
    assert [s["name"] for s in only_record(tmp_path)["steps"]] == ["hello"]


def test_summary_is_json_with_the_run(tmp_path: Path) -> None:
    done = run(tmp_path, """
        from runnable import Pipeline, Stub
        Pipeline(steps=[Stub(name="a"), Stub(name="b")]).execute()
        """)
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["status"] == "SUCCESS" and summary["run_id"] == only_record(tmp_path)["run_id"]


def test_other_steps_parameters_raise_no_misspelling_warning_and_the_name_is_kept(tmp_path: Path) -> None:
    done = run(tmp_path, """
        from runnable import Pipeline, PythonTask
        def count(): return 3
        def use(n_row: int = 1): print("used", n_row)
        Pipeline(steps=[PythonTask(name="count", function=count, returns=["n_rows"]),
                        PythonTask(name="use", function=use)], name="nightly").execute()
        """)
    assert done.returncode == 0, done.stderr
    assert "did you mean" not in done.stderr and "used 1" in done.stdout
    record = only_record(tmp_path)
    assert record["job"]["name"] == "nightly" and record["execution_log"]["path"] == "nightly.execution.log"
