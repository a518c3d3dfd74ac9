"""``runnable.run.environment``: the ``RUNNABLE_*`` variables, named and read in one module, and the
options of ``runnable execute-job`` handed to the job as arguments, not through ``os.environ``."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from runnable.run import environment
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]

SEES_ENVIRONMENT = textwrap.dedent(
    """
    import json, os
    from runnable import PythonJob

    def look():
        with open("seen.json", "w") as f:
            json.dump(sorted(k for k in os.environ if k.startswith("RUNNABLE_")), f)

    PythonJob(function=look).execute()
    """
)


def test_every_runnable_variable_is_named_in_the_environment_module_only() -> None:
    named = re.compile(r"[\"']RUNNABLE_[A-Z_]*[\"']")
    elsewhere = [str(p.relative_to(REPO)) for p in (REPO / "runnable").rglob("*.py")
                 if p.name != "environment.py" and named.search(p.read_text())]
    assert elsewhere == []


def test_job_settings_are_read_from_the_mapping_given() -> None:
    settings = environment.job_settings({"RUNNABLE_RUN_ID": "r1", "RUNNABLE_TAGS": "a, b", "RUNNABLE_RUN_ID_X": "no",
                                         "RUNNABLE_CONFIGURATION_FILE": ""})
    assert settings == environment.JobSettings(configuration_file=None, parameters_file=None, run_id="r1",
                                               tags=("a", " b"))
    assert environment.flag("RUNNABLE_REHASH", {"RUNNABLE_REHASH": "0"}) is False
    assert environment.flag("RUNNABLE_REHASH", {"RUNNABLE_REHASH": "yes"}) is True


def test_execute_job_options_reach_the_run_but_not_the_jobs_environment(workdir: Path) -> None:
    (workdir / "job.py").write_text(SEES_ENVIRONMENT)
    (workdir / "c.yaml").write_text("run-log-store: {type: file-system, config: {log_folder: runs}}\n")
    (workdir / "p.yaml").write_text("unused: 1\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", "--run-id", "given-1",
                   "--parameters", "p.yaml", "--tag", "t1")
    assert done.returncode == 0, done.stderr
    record = json.loads((workdir / "runs/given-1.json").read_text())
    assert record["tags"] == ["t1"]
    # Only what the runner sets for the job's own code: the options stayed arguments of this process.
    assert json.loads((workdir / "seen.json").read_text()) == ["RUNNABLE_METRICS_FILE", "RUNNABLE_SECRET_NAMES"]


def test_a_job_the_script_executes_in_a_thread_gets_the_options_too(workdir: Path) -> None:
    (workdir / "job.py").write_text(textwrap.dedent(
        """
        import threading
        from runnable import ShellJob

        worker = threading.Thread(target=ShellJob(command="true").execute)
        worker.start()
        worker.join()
        """
    ))
    (workdir / "c.yaml").write_text("run-log-store: {type: file-system, config: {log_folder: runs}}\n")
    done = run_cli(workdir, "execute-job", "job.py", "--config", "c.yaml", "--run-id", "threaded-1")
    assert done.returncode == 0, done.stderr
    assert json.loads((workdir / "runs/threaded-1.json").read_text())["status"] == "SUCCESS"
