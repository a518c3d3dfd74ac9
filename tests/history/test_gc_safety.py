"""gc with a run-log store that names no run: the catalog's content is never taken for garbage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runnable.backends.local.catalog import FileSystemStorage
from runnable.backends.runlog import FileSystemRunLogStore
from runnable.history import gc
from runnable.history.runs import History
from tests.conftest import run_cli
from tests.history_helpers import copy_project


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


class _RunStartsWhileDeleting(FileSystemStorage):
    """The real catalog; the first object it deletes is the moment another process reserves a run."""

    def __init__(self, root: Path, records: Path) -> None:
        super().__init__(root)
        self.records = records
        self.deleted = 0

    def delete_object(self, algorithm: str, digest: str) -> int:
        size = super().delete_object(algorithm, digest)
        self.deleted += 1
        if self.deleted == 1:
            data = json.loads((self.records / "delta-run-0004.json").read_text())
            data.update(run_id="zeta-run-0009", status="RUNNING", end=None)
            (self.records / "zeta-run-0009.json").write_text(json.dumps(data))
        return size


def test_gc_stops_deleting_content_once_a_run_starts(own: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for run_id in ("alpha-run-0001", "beta-run-0002"):  # removed by hand: their content is garbage
        (own / ".run_log_store" / f"{run_id}.json").unlink()
    monkeypatch.setattr(gc, "RECHECK_SECONDS", 0.0)
    storage = _RunStartsWhileDeleting(own / ".catalog", own / ".run_log_store")
    history = History(storage, FileSystemRunLogStore(own / ".run_log_store"))
    garbage = len(gc.collect(history, gc.Policy(), dry_run=True).objects)
    assert garbage >= 2
    report = gc.collect(history, gc.Policy())
    assert storage.deleted == 1 and len(report.objects) == 1
    assert report.objects_kept_because is not None and "while gc was deleting" in report.objects_kept_because


def test_a_dry_run_says_it_does_not_count_abandoned_temporaries(own: Path) -> None:
    tmp = own / ".catalog" / ".objects" / "tmp"
    tmp.mkdir(exist_ok=True)
    (tmp / ".runnable-tmp-0000-object").write_bytes(b"partial" * 1000)
    done = run_cli(own, "gc", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "not counted in a dry run" in done.stdout
    assert (tmp / ".runnable-tmp-0000-object").exists()  # a dry run deletes nothing


def test_gc_refuses_the_run_log_store_of_another_catalog(own: Path, tmp_path: Path) -> None:
    # Another project's runs (their files are in its own catalog), named by a mixed-up configuration.
    other = copy_project(own, tmp_path / "other")
    (other / ".catalog").rename(tmp_path / "other-catalog-aside")
    for path in (other / ".run_log_store").glob("*.json"):  # other runs: other ids, other content
        data = json.loads(path.read_text())
        data["run_id"] = "other-" + data["run_id"]
        for entry in data["files"]:
            entry["hash"] = {"md5": "0" * 32}
        (path.parent / f"{data['run_id']}.json").write_text(json.dumps(data))
        path.unlink()
    config = own / "mixed.yaml"
    config.write_text(f"run-log-store:\n  type: file-system\n  config:\n    log_folder: {other / '.run_log_store'}\n")
    before, their_records = objects(own), sorted(p.name for p in (other / ".run_log_store").iterdir())
    for args in (["--dry-run"], ["--yes"], ["--keep-last", "1", "--yes"]):
        done = run_cli(own, "gc", "--config", str(config), *args)
        assert done.returncode == 2, done.stdout
        assert "has its files in the catalog .catalog: they were stored in another catalog" in done.stderr
    assert objects(own) == before
    assert sorted(p.name for p in (other / ".run_log_store").iterdir()) == their_records
