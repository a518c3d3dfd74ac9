"""``runnable execute-job``: the entry point a container or pod runs, exercised as a real subprocess."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import run_cli

JOB = textwrap.dedent(
    """
    import os
    from runnable import Catalog, PythonJob

    def fit(rate: float, layers: int = 1, note: str = ""):
        with open("fit.txt", "w") as f:
            f.write(f"{rate}:{layers}:{note}")
        return rate * layers

    def main():
        job = PythonJob(function=fit, catalog=Catalog(put=["fit.txt"]), returns=["score"], secrets=SECRETS)
        job.execute()
        return job

    SECRETS = [s for s in os.environ.get("TEST_SECRETS", "").split(",") if s]

    if __name__ == "__main__":
        main()
    """
)

# What the container executor starts inside: the same configuration file, but told it is inside.
CONTAINER_CONFIG = textwrap.dedent(
    """
    catalog: {type: file-system, config: {catalog_location: store/catalog}}
    run-log-store: {type: file-system, config: {log_folder: store/runs}}
    job-executor: {type: local-container, config: {image: never-pulled:1, engine: no-such-engine}}
    secrets: {type: dotenv, config: {location: missing.env}}
    """
)


def test_inner_run_uses_given_id_catalog_parameters_and_tags(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "config.yaml").write_text(CONTAINER_CONFIG)
    (workdir / "params.yaml").write_text("rate: 0.5\nlayers: 2\n")
    env = {"RUNNABLE_IN_EXECUTOR": "1", "RUNNABLE_PRM_layers": "4", "RUNNABLE_PRM_note": "from env",
           "TEST_SECRETS": "API_TOKEN", "API_TOKEN": "tok-123456"}
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "outer-chosen-7",
                   "--parameters", "params.yaml", "--tag", "a", "--tag", "b", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["run_id"] == "outer-chosen-7"
    assert summary["run_record"] == "store/runs/outer-chosen-7.json"
    record = json.loads((workdir / "store/runs/outer-chosen-7.json").read_text())
    assert record["status"] == "SUCCESS"
    assert record["parameters"] == {"rate": 0.5, "layers": 4, "note": "from env"}
    assert record["returns"] == {"score": 2.0}
    assert record["tags"] == ["a", "b"]
    assert record["catalog"]["location"] == "store/catalog"
    assert (workdir / "store/catalog/outer-chosen-7/fit.txt").read_text() == "0.5:4:from env"
    assert "executor" not in record["environment"]  # the outer process adds it, not this one
    assert "tok-123456" not in (workdir / "store/runs/outer-chosen-7.json").read_text()


def test_outside_an_executor_the_same_config_would_start_a_container(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "config.yaml").write_text(CONTAINER_CONFIG)
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", env={"RUNNABLE_PRM_rate": "1"})
    assert done.returncode == 2
    assert "container engine 'no-such-engine'" in done.stderr
    assert not (workdir / "fit.txt").exists()


def test_inner_run_failure_is_recorded_and_exit_code_is_1(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "config.yaml").write_text(CONTAINER_CONFIG)
    done = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "bad-rate",
                   env={"RUNNABLE_IN_EXECUTOR": "1", "RUNNABLE_PRM_rate": "fast"})
    assert done.returncode == 1
    record = json.loads((workdir / "store/runs/bad-rate.json").read_text())
    assert record["status"] == "FAIL"
    assert record["error"]["type"] == "ParameterError"


def test_inner_run_refuses_a_taken_id(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "config.yaml").write_text(CONTAINER_CONFIG)
    env = {"RUNNABLE_IN_EXECUTOR": "1", "RUNNABLE_PRM_rate": "1"}
    first = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "same", env=env)
    assert first.returncode == 0, first.stderr
    again = run_cli(workdir, "execute-job", "job.py", "--config", "config.yaml", "--run-id", "same", env=env)
    assert again.returncode == 2
    assert "run id 'same' is already used" in again.stderr


def test_script_with_only_main(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB.replace('if __name__ == "__main__":\n    main()\n', ""))
    done = run_cli(workdir, "execute-job", "job.py", "--run-id", "via-main", env={"RUNNABLE_PRM_rate": "3"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"run_id"') == 1  # main() ran once
    assert json.loads((workdir / ".run_log_store/via-main.json").read_text())["returns"] == {"score": 3.0}
