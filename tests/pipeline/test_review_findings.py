"""Failing tests from the hostile review of pipelines: each one shows a broken promise.

Marked ``xfail(strict=True)`` so that the branch stays green; whoever fixes one removes its mark
(strict: the test then fails until the mark is removed). Repro scripts: /work/review/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.pipeline.helpers import only_record, records, run, run_cli, step, write

RETRY_WRONG_VERSION = """
    from pathlib import Path
    from runnable import Catalog, Pipeline, PythonTask

    def make():
        Path("data.txt").write_text("v1\\n")

    def transform():
        text = Path("data.txt").read_text()
        assert text == "v1\\n", f"transform got {text!r}, not make's v1"
        Path("data.txt").write_text(text + "transformed\\n")
        if not Path("ready").exists():
            raise RuntimeError("not ready")

    pipeline = Pipeline(steps=[
        PythonTask(name="make", function=make, catalog=Catalog(put=["data.txt"])),
        PythonTask(name="transform", function=transform, catalog=Catalog(get=["data.txt"], put=["data.txt"])),
    ])
    if __name__ == "__main__":
        pipeline.execute()
"""


def test_retry_gives_the_retried_step_the_version_the_reused_step_put(tmp_path: Path) -> None:
    first = run(tmp_path, RETRY_WRONG_VERSION)
    assert first.returncode == 1, first.stderr
    original = only_record(tmp_path)["run_id"]
    (tmp_path / "ready").touch()
    (tmp_path / "data.txt").unlink()
    retried = run_cli(tmp_path, "retry", original)
    assert retried.returncode == 0, retried.stderr
    new = next(r for r in records(tmp_path) if r["run_id"] != original)
    assert (tmp_path / ".catalog" / new["run_id"] / "data.txt").read_text() == "v1\ntransformed\n"


RETRY_METRIC = """
    from pathlib import Path
    from runnable import Pipeline, PythonTask, metric

    def score() -> float:
        return 0.75

    def use(acc: float):
        if not Path("ready").exists():
            raise RuntimeError("not ready")
        print("acc", acc)

    pipeline = Pipeline(steps=[
        PythonTask(name="score", function=score, returns=[metric("acc")]),
        PythonTask(name="use", function=use),
    ])
    if __name__ == "__main__":
        pipeline.execute()
"""


def test_retry_gives_back_a_reused_steps_metric_as_a_parameter(tmp_path: Path) -> None:
    first = run(tmp_path, RETRY_METRIC)
    assert first.returncode == 1, first.stderr
    original = only_record(tmp_path)["run_id"]
    (tmp_path / "ready").touch()
    retried = run_cli(tmp_path, "retry", original)
    assert retried.returncode == 0, retried.stderr
    assert "acc 0.75" in retried.stdout


SUPERSEDED = """
    from pathlib import Path
    from runnable import Catalog, Pipeline, PythonTask

    def v1():
        Path("data.txt").write_text("version one\\n")

    def v2():
        Path("data.txt").write_text("version two\\n")

    Pipeline(steps=[
        PythonTask(name="v1", function=v1, catalog=Catalog(put=["data.txt"])),
        PythonTask(name="v2", function=v2, catalog=Catalog(get=["data.txt"], put=["data.txt"])),
    ]).execute()
"""


def test_gc_keeps_a_version_a_step_entry_still_names(tmp_path: Path) -> None:
    assert run(tmp_path, SUPERSEDED).returncode == 0
    record = only_record(tmp_path)
    digest = step(record, "v2")["inputs"][0]["hash"]["md5"]
    gc = run_cli(tmp_path, "gc", "--yes")
    assert gc.returncode == 0, gc.stderr
    assert (tmp_path / ".catalog" / ".objects" / "md5" / digest[:2] / digest[2:]).is_file(), gc.stdout


PARALLEL_SAME_PATH = """
    import time
    from pathlib import Path
    from runnable import Catalog, Parallel, Pipeline, PythonTask

    def wa():
        Path("out.txt").write_text("A" * 10)
        time.sleep(0.5)

    def wb():
        time.sleep(0.1)
        Path("out.txt").write_text("B" * 10)

    Pipeline(steps=[Parallel(name="fan", branches={
        "a": PythonTask(name="w", function=wa, catalog=Catalog(put=["out.txt"])).as_pipeline(),
        "b": PythonTask(name="w", function=wb, catalog=Catalog(put=["out.txt"])).as_pipeline(),
    })]).execute()
"""


def test_two_branches_writing_one_path_never_end_success_silently(tmp_path: Path) -> None:
    result = run(tmp_path, PARALLEL_SAME_PATH)
    record = only_record(tmp_path)
    assert record["status"] == "FAIL", "fan.a.w claims out.txt, whose stored bytes are branch b's"
    assert "out.txt" in result.stderr


MAP_OWN_NAMES = """
    import time
    from pathlib import Path
    from runnable import Catalog, Map, Pipeline, PythonTask

    def items():
        return [0, 1]

    def work(i: int):
        if i == 1:  # item 0's file exists, half written, when item 1's put runs
            for _ in range(300):  # at most 3 s (one worker: item 0 has run already)
                if Path("item0.txt").exists():
                    break
                time.sleep(0.01)
            time.sleep(0.1)
        with open(f"item{i}.txt", "w") as f:
            for _ in range(10 if i == 0 else 1):
                f.write("x" * 1000 + "\\n")
                f.flush()
                if i == 0:
                    time.sleep(0.1)
        return i

    Pipeline(steps=[
        PythonTask(name="items", function=items, returns=["items"]),
        Map(name="m", iterate_on="items", iterate_as="i",
            branch=PythonTask(name="w", function=work, returns=["r"],
                              catalog=Catalog(put=["item*.txt"])).as_pipeline()),
    ]).execute()
"""


def test_map_items_with_their_own_file_names_and_a_shared_glob_succeed(tmp_path: Path) -> None:
    result = run(tmp_path, MAP_OWN_NAMES)
    assert result.returncode == 0, result.stderr
    record = only_record(tmp_path)
    sizes = {f["path"]: f["size"] for f in record["files"]}
    assert sizes["item0.txt"] == 10010


KILLED_MAP = """
    import time
    from pathlib import Path
    from runnable import Map, Pipeline, PythonTask

    def items():
        return [0, 1]

    def work(i: int):
        time.sleep(3)
        Path(f"late{i}.txt").write_text("written after the pipeline's process was killed")

    Pipeline(steps=[
        PythonTask(name="items", function=items, returns=["items"]),
        Map(name="m", iterate_on="items", iterate_as="i", branch=PythonTask(name="w", function=work).as_pipeline()),
    ]).execute()
"""


def test_branch_processes_end_with_a_killed_pipeline(tmp_path: Path) -> None:
    script = write(tmp_path, KILLED_MAP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    process = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the branches have started when their step's scratch exists
        found = records(tmp_path)
        if found and any(s["path"] == "items" for s in found[0].get("steps", [])):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(4)
    assert not list(tmp_path.glob("late*.txt")), "a branch went on running after its pipeline was killed"
    assert json.loads((tmp_path / ".run_log_store" / f"{records(tmp_path)[0]['run_id']}.json").read_text())


PICKLED_ANNOTATED = """
    from runnable import Pipeline, PythonTask, pickled

    class Model:
        def __init__(self, w):
            self.w = w

    def train():
        return Model(3)

    def evaluate(model: Model):
        print("weights", model.w)

    Pipeline(steps=[
        PythonTask(name="train", function=train, returns=[pickled("model")]),
        PythonTask(name="evaluate", function=evaluate),
    ]).execute()
"""


def test_a_pickled_object_reaches_a_function_annotated_with_its_class(tmp_path: Path) -> None:
    result = run(tmp_path, PICKLED_ANNOTATED)
    assert result.returncode == 0, result.stderr
    assert "weights 3" in result.stdout


SHELL_EXIT = """
    from runnable import Pipeline, PythonTask, ShellTask
    Pipeline(steps=[
        ShellTask(name="s", command="export x=5\\nexit 0", returns=["x"]),
        PythonTask(name="p", function=lambda x: print("x =", x)),
    ]).execute()
"""


def test_a_shell_task_that_exits_explicitly_still_returns_its_exports(tmp_path: Path) -> None:
    result = run(tmp_path, SHELL_EXIT)
    assert result.returncode == 0, result.stderr
    assert "x = 5" in result.stdout


RETRY_PARAMETERS = """
    import os
    from runnable import Pipeline, PythonTask

    def increment(param1: int) -> int:
        return param1 + 1

    def check(param1: int, param2: str):
        if not os.path.exists("ready"):
            raise RuntimeError("not ready")
        assert (param1, param2) == (42, "hello"), (param1, param2)

    pipeline = Pipeline(steps=[PythonTask(name="inc", function=increment, returns=["param1"]),
                               PythonTask(name="check", function=check)])
    if __name__ == "__main__":
        pipeline.execute()
"""


def test_retry_reuses_the_original_runs_initial_parameters(tmp_path: Path) -> None:
    first = run(tmp_path, RETRY_PARAMETERS, env={"RUNNABLE_PRM_param1": "41", "RUNNABLE_PRM_param2": "hello"})
    assert first.returncode == 1, first.stderr
    original = only_record(tmp_path)["run_id"]
    (tmp_path / "ready").touch()
    retried = run_cli(tmp_path, "retry", original)
    assert retried.returncode == 0, retried.stderr


BRANCH_REPUT = """
    from pathlib import Path
    from runnable import Catalog, Parallel, Pipeline, PythonTask, Stub

    def v1():
        Path("data.txt").write_text("v1\\n")

    def v2():
        Path("data.txt").write_text(Path("data.txt").read_text() + "v2\\n")

    def use():
        text = Path("data.txt").read_text()
        assert text == "v1\\nv2\\n", f"use got {text!r}, not the branch's v2"

    Pipeline(steps=[
        PythonTask(name="make", function=v1, catalog=Catalog(put=["data.txt"])),
        Parallel(name="fan", branches={
            "a": PythonTask(name="upd", function=v2, catalog=Catalog(get=["data.txt"], put=["data.txt"])).as_pipeline(),
            "b": Stub(name="s").as_pipeline()}),
        PythonTask(name="clean", function=lambda: Path("data.txt").unlink()),
        PythonTask(name="use", function=use, catalog=Catalog(get=["data.txt"])),
    ]).execute()
"""


def test_a_later_get_brings_the_version_a_branch_put_again(tmp_path: Path) -> None:
    result = run(tmp_path, BRANCH_REPUT)
    assert result.returncode == 0, result.stderr
    assert step(only_record(tmp_path), "use")["inputs"][0]["source"]["step"] == "fan.a.upd"
