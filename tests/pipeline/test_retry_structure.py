"""A retry is refused when a step's declared returns changed since the original ran."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pipeline.helpers import only_record, run, run_cli, write

SCRIPT = """
    import os
    from runnable import Pipeline, PythonTask

    def make():
        return 1

    def use(x: int):
        if not os.path.exists("ready"):
            raise RuntimeError("not ready")
        print("x", x)

    pipeline = Pipeline(steps=[PythonTask(name="make", function=make, returns=["x"]),
                               PythonTask(name="use", function=use)])
    if __name__ == "__main__":
        pipeline.execute()
"""


def test_retry_refuses_a_changed_return_of_a_reused_step(tmp_path: Path) -> None:
    assert run(tmp_path, SCRIPT).returncode == 1
    original = only_record(tmp_path)["run_id"]
    (tmp_path / "ready").touch()
    write(tmp_path, SCRIPT.replace('returns=["x"]', 'returns=["x", "y"]').replace("return 1", "return 1, 2"))
    refused = run_cli(tmp_path, "retry", original)
    assert refused.returncode == 2, refused.stderr
    assert "the returns of step 'make' changed since: it returned x (json) and now returns x (json), y (json)" \
        in refused.stderr
    assert refused.stderr.strip().count("\n") == 0


def test_a_record_without_declared_returns_is_retried_as_before(tmp_path: Path) -> None:
    assert run(tmp_path, SCRIPT).returncode == 1
    record = only_record(tmp_path)
    del record["job"]["step_returns"]  # as written before retry compared returns
    (tmp_path / ".run_log_store" / f"{record['run_id']}.json").write_text(json.dumps(record))
    (tmp_path / "ready").touch()
    retried = run_cli(tmp_path, "retry", record["run_id"])
    assert retried.returncode == 0, retried.stderr
    assert "x 1" in retried.stdout
