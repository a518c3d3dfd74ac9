"""Metrics, pickled returns and ``runs compare`` on the S3 run-log store and catalog (real moto server)."""

from __future__ import annotations

import json
from pathlib import Path

import runnable
from runnable.backends.s3.catalog import S3Storage
from runnable.backends.s3.runlog import S3RunLogStore
from runnable.history.comparison import compare_summaries, select
from runnable.history.runs import History
from runnable.record import RunRecord
from tests.conftest import run_cli, run_python

from .conftest import FlakyProxy, S3Server, subprocess_env
from .test_s3_end_to_end import write_config

GRID = '''
import os, runnable
from runnable import PythonJob, metric, pickled

def train(lr: float = 0.1):
    for step in range(3):
        runnable.log_metric("loss", lr * (3 - step))
    return 1 - lr, {"weights": [lr, lr * 2]}

for i, lr in enumerate([0.1, 0.2, 0.3]):
    os.environ["RUNNABLE_PRM_lr"] = str(lr)
    PythonJob(function=train, returns=[metric("accuracy"), pickled("model")], name="train").execute(
        configuration_file="s3.yaml", job_id=f"train-{i}")
'''


def test_metrics_objects_and_compare_through_s3(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    write_config(folder, s3_server, bucket)
    done = run_python(GRID, folder, env=subprocess_env(s3_server))
    assert done.returncode == 0, done.stderr
    compare = run_cli(folder, "runs", "compare", "--job", "train", "--sort", "-metrics.accuracy", "--json",
                      "--config", "s3.yaml", env=subprocess_env(s3_server))
    assert compare.returncode == 0, compare.stderr
    rows = json.loads(compare.stdout)
    assert [r["run_id"] for r in rows] == ["train-0", "train-1", "train-2"]
    assert [r["metrics.accuracy"] for r in rows] == [0.9, 0.8, 0.7]
    assert rows[0]["metrics.loss"] == 0.1 and rows[0]["params.lr"] == 0.1
    run = runnable.get_run("train-1", config=str(folder / "s3.yaml"))
    assert run.metrics["loss"] == [[0, 0.6000000000000001], [1, 0.4], [2, 0.2]]
    assert run.load("model") == {"weights": [0.2, 0.4]}
    assert run.record.objects["model"].location is not None
    assert run.record.objects["model"].location.startswith(f"s3://{bucket}/team/catalog/train-1/")


def test_compare_over_s3_takes_a_few_requests(counting_proxy: FlakyProxy, s3_server: S3Server, bucket: str) -> None:
    store = S3RunLogStore(bucket, "team/runs", endpoint_url=counting_proxy.endpoint, region="us-east-1")
    direct = S3RunLogStore(bucket, "team/runs", endpoint_url=s3_server.endpoint, region="us-east-1")
    for i in range(300):
        direct.put(RunRecord(run_id=f"run-{i:04d}", status="SUCCESS", job={"name": "train" if i % 2 else "other"},
                             start=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}.000+00:00",
                             parameters={"lr": i / 1000, "layers": 2}, metrics={"accuracy": [[0, i / 300]]}))
    history = History(S3Storage(bucket, "team/catalog", endpoint_url=s3_server.endpoint, region="us-east-1"), store)
    first = compare_summaries(select(history, job="train"), sort="-metrics.accuracy")  # builds the index
    counting_proxy.seen.clear()
    again = compare_summaries(select(history, job="train"), sort="-metrics.accuracy")
    assert again.rows == first.rows and len(again.rows) == 150
    assert again.rows[0] == {"run_id": "run-0299", "params.lr": 0.299, "metrics.accuracy": 299 / 300}
    requests = [(method, path) for method, path, _range, _size in counting_proxy.seen]
    # one listing (300 keys fit one page of 1,000) and one read of the index: no record is read
    assert len(requests) <= 3, requests
    assert not any(path.endswith(".json") and "/run-" in path for _method, path in requests)
