"""Real jobs in real subprocesses with an S3 configuration file, against the session's moto server:
storing, listing, showing, restoring, verifying, comparing and collecting runs through S3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, run_python

from .conftest import SECRET_KEY, S3Server, subprocess_env

JOB = '''
import os, sys
from pathlib import Path
from runnable import Catalog, PythonJob

def make_data(rows: int = 3):
    Path("data_folder").mkdir(exist_ok=True)
    Path("df.csv").write_text("a,b\\n" + "".join(f"{i},{i * i}\\n" for i in range(rows)))
    Path("data_folder/data.txt").write_text("hello\\n")
    print("wrote", rows, "rows")
    print("my key is", os.environ.get("AWS_SECRET_ACCESS_KEY"), file=sys.stderr)  # a careless job
    return rows

if __name__ == "__main__":
    store_copy = os.environ.get("STORE_COPY", "1") == "1"
    job = PythonJob(function=make_data, returns=["rows"], secrets=["AWS_SECRET_ACCESS_KEY"],
                    catalog=Catalog(put=["df.csv", "data_folder/"], store_copy=store_copy))
    job.execute(configuration_file="s3.yaml")
'''


def write_config(folder: Path, server: S3Server, bucket: str, run_files: str = "copy") -> Path:
    config = folder / "s3.yaml"
    config.write_text(
        "catalog:\n"
        "  type: s3\n"
        f"  config: {{bucket: {bucket}, prefix: team/catalog, endpoint_url: '{server.endpoint}', "
        f"region: us-east-1, run_files: {run_files}}}\n"
        "run-log-store:\n"
        "  type: s3\n"
        f"  config: {{bucket: {bucket}, prefix: team/runs, endpoint_url: '{server.endpoint}', region: us-east-1}}\n"
    )
    return config


@pytest.fixture
def project(tmp_path: Path, s3_server: S3Server, bucket: str) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "job.py").write_text(JOB)
    write_config(folder, s3_server, bucket)
    return folder


def run_job(folder: Path, server: S3Server, **env: str) -> dict[str, Any]:
    result = run_python(folder / "job.py", folder, env={**subprocess_env(server), **env})
    assert result.returncode == 0, result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr
    summary: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{"):])
    return summary


def cli(folder: Path, server: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(folder, *args, "--config", "s3.yaml", env=subprocess_env(server))


def all_objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    client = server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_a_job_stores_lists_restores_and_verifies_through_s3(
    project: Path, s3_server: S3Server, bucket: str
) -> None:
    first = run_job(project, s3_server)
    run = first["run_id"]
    assert first["status"] == "SUCCESS"
    assert first["Output catalog content"] == ["df.csv", "data_folder/data.txt"]
    assert first["catalog"] == f"s3://{bucket}/team/catalog/{run}"
    assert first["run_record"] == f"s3://{bucket}/team/runs/{run}.json"
    assert first["execution_log"] == f"s3://{bucket}/team/catalog/{run}/make_data.execution.log"

    stored = all_objects(s3_server, bucket)
    assert stored[f"team/catalog/{run}/df.csv"] == (project / "df.csv").read_bytes()
    assert stored[f"team/catalog/{run}/data_folder/data.txt"] == b"hello\n"
    log = first_log = stored[f"team/catalog/{run}/make_data.execution.log"]
    assert b"wrote 3 rows" in log and b"my key is *****" in log
    record = json.loads(stored[f"team/runs/{run}.json"])
    assert record["status"] == "SUCCESS" and record["catalog"]["type"] == "s3"
    for key, body in stored.items():  # credentials never reach the bucket
        assert SECRET_KEY.encode() not in body, key
    objects_after_first = {k for k in stored if "/.objects/" in k}

    second = run_job(project, s3_server)
    stored = all_objects(s3_server, bucket)
    new_objects = {k: stored[k] for k in stored if "/.objects/" in k and k not in objects_after_first}
    # Unchanged outputs add nothing; only the execution log may differ (stdout and stderr interleave).
    assert set(new_objects.values()) <= {stored[f"team/catalog/{second['run_id']}/make_data.execution.log"]}
    assert stored[f"team/catalog/{second['run_id']}/df.csv"] == (project / "df.csv").read_bytes()

    listing = cli(project, s3_server, "runs", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert sorted(r["run_id"] for r in json.loads(listing.stdout)) == sorted([run, second["run_id"]])

    show = cli(project, s3_server, "runs", "show", run)
    assert show.returncode == 0, show.stderr
    assert "df.csv" in show.stdout and f"s3://{bucket}/team/catalog/{run}" in show.stdout

    logs = cli(project, s3_server, "logs", run)
    assert logs.returncode == 0 and "wrote 3 rows" in logs.stdout

    restored = project / "restored"
    get = cli(project, s3_server, "catalog", "get", run, "--to", str(restored))
    assert get.returncode == 0, get.stderr
    assert (restored / "df.csv").read_bytes() == (project / "df.csv").read_bytes()
    assert (restored / "data_folder" / "data.txt").read_text() == "hello\n"

    verify = cli(project, s3_server, "catalog", "verify", "--all", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr

    diff = cli(project, s3_server, "runs", "diff", run, second["run_id"], "--json")
    assert diff.returncode == 0, diff.stderr

    gc = cli(project, s3_server, "gc", "--keep-last", "1")
    assert gc.returncode == 0, gc.stderr
    left = all_objects(s3_server, bucket)
    assert f"team/runs/{run}.json" not in left and not any(k.startswith(f"team/catalog/{run}/") for k in left)
    assert f"team/runs/{second['run_id']}.json" in left
    assert {k for k in left if "/.objects/" in k} >= objects_after_first - {  # still referenced by the kept run
        k for k in objects_after_first if stored[k] == first_log}


def test_verify_reports_corrupt_content_in_the_bucket(project: Path, s3_server: S3Server, bucket: str) -> None:
    run = run_job(project, s3_server)["run_id"]
    record = json.loads(all_objects(s3_server, bucket)[f"team/runs/{run}.json"])
    digest = next(f["hash"]["md5"] for f in record["files"] if f["path"] == "df.csv")
    s3_server.client().put_object(Bucket=bucket, Key=f"team/catalog/.objects/md5/{digest[:2]}/{digest[2:]}",
                                  Body=b"bit rot\n")
    verify = cli(project, s3_server, "catalog", "verify", run)
    assert verify.returncode == 1
    assert "CORRUPT" in verify.stdout


def test_hash_only_catalog_uploads_only_the_log(project: Path, s3_server: S3Server, bucket: str) -> None:
    summary = run_job(project, s3_server, STORE_COPY="0")
    run = summary["run_id"]
    keys = set(all_objects(s3_server, bucket))
    assert not any(k.endswith(("df.csv", "data.txt")) for k in keys)
    assert f"team/catalog/{run}/make_data.execution.log" in keys
    record = json.loads(all_objects(s3_server, bucket)[f"team/runs/{run}.json"])
    assert [(f["path"], f["stored"]) for f in record["files"]] == [("df.csv", False), ("data_folder/data.txt", False)]
    verify = cli(project, s3_server, "catalog", "verify", run, "--working-folder", str(project))
    assert verify.returncode == 0, verify.stdout


def test_pointer_mode_restores_through_pointers(project: Path, s3_server: S3Server, bucket: str) -> None:
    write_config(project, s3_server, bucket, run_files="pointer")
    run = run_job(project, s3_server)["run_id"]
    pointer = all_objects(s3_server, bucket)[f"team/catalog/{run}/df.csv"]
    assert b".objects/md5/" in pointer
    get = cli(project, s3_server, "catalog", "get", run, "--to", "out")
    assert get.returncode == 0, get.stderr
    assert (project / "out" / "df.csv").read_bytes() == (project / "df.csv").read_bytes()


def test_the_same_run_id_from_many_processes_is_reserved_once(project: Path, s3_server: S3Server) -> None:
    env = {**subprocess_env(s3_server), "RUNNABLE_RUN_ID": "contested-run-0001"}
    processes = [subprocess.Popen([sys.executable, "job.py"], cwd=project, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    winners = [o for o in outcomes if o[0] == 0]
    assert len(winners) == 1, outcomes
    for code, _out, err in outcomes:
        if code:
            assert "contested-run-0001" in err and "already used" in err


STREAM_SCRIPT = '''
import os, resource, sys
from pathlib import Path
from runnable.backends.s3.catalog import S3Storage

endpoint, bucket, source = sys.argv[1:4]
storage = S3Storage(bucket, "big", endpoint_url=endpoint)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
stored = storage.store("run-1", "big.bin", Path(source), "md5")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(stored.size, stored.digest, (after - before) // 1024)
'''


def test_a_large_file_streams_with_bounded_memory(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    import hashlib
    import random

    source = tmp_path / "big.bin"
    rng = random.Random(9)
    md5 = hashlib.md5()
    with open(source, "wb") as handle:
        for _ in range(24):  # 192 MiB in 8 MiB blocks
            block = rng.randbytes(8 * 1024 * 1024)
            md5.update(block)
            handle.write(block)
    result = run_python(STREAM_SCRIPT, tmp_path, s3_server.endpoint, bucket, str(source), env=subprocess_env(s3_server))
    assert result.returncode == 0, result.stderr
    size, digest, growth_mib = result.stdout.split()
    assert (int(size), digest) == (source.stat().st_size, md5.hexdigest())
    # Parts in flight (8 x 8 MiB) plus buffers: well below the 192 MiB file.
    assert int(growth_mib) < 128, f"peak memory grew by {growth_mib} MiB while storing 192 MiB"


def test_import_runnable_does_not_load_the_s3_client(tmp_path: Path) -> None:
    code = "import sys, runnable; print('obstore' in sys.modules, 'runnable.backends.s3.client' in sys.modules)"
    result = run_python(code, tmp_path)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_a_missing_s3_extra_names_the_extra_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['obstore'] = None\n"  # as if `pip install runnable` without [s3]
        "from runnable.config import loading as config\n"
        "try:\n"
        "    config.parse({'catalog': {'type': 's3', 'config': {'bucket': 'b'}}}).storage_service().build()\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = run_python(code, tmp_path)
    assert "MissingExtraError" in result.stdout and "pip install 'runnable[s3]'" in result.stdout, result


def test_unknown_s3_setting_is_refused_with_the_known_keys(tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    from runnable.config import loading as config
    from runnable.errors import ConfigurationError

    settings = {"bucket": bucket, "endpoint_url": s3_server.endpoint, "access_key": "oops"}
    with pytest.raises(ConfigurationError, match="unknown key 'access_key'.*endpoint_url") as caught:
        config.parse({"run-log-store": {"type": "s3", "config": settings}})["run-log-store"].build()
    assert "oops" not in str(caught.value)
