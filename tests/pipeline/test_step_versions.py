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


RETRY_LATER_PUT = """
    from pathlib import Path
    from runnable import Catalog, Pipeline, PythonTask, metric, pickled

    def make():
        Path("data.txt").write_text("v1\\n")
        return 0.5, {"w": 3}

    def transform(acc: float, model: dict):
        assert Path("data.txt").read_text() == "v1\\n"
        Path("data.txt").write_text("v2\\n")
        if not Path("ready").exists():
            raise RuntimeError("not ready")
        print("got", acc, model["w"])

    pipeline = Pipeline(steps=[
        PythonTask(name="make", function=make, returns=[metric("acc"), pickled("model")],
                   catalog=Catalog(put=["data.txt"])),
        PythonTask(name="transform", function=transform, catalog=Catalog(get=["data.txt"], put=["data.txt"])),
    ])
    if __name__ == "__main__":
        pipeline.execute()
"""


def _strip_versions(entries: list[dict[str, object]]) -> None:
    for entry in entries:
        entry.pop("stored", None)
        entry.pop("stored_objects", None)
        for branch in [*(entry.get("branches") or {}).values(), entry.get("on_failure") or []]:  # type: ignore[attr-defined]
            _strip_versions(branch)


def test_retry_of_a_record_written_before_step_entries_held_versions(tmp_path: Path) -> None:
    import json

    first = run(tmp_path, RETRY_LATER_PUT.replace('put=["data.txt"])),\n    ])', 'put=["out.txt"])),\n    ])')
                .replace('Path("data.txt").write_text("v2', 'Path("out.txt").write_text("v2'))
    assert first.returncode == 1, first.stderr
    record = only_record(tmp_path)
    _strip_versions(record["steps"])  # as an older version wrote it: paths only
    assert "stored" not in json.dumps(record["steps"])
    (tmp_path / ".run_log_store" / f"{record['run_id']}.json").write_text(json.dumps(record))
    (tmp_path / "ready").touch()
    (tmp_path / "data.txt").unlink()
    retried = run_cli(tmp_path, "retry", record["run_id"])
    assert retried.returncode == 0, retried.stderr
    assert "got 0.5 3" in retried.stdout


def test_retry_gives_back_a_reused_steps_metric_and_object_with_its_own_file(tmp_path: Path) -> None:
    first = run(tmp_path, RETRY_LATER_PUT)
    assert first.returncode == 1, first.stderr
    original = only_record(tmp_path)["run_id"]
    (tmp_path / "ready").touch()
    (tmp_path / "data.txt").unlink()
    retried = run_cli(tmp_path, "retry", original)
    assert retried.returncode == 0, retried.stderr
    assert "got 0.5 3" in retried.stdout


MAP_OBJECTS = """
    from pathlib import Path
    from runnable import Map, Pipeline, PythonTask, pickled

    class Box:
        def __init__(self, n):
            self.n = n

    def items():
        return [1, 2, 3]

    def boxed(i):
        return Box(i * 10)

    def use(box):
        if not Path("ready").exists():
            raise RuntimeError("not ready")
        print("boxes", [b.n for b in box])

    pipeline = Pipeline(steps=[
        PythonTask(name="items", function=items, returns=["items"]),
        Map(name="m", iterate_on="items", iterate_as="i",
            branch=PythonTask(name="b", function=boxed, returns=[pickled("box")]).as_pipeline()),
        PythonTask(name="use", function=use),
    ])
    if __name__ == "__main__":
        pipeline.execute()
"""


def test_retry_gives_back_a_reused_maps_pickled_returns(tmp_path: Path) -> None:
    first = run(tmp_path, MAP_OBJECTS)
    assert first.returncode == 1, first.stderr
    original = only_record(tmp_path)["run_id"]
    (tmp_path / "ready").touch()
    retried = run_cli(tmp_path, "retry", original)
    assert retried.returncode == 0, retried.stderr
    assert "boxes [10, 20, 30]" in retried.stdout


def test_a_reused_entry_names_the_retrys_own_copies(tmp_path: Path) -> None:
    import json

    assert run(tmp_path, RETRY_LATER_PUT).returncode == 1
    original = only_record(tmp_path)["run_id"]
    (tmp_path / "ready").touch()
    (tmp_path / "data.txt").unlink()
    assert run_cli(tmp_path, "retry", original).returncode == 0
    new = next(p for p in (tmp_path / ".run_log_store").glob("*.json")
               if json.loads(p.read_text()).get("run_id") not in (None, original))
    make = step(json.loads(new.read_text()), "make")
    locations = [d["location"] for d in make["stored"]] + [d["location"] for d in make["stored_objects"].values()]
    assert locations and all(new.stem in location and original not in location for location in locations), locations
