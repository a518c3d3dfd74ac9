"""The history commands when the stores are not there: a missing bucket, a stopped S3 server, a local
catalog or run-log store that is a file or absent. Each is one line on stderr, a non-zero exit, no
traceback, and nothing changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends.contract import conftest as s3_fixtures
from tests.backends.contract.conftest import S3Server, _free_port, subprocess_env
from tests.conftest import run_cli

# The S3 server and buckets of the contract tests (their conftest does not reach this folder).
s3_server, aws_env, bucket = s3_fixtures.s3_server, s3_fixtures.aws_env, s3_fixtures.bucket

# Every history command, as run on a project with runs alpha-run-0001 ... delta-run-0004.
COMMANDS = [
    ["runs", "list"],
    ["runs", "show", "alpha-run-0001"],
    ["runs", "diff", "alpha-run-0001", "beta-run-0002"],
    ["logs", "alpha-run-0001"],
    ["catalog", "get", "alpha-run-0001", "--to", "restored"],
    ["catalog", "verify", "--all"],
    ["catalog", "verify", "alpha-run-0001"],
    ["gc", "--dry-run"],
    ["gc", "--older-than", "0d", "--yes"],
]
# Those that read stored files (the others only read records).
READS_THE_CATALOG = [c for c in COMMANDS if c[0] in ("logs", "catalog")]


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single error line a failed command printed; fails the test on a traceback or success."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


# -- S3: a bucket that does not exist, a server that does not answer -----------------------------
def s3_config(folder: Path, endpoint: str, catalog_bucket: str, runs_bucket: str, retries: int = 10) -> None:
    (folder / "s3.yaml").write_text(
        f"catalog: {{type: s3, config: {{bucket: {catalog_bucket}, prefix: team/catalog, endpoint_url: '{endpoint}', "
        f"max_retries: {retries}}}}}\n"
        f"run-log-store: {{type: s3, config: {{bucket: {runs_bucket}, prefix: team/runs, endpoint_url: '{endpoint}', "
        f"max_retries: {retries}}}}}\n"
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_bucket_is_one_line_naming_it(tmp_path: Path, s3_server: S3Server, command: list[str]) -> None:
    s3_config(tmp_path, s3_server.endpoint, "nobucket", "nobucket")
    line = one_line_error(run_cli(tmp_path, *command, "--config", "s3.yaml", env=subprocess_env(s3_server)))
    assert f"the bucket 'nobucket' does not exist on {s3_server.endpoint}; create it" in line
    assert "s3://nobucket/team/" in line  # what was being read
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_server_that_does_not_answer_is_one_line_naming_it(tmp_path: Path, s3_server: S3Server,
                                                              command: list[str]) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"  # nothing listens there: connection refused
    s3_config(tmp_path, endpoint, "abucket", "abucket", retries=0)
    line = one_line_error(run_cli(tmp_path, *command, "--config", "s3.yaml", env=subprocess_env(s3_server)))
    assert f"cannot connect to {endpoint} (Connection refused)" in line
    assert "check the bucket, endpoint and AWS credentials" in line


def test_the_library_tells_a_missing_bucket_from_a_missing_run(s3_server: S3Server, bucket: str) -> None:
    """S3 answers 404 to both; a missing bucket must not read as 'no run' (nor a missing file)."""
    from runnable.backends.s3.catalog import S3Storage
    from runnable.backends.s3.runlog import S3RunLogStore
    from runnable.errors import CatalogError, RunNotFoundError

    with pytest.raises(RunNotFoundError):
        S3RunLogStore(bucket, "runs", endpoint_url=s3_server.endpoint).get("some-run-0001")
    missing = S3RunLogStore("nobucket", "runs", endpoint_url=s3_server.endpoint)
    for call in (lambda: missing.get("some-run-0001"), lambda: list(missing.iter_ids()), missing.read_index):
        with pytest.raises(CatalogError, match="the bucket 'nobucket' does not exist") as caught:
            call()
        assert not isinstance(caught.value, (RunNotFoundError, FileNotFoundError))
    storage = S3Storage("nobucket", "cat", endpoint_url=s3_server.endpoint)
    with pytest.raises(CatalogError, match="the bucket 'nobucket' does not exist"):
        storage.open_object("md5", "0" * 32)
    with pytest.raises(CatalogError, match="the bucket 'nobucket' does not exist"):
        list(storage.iter_objects())


JOB = """
from pathlib import Path
from runnable import Catalog, ShellJob
ShellJob(command="echo hello > a.txt", catalog=Catalog(put=["a.txt"])).execute()
"""


def test_a_missing_catalog_bucket_is_named_when_its_files_are_read(tmp_path: Path, s3_server: S3Server,
                                                                    bucket: str) -> None:
    (tmp_path / "job.py").write_text(JOB)
    s3_config(tmp_path, s3_server.endpoint, bucket, bucket)
    env = subprocess_env(s3_server)
    made = run_cli(tmp_path, "execute-job", "job.py", "--config", "s3.yaml", "--run-id", "s3-run-0001", env=env)
    assert made.returncode == 0, made.stderr
    s3_config(tmp_path, s3_server.endpoint, "nobucket", bucket)  # the records are there, the files are not
    assert run_cli(tmp_path, "runs", "show", "s3-run-0001", "--config", "s3.yaml", env=env).returncode == 0
    line = one_line_error(run_cli(tmp_path, "logs", "s3-run-0001", "--config", "s3.yaml", env=env))
    assert "could not read s3://nobucket/team/catalog/" in line
    assert "the bucket 'nobucket' does not exist" in line
    verified = run_cli(tmp_path, "catalog", "verify", "s3-run-0001", "--config", "s3.yaml", env=env)
    assert verified.returncode == 1 and "Traceback" not in verified.stderr
    assert "the bucket 'nobucket' does not exist" in verified.stdout


# -- local folders: a file where a folder should be, or nothing at all ---------------------------
@pytest.mark.parametrize("folder,what", [(".run_log_store", "run-log store"), (".catalog", "catalog")])
def test_a_store_that_is_a_file_is_one_line_and_nothing_changes(own: Path, folder: str, what: str) -> None:
    (own / folder).rename(own / "moved")
    (own / folder).write_text("hi\n")
    before = snapshot(own)
    for command in COMMANDS:
        line = one_line_error(run_cli(own, *command))
        assert line == (f"Error: the {what} {folder} (the default) is a file, not a folder; "
                        f"move it away or point --config at the right {what}"), command
    assert snapshot(own) == before


def test_a_store_below_a_file_is_named_with_that_file(own: Path) -> None:
    (own / "conf.yaml").write_text("run-log-store: {type: file-system, config: {log_folder: job.py/runs}}\n")
    line = one_line_error(run_cli(own, "runs", "list", "--config", "conf.yaml"))
    assert line.startswith("Error: the run-log store job.py/runs (configured in conf.yaml) is inside ")
    assert line.endswith("job.py, which is a file, not a folder; move it away or point --config at the right "
                         "run-log store")


def test_a_missing_catalog_is_one_line_where_stored_files_are_read(own: Path) -> None:
    shutil.rmtree(own / ".catalog")
    before = snapshot(own)
    for command in READS_THE_CATALOG:
        line = one_line_error(run_cli(own, *command))
        assert line.startswith("Error: no catalog at .catalog (the default); "), command
    assert snapshot(own) == before
    listed = run_cli(own, "runs", "list")  # the records alone are still there to read
    assert listed.returncode == 0 and "alpha-run-0001" in listed.stdout


def test_a_missing_catalog_names_the_configuration(own: Path) -> None:
    (own / "conf.yaml").write_text("catalog: {type: file-system, config: {catalog_location: elsewhere}}\n")
    line = one_line_error(run_cli(own, "catalog", "verify", "--all", "--config", "conf.yaml"))
    assert line.startswith("Error: no catalog at elsewhere (configured in conf.yaml); ")
    assert not (own / "elsewhere").exists()


def test_an_empty_folder_is_not_an_error(tmp_path: Path) -> None:
    """No runs yet: nothing is missing, so the checks above must stay quiet."""
    assert "no runs" in run_cli(tmp_path, "runs", "list").stdout
    verified = run_cli(tmp_path, "catalog", "verify", "--all")
    assert verified.returncode == 0 and "0 run(s)" in verified.stdout, verified.stderr
    assert run_cli(tmp_path, "gc", "--yes").returncode == 0


def test_a_job_whose_bucket_is_missing_fails_with_the_one_line_reason_only(tmp_path: Path, s3_server: S3Server) -> None:
    """Run as a plain script: the error names the bucket, without S3's response dump chained to it
    and without advice for a full local disk."""
    s3_config(tmp_path, s3_server.endpoint, "nobucket", "nobucket")
    (tmp_path / "job.py").write_text("from runnable import PythonJob\nPythonJob(function=print).execute('s3.yaml')\n")
    done = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, env=subprocess_env(s3_server),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert f"the bucket 'nobucket' does not exist on {s3_server.endpoint}; create it" in done.stderr
    assert "free space" not in done.stderr
    assert "<Error>" not in done.stderr and "The above exception" not in done.stderr  # no chained dump
    assert done.stderr.count("Traceback") == 1  # the script's own line, then the one-line reason
