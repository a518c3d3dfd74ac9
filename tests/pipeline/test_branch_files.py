"""Concurrent branches share the working folder: a path two of them stored is settled by who wrote it."""

from __future__ import annotations

from pathlib import Path

from tests.pipeline.helpers import only_record, run, step
from tests.pipeline.test_review_findings import MAP_OWN_NAMES, PARALLEL_SAME_PATH


def test_a_glob_that_caught_another_branchs_file_half_written_does_not_keep_it(tmp_path: Path) -> None:
    result = run(tmp_path, MAP_OWN_NAMES)
    assert result.returncode == 0, result.stderr
    record = only_record(tmp_path)
    assert "item0.txt" not in step(record, "m.1.w")["outputs"]
    assert all(s["path"] != "item0.txt" for s in step(record, "m.1.w")["stored"])
    assert (tmp_path / ".catalog" / record["run_id"] / "item0.txt").stat().st_size == 10010
    assert "matched 'item0.txt' while branch '0' was writing it" in result.stderr


def test_two_branches_naming_one_path_fail_the_step_naming_both(tmp_path: Path) -> None:
    result = run(tmp_path, PARALLEL_SAME_PATH.replace('"B" * 10', '"A" * 10'))  # the same bytes even
    assert result.returncode == 1
    assert "branches 'a' and 'b' of step 'fan' both wrote 'out.txt' at the same time" in result.stderr
    assert only_record(tmp_path)["status"] == "FAIL"


SAME_FILE_TWO_GLOBS = """
    import time
    from pathlib import Path
    from runnable import Catalog, Parallel, Pipeline, PythonTask

    def wa():
        Path("a.out").write_text("a")

    def wb():
        time.sleep(0.3)  # a.out is whole by then: b's glob finds it as it is
        Path("b.out").write_text("b")

    Pipeline(steps=[Parallel(name="fan", branches={
        "a": PythonTask(name="w", function=wa, catalog=Catalog(put=["*.out"])).as_pipeline(),
        "b": PythonTask(name="w", function=wb, catalog=Catalog(put=["*.out"])).as_pipeline(),
    })]).execute()
"""


def test_globs_of_two_branches_finding_one_whole_file_succeed(tmp_path: Path) -> None:
    result = run(tmp_path, SAME_FILE_TWO_GLOBS)
    assert result.returncode == 0, result.stderr
    assert {f["path"] for f in only_record(tmp_path)["files"]} >= {"a.out", "b.out"}
