"""A hand-edited pipeline record with something that is not a step where a step belongs: `runs show`
draws the steps that are steps, and gc still walks the versions the others name."""

import json
from pathlib import Path

from tests.conftest import run_cli, run_python

SCRIPT = '''
from runnable import Catalog, Parallel, Pipeline, PythonTask

def write(): open("a.txt", "w").write("a")
def other(): open("b.txt", "w").write("b")

Pipeline(steps=[Parallel(name="fan", branches={
    "a": PythonTask(name="wa", function=write, catalog=Catalog(put=["a.txt"])).as_pipeline(),
    "b": PythonTask(name="wb", function=other, catalog=Catalog(put=["b.txt"])).as_pipeline(),
})]).execute()
'''


def test_runs_show_and_gc_survive_a_branch_that_is_not_a_step(tmp_path: Path) -> None:
    (tmp_path / "pipe.py").write_text(SCRIPT)
    done = run_python(tmp_path / "pipe.py", tmp_path, env={"RUNNABLE_RUN_ID": "edited-0001"})
    assert done.returncode == 0, done.stderr
    path = tmp_path / ".run_log_store" / "edited-0001.json"
    record = json.loads(path.read_text())
    record["steps"][0]["branches"]["b"] = ["not a step", 3]
    path.write_text(json.dumps(record))

    shown = run_cli(tmp_path, "runs", "show", "edited-0001")
    assert shown.returncode == 0, shown.stderr
    assert "wa" in shown.stdout and "not a step" in shown.stdout and "Traceback" not in shown.stderr
    collected = run_cli(tmp_path, "gc")
    assert collected.returncode == 0, collected.stderr
    assert "Traceback" not in collected.stderr
