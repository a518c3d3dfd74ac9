"""``runnable execute-step --partial``: steps of one run in separate processes at the same time,
each writing its own entry, the record assembled once by ``--finish`` (runnable.pipeline.replay)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.pipeline.helpers import only_record, write

PIPELINE = """
from pathlib import Path
from runnable import Catalog, Parallel, Pipeline, PythonTask

def start():
    return 5

def make(key):
    def work(base):
        Path(f"out-{key}.txt").write_text(str(base + key))
        return base + key
    work.__name__ = f"work_{key}"
    return PythonTask(name="work", function=work, returns=[f"v{key}"], catalog=Catalog(put=[f"out-{key}.txt"]))

pipeline = Pipeline(steps=[
    PythonTask(name="start", function=start, returns=["base"]),
    Parallel(name="fan", branches={f"b{k}": make(k).as_pipeline() for k in range(8)}),
])
"""


def step_cli(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runnable", "execute-step", "r1", "pipe.py", *args],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ended(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_eight_branches_at_once_each_keep_their_entry(tmp_path: Path) -> None:
    write(tmp_path, PIPELINE)
    assert ended(step_cli(tmp_path, "start", "--partial"))[0] == 0
    branches = [step_cli(tmp_path, f"fan.b{k}", "--partial") for k in range(8)]  # all at once
    results = [ended(p) for p in branches]
    assert [r[0] for r in results] == [0] * 8, results
    assert only_record(tmp_path)["status"] == "RUNNING" and not only_record(tmp_path).get("steps")  # untouched
    assert ended(step_cli(tmp_path, "fan", "--partial", "--collect"))[0] == 0
    code, out, err = ended(step_cli(tmp_path, "--finish"))
    assert code == 0, err
    assert json.loads(out) == {"status": "SUCCESS", "run_id": "r1"}
    record = only_record(tmp_path)
    fan = next(e for e in record["steps"] if e["path"] == "fan")
    assert {key: [e["returns"] for e in entries] for key, entries in fan["branches"].items()} == {
        f"b{k}": [{f"v{k}": 5 + k}] for k in range(8)}
    assert record["returns"] == {"base": 5, **{f"v{k}": 5 + k for k in range(8)}}
    assert {f"out-{k}.txt" for k in range(8)} <= {f["path"] for f in record["files"]}


def test_a_step_whose_predecessor_has_not_run_is_one_line(tmp_path: Path) -> None:
    write(tmp_path, PIPELINE)
    code, _, err = ended(step_cli(tmp_path, "fan.b0", "--partial"))
    assert code == 2
    assert err == "Error: step 'start' of run r1 has not run yet, and step 'fan.b0' needs its outcome; run the " \
                  "steps in the pipeline's order\n"
