"""``runnable.log_metric`` in every job kind, after a crash, and outside a job; ``runs show`` lines."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import runnable
from runnable import JobFailedError, NotebookJob, PythonJob, ShellJob, UsageError, metric
from runnable.cli.runs import metric_line, sparkline
from tests.conftest import run_cli, run_python


def record_of(run_id: str) -> dict[str, Any]:
    return json.loads(Path(f".run_log_store/{run_id}.json").read_text())


def test_a_function_logs_a_history(workdir: Path) -> None:
    def train() -> float:
        for epoch in range(5):
            runnable.log_metric("loss", 1.0 / (epoch + 1))
        runnable.log_metric("lr", 0.1, step=10)
        return 0.9

    record = PythonJob(function=train, returns=[metric("accuracy")]).execute()
    assert record is not None
    metrics = record_of(record.run_id)["metrics"]
    assert metrics["loss"] == [[0, 1.0], [1, 0.5], [2, 1 / 3], [3, 0.25], [4, 0.2]]
    assert metrics["lr"] == [[10, 0.1]] and metrics["accuracy"] == [[0, 0.9]]


def test_a_failed_run_keeps_what_it_logged(workdir: Path) -> None:
    def crash() -> None:
        runnable.log_metric("loss", 0.7)
        runnable.log_metric("loss", 0.6)
        raise RuntimeError("diverged")

    with pytest.raises(JobFailedError) as caught:
        PythonJob(function=crash, name="crash").execute(job_id="crashed")
    assert caught.value.record is not None
    data = record_of("crashed")
    assert data["status"] == "FAIL" and data["metrics"] == {"loss": [[0, 0.7], [1, 0.6]]}


def test_outside_a_job_it_is_one_clear_error(workdir: Path) -> None:
    with pytest.raises(UsageError, match="outside a running job"):
        runnable.log_metric("loss", 0.3)
    PythonJob(function=lambda: runnable.log_metric("x", 1), name="inside").execute()
    with pytest.raises(UsageError, match="outside a running job"):  # the variable does not outlive the run
        runnable.log_metric("loss", 0.3)


@pytest.mark.parametrize(("value", "step"), [("high", None), (float("inf"), None), (True, None), (1.0, "3")])
def test_bad_values_are_refused_by_name(workdir: Path, value: Any, step: Any) -> None:
    def log() -> None:
        runnable.log_metric("loss", value, step=step)

    with pytest.raises(JobFailedError, match=r"log_metric\('loss'"):
        PythonJob(function=log, name="bad").execute()


def test_a_shell_job_logs_from_its_python_programs_and_from_the_shell(workdir: Path) -> None:
    Path("child.py").write_text("import runnable\nfor i in range(3):\n    runnable.log_metric('acc', i / 10)\n")
    command = (f"{sys.executable} child.py && echo 'rows 120' >> \"$RUNNABLE_METRICS_FILE\" && "
               "echo '{\"name\": \"rows\", \"value\": 130, \"step\": 5}' >> \"$RUNNABLE_METRICS_FILE\"")
    record = ShellJob(command=command).execute()
    assert record is not None
    metrics = record_of(record.run_id)["metrics"]
    assert metrics == {"acc": [[0, 0.0], [1, 0.1], [2, 0.2]], "rows": [[0, 120.0], [5, 130.0]]}


def test_a_killed_child_loses_at_most_the_last_second(workdir: Path) -> None:
    Path("child.py").write_text(textwrap.dedent("""
        import os, signal, time, runnable
        for i in range(50):
            runnable.log_metric("loss", i)
        time.sleep(2.5)  # the background thread writes them out within about a second
        runnable.log_metric("lost", 1)
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    with pytest.raises(JobFailedError):
        ShellJob(command=f"{sys.executable} child.py").execute(job_id="killed")
    metrics = record_of("killed")["metrics"]
    assert len(metrics["loss"]) == 50 and metrics["loss"][-1] == [49, 49.0]


def test_a_run_whose_own_process_is_killed_keeps_its_metrics(workdir: Path) -> None:
    script = textwrap.dedent("""
        import os, signal, time, runnable
        def train():
            for i in range(20):
                runnable.log_metric("loss", i / 2)
            time.sleep(2.5)
            os.kill(os.getpid(), signal.SIGKILL)
        runnable.PythonJob(function=train).execute(job_id="gone")
    """)
    done = run_python(script, workdir)
    assert done.returncode == -9, done.stderr
    assert record_of("gone")["status"] == "RUNNING"
    run = runnable.get_run("gone")  # the owner died: settled as FAIL, with what it logged
    assert run.status == "FAIL" and len(run.metrics["loss"]) == 20
    assert record_of("gone")["metrics"]["loss"][-1] == [19, 9.5]


def test_a_killed_run_leaves_no_secret_in_a_metric_name(workdir: Path) -> None:
    script = textwrap.dedent("""
        import os, signal, subprocess, sys, time, runnable
        def train():
            runnable.log_metric("tok_" + os.environ["API_TOKEN"], 1.0)
            subprocess.run([sys.executable, "-c", "import os, runnable; "
                            "runnable.log_metric('sub_' + os.environ['API_TOKEN'], 2.0)"], check=True)
            time.sleep(1.5)
            os.kill(os.getpid(), signal.SIGKILL)
        runnable.PythonJob(function=train, secrets=["API_TOKEN"]).execute(job_id="gone")
    """)
    done = run_python(script, workdir, env={"API_TOKEN": "s3cr3tvalue"})
    assert done.returncode == -9, done.stderr
    listing = run_cli(workdir, "runs", "list")  # settles the dead run: its scratch metrics are merged
    assert listing.returncode == 0, listing.stderr
    assert "s3cr3tvalue" not in Path(".run_log_store/gone.json").read_text() + listing.stdout
    assert record_of("gone")["metrics"] == {"tok_*****": [[0, 1.0]], "sub_*****": [[0, 2.0]]}


def test_a_notebook_logs_metrics(workdir: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("papermill")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import runnable\nfor i in range(4):\n    runnable.log_metric('f1', i * 0.25)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, "nb.ipynb")
    record = NotebookJob(notebook="nb.ipynb").execute()
    assert record is not None
    assert record_of(record.run_id)["metrics"] == {"f1": [[0, 0.0], [1, 0.25], [2, 0.5], [3, 0.75]]}


def test_runs_show_prints_one_line_per_history(workdir: Path) -> None:
    def train() -> None:
        for loss in (0.9, 0.5, 0.3, 0.4):
            runnable.log_metric("loss", loss)

    record = PythonJob(function=train).execute()
    assert record is not None
    done = run_cli(workdir, "runs", "show", record.run_id)
    assert done.returncode == 0, done.stderr
    assert "loss  last 0.4  min 0.3  max 0.9  (4 steps)" in done.stdout
    assert sparkline([0.9, 0.5, 0.3, 0.4]) == "█▃▁▂"
    assert metric_line([[0, 1.0], [1, 2.0]], terminal=True).endswith("▁█")
    assert len(sparkline([float(i) for i in range(1000)])) == 24


def test_a_call_costs_microseconds_not_a_disk_write(workdir: Path) -> None:
    # benchmarks/metrics_bench.py measures ~6 us a call; 50 us is the promise, checked loosely here
    # (a shared machine) over 20,000 calls, which also cross at least one flush.
    import time

    timing: list[float] = []

    def loop() -> None:
        begin = time.perf_counter()
        for i in range(20_000):
            runnable.log_metric("loss", i * 0.5)
        timing.append(time.perf_counter() - begin)

    record = PythonJob(function=loop, name="loop").execute()
    assert record is not None and len(record.metrics["loss"]) == 20_000
    assert timing[0] / 20_000 < 50e-6


def test_a_secret_in_a_metric_name_is_masked_in_the_record(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("API_TOKEN", "s3cr3t-t0ken-value")

    def leak() -> int:
        runnable.log_metric(f"calls-{os.environ['API_TOKEN']}", 1)
        return 3

    record = PythonJob(function=leak, returns=[metric(f"n-{'s3cr3t-t0ken-value'}")], secrets=["API_TOKEN"],
                       name="leak").execute()
    assert record is not None
    text = Path(f".run_log_store/{record.run_id}.json").read_text()
    assert "s3cr3t-t0ken-value" not in text and "calls-*****" in text and "n-*****" in text


def test_a_forked_child_logs_its_own_points_once(workdir: Path) -> None:
    def train() -> None:
        import multiprocessing

        runnable.log_metric("parent", 1)  # still in the buffer when the child is forked
        child = multiprocessing.get_context("fork").Process(target=runnable.log_metric, args=("child", 2))
        child.start()
        child.join()
        assert child.exitcode == 0

    record = PythonJob(function=train).execute()
    assert record is not None
    # The parent's pending point is written once, by the parent; the child's when the child exits.
    assert record.metrics == {"parent": [[0, 1.0]], "child": [[0, 2.0]]}


def test_a_deeply_nested_json_line_is_skipped_and_the_good_lines_kept(workdir: Path) -> None:
    deep = "{" + '"a":{' * 100_000 + "}" * 100_001
    Path("deep.txt").write_text(deep + "\n")
    script = textwrap.dedent("""
        from runnable import ShellJob
        cmd = 'echo "loss 0.5 0" >> "$RUNNABLE_METRICS_FILE"; cat deep.txt >> "$RUNNABLE_METRICS_FILE"; ' \\
              'echo "loss 0.25 1" >> "$RUNNABLE_METRICS_FILE"'
        ShellJob(command=cmd).execute(job_id="deep")
    """)
    done = run_python(script, workdir)
    assert done.returncode == 0, done.stderr
    assert record_of("deep")["status"] == "SUCCESS"
    assert record_of("deep")["metrics"] == {"loss": [[0, 0.5], [1, 0.25]]}
    assert "Traceback" not in done.stderr and done.stderr.count("1 line(s) of the metrics file") == 1
