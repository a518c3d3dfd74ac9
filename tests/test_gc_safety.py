"""gc with a run-log store that names no run: the catalog's content is never taken for garbage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.history_helpers import copy_project, make_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("gc-safety") / "project")


@pytest.fixture
def own(project: Path, tmp_path: Path) -> Path:
    return copy_project(project, tmp_path / "own")


def objects(folder: Path) -> dict[str, bytes]:
    root = folder / ".catalog" / ".objects"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def mistyped_config(folder: Path) -> Path:
    config = folder / "typo.yaml"
    config.write_text("run-log-store:\n  type: file-system\n  config:\n    log_folder: .run_logs_store\n")
    return config


@pytest.mark.parametrize("dry_run", [True, False])
def test_gc_refuses_a_run_log_store_that_does_not_exist(own: Path, dry_run: bool) -> None:
    before = objects(own)
    done = run_cli(own, "gc", "--config", str(mistyped_config(own)), "--yes", *(["--dry-run"] if dry_run else []))
    assert done.returncode == 2, done.stdout
    assert "the run-log store .run_logs_store holds no run record" in done.stderr
    assert "fix its location in the configuration" in done.stderr
    assert "would delete object" not in done.stdout and "deleted object" not in done.stdout
    assert objects(own) == before and len(before) > 0
    assert not (own / ".run_logs_store").exists()  # nothing created either


def test_gc_refuses_an_empty_run_log_store_beside_a_full_catalog(own: Path) -> None:
    before = objects(own)
    (own / ".run_log_store").rename(own / "records-elsewhere")
    (own / ".run_log_store").mkdir()
    done = run_cli(own, "gc", "--yes")
    assert done.returncode == 2 and "holds no run record" in done.stderr
    assert objects(own) == before


def test_gc_in_a_project_without_any_run_does_nothing_and_succeeds(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "gc", "--yes")
    assert done.returncode == 0, done.stderr
    assert "0 run(s), 0 object(s)" in done.stdout


def test_gc_still_collects_content_of_a_record_removed_by_hand(own: Path) -> None:
    records = sorted((own / ".run_log_store").glob("*.json"))
    assert len(records) > 1
    before = objects(own)
    records[0].unlink()  # one run removed by hand; the others still name what they keep
    done = run_cli(own, "gc", "--yes")
    assert done.returncode == 0, done.stderr
    assert set(objects(own)) < set(before)
