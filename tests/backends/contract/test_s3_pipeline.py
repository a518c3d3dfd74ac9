"""A pipeline with its catalog and run-log store in the real local S3 server (moto): files between
steps, Map branches in processes, a failure, retry, and the history commands, all through S3."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, run_python

from .conftest import SECRET_KEY, S3Server, subprocess_env
from .test_s3_end_to_end import write_config

PIPELINE = '''
import os
from pathlib import Path
from runnable import Catalog, Map, Pipeline, PythonTask, pickled

def prepare():
    Path("data").mkdir(exist_ok=True)
    Path("data/rows.txt").write_text("1\\n2\\n3\\n")
    return [1, 2, 3], {"model": "m"}

def square(n):
    Path(f"sq-{n}.txt").write_text(str(n * n))
    Path(f"pid-{n}").write_text(str(os.getpid()))
    return n * n

def finish(squares, model):
    if not Path("go").exists():
        raise RuntimeError("not yet")
    print("finished", squares, model, Path("data/rows.txt").read_text().split())

if __name__ == "__main__":
    Pipeline(steps=[
        PythonTask(name="prepare", function=prepare, returns=["numbers", pickled("model")],
                   catalog=Catalog(put=["data/rows.txt"])),
        Map(name="each", iterate_on="numbers", iterate_as="n",
            branch=PythonTask(name="sq", function=square, returns=["squares"],
                              catalog=Catalog(put=["sq-*.txt"])).as_pipeline()),
        PythonTask(name="finish", function=finish, catalog=Catalog(get=["data/rows.txt"]),
                   secrets=["AWS_SECRET_ACCESS_KEY"]),
    ]).execute(configuration_file="s3.yaml")
'''


def test_a_pipeline_through_s3_fails_then_retries(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    write_config(tmp_path, s3_server, bucket)
    (tmp_path / "pipe.py").write_text(PIPELINE)
    env = subprocess_env(s3_server)
    first = run_python(tmp_path / "pipe.py", tmp_path, env=env)
    assert first.returncode == 1
    assert "run one after another" not in first.stderr  # each branch in a fresh interpreter, concurrently
    summary = json.loads(first.stdout[first.stdout.index("{\n"):])
    run_id = summary["run_id"]
    assert not (tmp_path / ".run_log_store").exists() and not (tmp_path / ".catalog").exists()
    pids = {(tmp_path / f"pid-{n}").read_text() for n in (1, 2, 3)}
    assert len(pids) == 3  # three processes, none of them the pipeline's
    shown = run_cli(tmp_path, "runs", "show", run_id, "--config", "s3.yaml", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "FAIL     finish  (python)" in shown.stdout and "SUCCESS  each  (map)" in shown.stdout
    (tmp_path / "go").write_text("")
    (tmp_path / "data" / "rows.txt").unlink()  # the retry brings it from the original run in S3
    again = run_cli(tmp_path, "retry", run_id, "pipe.py", "--config", "s3.yaml", env=env)
    assert again.returncode == 0, again.stderr
    assert "finished [1, 4, 9] {'model': 'm'} ['1', '2', '3']" in again.stdout
    retried = json.loads(again.stdout[again.stdout.index("{\n"):])
    record = json.loads(s3_server.client().get_object(
        Bucket=bucket, Key=f"team/runs/{retried['run_id']}.json")["Body"].read())
    assert record["job"]["retry_of"] == run_id and record["status"] == "SUCCESS"
    assert {"data/rows.txt", "sq-1.txt", "sq-2.txt", "sq-3.txt"} <= {f["path"] for f in record["files"]}
    assert run_cli(tmp_path, "catalog", "verify", retried["run_id"], "--config", "s3.yaml", env=env).returncode == 0
    for text in (first.stdout, first.stderr, again.stdout, again.stderr, json.dumps(record)):
        assert SECRET_KEY not in text


BRANCH_REPUT = '''
from pathlib import Path
from runnable import Catalog, Parallel, Pipeline, PythonTask, Stub

def v1():
    Path("data.txt").write_text("v1\\n")

def v2():
    Path("data.txt").write_text(Path("data.txt").read_text() + "v2\\n")

def use():
    text = Path("data.txt").read_text()
    assert text == "v1\\nv2\\n", f"use got {text!r}, not the branch's v2"

if __name__ == "__main__":
    Pipeline(steps=[
        PythonTask(name="make", function=v1, catalog=Catalog(put=["data.txt"])),
        Parallel(name="fan", branches={
            "a": PythonTask(name="upd", function=v2, catalog=Catalog(get=["data.txt"], put=["data.txt"])).as_pipeline(),
            "b": Stub(name="s").as_pipeline()}),
        PythonTask(name="clean", function=lambda: Path("data.txt").unlink()),
        PythonTask(name="use", function=use, catalog=Catalog(get=["data.txt"])),
    ]).execute(configuration_file="s3.yaml")
'''


def test_a_later_get_brings_the_version_a_spawned_branch_put_again(tmp_path: Path, s3_server: S3Server,
                                                                   bucket: str) -> None:
    write_config(tmp_path, s3_server, bucket)
    (tmp_path / "pipe.py").write_text(BRANCH_REPUT)
    result = run_python(tmp_path / "pipe.py", tmp_path, env=subprocess_env(s3_server))
    assert result.returncode == 0, result.stderr
    assert "run one after another" not in result.stderr  # the branches ran in fresh interpreters
