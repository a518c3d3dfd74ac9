"""The run browser draws a pipeline's steps from its record (runnable.ui.pages.run.steps_of)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runnable.record import RunRecord
from tests.pipeline.helpers import only_record, run

pytest.importorskip("starlette")


def test_steps_of_a_real_pipeline_run(tmp_path: Path) -> None:
    from runnable.ui.pages.run import steps_of

    done = run(tmp_path, """
        from runnable import Parallel, Pipeline, PythonTask, Stub
        def fine(): pass
        Pipeline(steps=[Stub(name="start"),
                        Parallel(name="fan", branches={"a": PythonTask(name="t", function=fine).as_pipeline()}),
                        Stub(name="end")]).execute()
        """)
    assert done.returncode == 0, done.stderr
    steps = steps_of(RunRecord.from_dict(only_record(tmp_path)))
    assert [(s["name"], s["after"], s["status"]) for s in steps] == [
        ("start", [], "SUCCESS"), ("fan", ["start"], "SUCCESS"), ("fan.a.t", ["fan"], "SUCCESS"), ("end", ["fan"], "SUCCESS")]
    assert steps[2]["details"]["kind"] == "python"
