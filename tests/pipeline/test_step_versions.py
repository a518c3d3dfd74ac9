"""Each step entry records the versions it stored (hash, size, copy), so that a version a later step
replaced on the same path is still found by ``runs which``, checked by ``catalog verify`` and kept by ``gc``."""

from __future__ import annotations

from pathlib import Path

from tests.pipeline.helpers import only_record, run, run_cli, step

SUPERSEDED = """
    from pathlib import Path
    from runnable import Catalog, Pipeline, PythonTask

    def v1():
        Path("data.txt").write_text("version one\\n")

    def v2():
        Path("data.txt").write_text("version two\\n")

    Pipeline(steps=[
        PythonTask(name="v1", function=v1, catalog=Catalog(put=["data.txt"])),
        PythonTask(name="v2", function=v2, catalog=Catalog(get=["data.txt"], put=["data.txt"])),
    ]).execute()
"""


def test_a_step_entry_records_the_versions_it_stored(tmp_path: Path) -> None:
    assert run(tmp_path, SUPERSEDED).returncode == 0
    record = only_record(tmp_path)
    first, second = step(record, "v1")["stored"][0], step(record, "v2")["stored"][0]
    assert (first["path"], first["size"], second["path"]) == ("data.txt", 12, "data.txt")
    assert first["hash"] != second["hash"]
    assert [f["hash"] for f in record["files"] if f["path"] == "data.txt"] == [second["hash"]]


def test_runs_which_finds_a_version_a_later_step_replaced(tmp_path: Path) -> None:
    assert run(tmp_path, SUPERSEDED).returncode == 0
    run_id = only_record(tmp_path)["run_id"]
    (tmp_path / "old.txt").write_text("version one\n")
    which = run_cli(tmp_path, "runs", "which", "old.txt")
    assert which.returncode == 0, which.stderr
    assert run_id in which.stdout and "data.txt" in which.stdout


def test_verify_checks_the_object_of_a_version_a_later_step_replaced(tmp_path: Path) -> None:
    assert run(tmp_path, SUPERSEDED).returncode == 0
    record = only_record(tmp_path)
    ok = run_cli(tmp_path, "catalog", "verify", "--all")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("data.txt") == 2, ok.stdout  # both versions checked
    digest = step(record, "v1")["stored"][0]["hash"]["md5"]
    (tmp_path / ".catalog" / ".objects" / "md5" / digest[:2] / digest[2:]).unlink()
    gone = run_cli(tmp_path, "catalog", "verify", "--all")
    assert gone.returncode != 0
    assert "earlier version" in gone.stdout + gone.stderr
