"""gc through S3 with a mistyped run-log prefix: the runs' content stays (run folders only point at it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

from .conftest import S3Server, subprocess_env
from .test_s3_end_to_end import JOB, all_objects, cli, run_job, write_config


@pytest.fixture
def project(tmp_path: Path, s3_server: S3Server, bucket: str) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "job.py").write_text(JOB)
    write_config(folder, s3_server, bucket, run_files="pointer")
    return folder


def test_gc_with_a_mistyped_run_log_prefix_deletes_nothing(project: Path, s3_server: S3Server, bucket: str) -> None:
    run_job(project, s3_server)
    before = all_objects(s3_server, bucket)
    typo = project / "typo.yaml"
    typo.write_text((project / "s3.yaml").read_text().replace("prefix: team/runs", "prefix: team/run"))
    done = run_cli(project, "gc", "--yes", "--config", str(typo), env=subprocess_env(s3_server))
    assert done.returncode == 2, done.stdout
    assert f"the run-log store s3://{bucket}/team/run holds no run record" in done.stderr
    assert all_objects(s3_server, bucket) == before
    verify = cli(project, s3_server, "catalog", "verify", "--all")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_gc_with_the_run_log_prefix_of_another_project_deletes_nothing(
    project: Path, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    run_job(project, s3_server)
    other = tmp_path / "other"
    other.mkdir()
    (other / "job.py").write_text(JOB.replace('"hello\\\\n"', '"other\\\\n"'))
    (other / "s3.yaml").write_text((project / "s3.yaml").read_text().replace("team/", "other/"))
    run_job(other, s3_server)  # another project's runs, in its own catalog and run-log prefix
    before = all_objects(s3_server, bucket)
    mixed = project / "mixed.yaml"
    mixed.write_text((project / "s3.yaml").read_text().replace("prefix: team/runs", "prefix: other/runs"))
    done = run_cli(project, "gc", "--yes", "--keep-last", "0", "--config", str(mixed), env=subprocess_env(s3_server))
    assert done.returncode == 2, done.stdout
    assert "they were stored in another catalog" in done.stderr
    assert all_objects(s3_server, bucket) == before
