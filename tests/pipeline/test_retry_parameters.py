"""A retry runs with the original run's initial parameters; a different value given at retry is refused."""

from __future__ import annotations

from pathlib import Path

from tests.pipeline.helpers import only_record, run, run_cli

SCRIPT = """
    import os
    from runnable import Pipeline, PythonTask

    def increment(param1: int) -> int:
        return param1 + 1

    def check(param1: int, param2: str):
        if not os.path.exists("ready"):
            raise RuntimeError("not ready")
        print("check", param1, param2)

    pipeline = Pipeline(steps=[PythonTask(name="inc", function=increment, returns=["param1"]),
                               PythonTask(name="check", function=check)])
    if __name__ == "__main__":
        pipeline.execute()
"""


def _failed_run(tmp_path: Path) -> str:
    first = run(tmp_path, SCRIPT, env={"RUNNABLE_PRM_param1": "41", "RUNNABLE_PRM_param2": "hello"})
    assert first.returncode == 1, first.stderr
    (tmp_path / "ready").touch()
    return str(only_record(tmp_path)["run_id"])


def test_a_different_value_given_at_retry_is_refused_in_one_line(tmp_path: Path) -> None:
    original = _failed_run(tmp_path)
    refused = run_cli(tmp_path, "retry", original, env={"RUNNABLE_PRM_param2": "bye"})
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "'param2' is 'bye' now, but was 'hello'" in refused.stderr
    assert only_record(tmp_path)["run_id"] == original  # nothing ran


def test_a_parameter_the_original_did_not_have_is_refused(tmp_path: Path) -> None:
    original = _failed_run(tmp_path)
    refused = run_cli(tmp_path, "retry", original, env={"RUNNABLE_PRM_extra": "1"})
    assert refused.returncode == 2 and "'extra' is given now" in refused.stderr, refused.stderr


def test_the_same_value_given_again_is_accepted(tmp_path: Path) -> None:
    original = _failed_run(tmp_path)
    retried = run_cli(tmp_path, "retry", original, env={"RUNNABLE_PRM_param2": "hello"})
    assert retried.returncode == 0, retried.stderr
    assert "check 42 hello" in retried.stdout
