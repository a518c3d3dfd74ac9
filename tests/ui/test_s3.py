"""The run browser over an S3 catalog and run-log store (the real local S3 server): the same pages,
previews and downloads, read through the same history API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.contract.conftest import S3Server, aws_env, bucket, s3_server, subprocess_env  # noqa: F401
from tests.backends.contract.test_s3_end_to_end import write_config
from tests.conftest import run_cli
from tests.ui.helpers import Project, Server, make_project
from tests.ui.http import get


@pytest.fixture
def s3_project(tmp_path: Path, s3_server: S3Server, bucket: str) -> Project:  # noqa: F811
    folder = tmp_path / "project"
    folder.mkdir()
    write_config(folder, s3_server, bucket)
    return make_project(folder, env=subprocess_env(s3_server), config="s3.yaml")


@pytest.fixture
def s3_ui(s3_project: Project, s3_server: S3Server) -> Iterator[Server]:  # noqa: F811
    served = Server(s3_project.folder, "--config", "s3.yaml", env=subprocess_env(s3_server))
    yield served
    served.stop()


def test_browse_runs_stored_in_s3(s3_ui: Server, s3_project: Project, s3_server: S3Server) -> None:  # noqa: F811
    assert "s3://" in s3_ui.first_line
    table = get(s3_ui.url, "/").text
    assert re.findall(r'<tr data-run="([^"]+)"', table) == ["ui-fail-0003", "ui-train-0002", "ui-train-0001"]
    assert not (s3_project.folder / ".catalog").exists()  # everything is in the bucket
    run = get(s3_ui.url, "/runs/ui-train-0002").text
    assert '<img class="preview-image" src="/runs/ui-train-0002/files/plots/loss.png"' in run
    assert "learning rate 0.01" in run and run.count("<polyline") == 2
    # the last run's files are still in the working folder: the download is those bytes
    download = get(s3_ui.url, "/runs/ui-fail-0003/files/table.csv?download=1")
    assert download.status == 200 and download.body == (s3_project.folder / "table.csv").read_bytes()
    image = get(s3_ui.url, "/runs/ui-fail-0003/files/plots/loss.png")
    assert image.headers["content-type"] == "image/png"
    assert image.body == (s3_project.folder / "plots" / "loss.png").read_bytes()
    compare = get(s3_ui.url, "/compare?run=ui-train-0001&run=ui-train-0002").text
    assert compare.count('src="/runs/ui-train-000') == 2
    for path in ("/runs/ui-train-0001/files/..%2Fui-train-0002%2Ftable.csv", "/runs/ui-train-0001/files/../x",
                 "/runs/ui-train-0001/files/team/runs/ui-train-0001.json"):
        assert get(s3_ui.url, path).status == 404, path
    report = s3_project.folder / "r.html"
    result = run_cli(s3_project.folder, "report", "ui-train-0001", "--config", "s3.yaml", "-o", str(report),
                     env=subprocess_env(s3_server))
    assert result.returncode == 0, result.stderr
    assert 'src="data:image/png;base64,' in report.read_text()


def bucket_state(s3_server: S3Server, bucket: str) -> dict[str, str]:  # noqa: F811
    """Every object in the bucket with its ETag: what a writer would change."""
    client = s3_server.client()
    found: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({item["Key"]: item["ETag"] for item in page.get("Contents", [])})
    return found


def test_lineage_over_s3_and_browsing_writes_nothing(tmp_path: Path, s3_server: S3Server,  # noqa: F811
                                                      bucket: str) -> None:  # noqa: F811
    from tests.conftest import run_python
    from tests.lineage_helpers import write_chain

    folder = tmp_path / "project"
    folder.mkdir()
    write_config(folder, s3_server, bucket)
    write_chain(folder)
    env = {**subprocess_env(s3_server), "RUNNABLE_CONFIGURATION_FILE": "s3.yaml"}
    ids = []
    for name in ("prepare", "train", "evaluate"):
        done = run_python(folder / "chain.py", folder, name, env=env)
        assert done.returncode == 0, done.stderr
        ids.append(json.loads(done.stdout[done.stdout.index("{"):])["run_id"])
    prepare, train, evaluate = ids
    client = s3_server.client()
    caches = [key for key in bucket_state(s3_server, bucket) if key.rsplit("/", 1)[-1].startswith(".")]
    for key in caches:  # the listing and content caches: a writing reader would put them back
        client.delete_object(Bucket=bucket, Key=key)
    before = bucket_state(s3_server, bucket)
    served = Server(folder, "--config", "s3.yaml", env=subprocess_env(s3_server))
    try:
        assert set(re.findall(r'<tr data-run="([^"]+)"', get(served.url, "/").text)) == set(ids)
        lineage = get(served.url, f"/runs/{evaluate}/lineage").text
        assert f"href='/runs/{prepare}/lineage'" in lineage.replace('"', "'")
        assert f"href='/runs/{train}/lineage'" in lineage.replace('"', "'")
        upstream_of_train = get(served.url, f"/runs/{prepare}/lineage").text
        assert f"/runs/{train}" in upstream_of_train and f"/runs/{evaluate}" in upstream_of_train
        assert get(served.url, f"/runs/{train}").status == 200
    finally:
        served.stop()
    assert bucket_state(s3_server, bucket) == before
    assert caches, "no cache object found to delete: the test would not show a write"
