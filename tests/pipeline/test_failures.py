"""A failing step, on_failure, terminate_with_*, and bad definitions refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from runnable import Catalog, ConfigurationError, Map, Pipeline, PythonTask, Stub
from runnable.pipeline.graph import check
from tests.pipeline.helpers import only_record, records, run, step

FAILING = """
from runnable import Pipeline, PythonTask, Stub

def fine():
    return 1

def broken(n):
    raise ValueError(f"bad row {{n}}")

def recover():
    print("recovering")

b = PythonTask(name="b", function=broken)
{setup}
Pipeline(steps=[PythonTask(name="a", function=fine, returns=["n"]), b, Stub(name="c")]).execute()
"""


def test_a_failing_step_fails_the_pipeline_and_says_which(tmp_path: Path) -> None:
    done = run(tmp_path, FAILING.format(setup=""))
    assert done.returncode == 1
    record = only_record(tmp_path)
    assert record["status"] == "FAIL"
    assert [(s["path"], s["status"]) for s in record["steps"]] == [("a", "SUCCESS"), ("b", "FAIL")]
    assert step(record, "b")["error"]["message"] == "bad row 1"
    assert "step 'b' failed: ValueError: bad row 1" in record["error"]["message"]
    last = done.stderr.strip().splitlines()[-1]
    assert "step 'b' failed: ValueError: bad row 1" in last and "exiting with code 1" in last
    assert '"error": "PipelineFailed: step \'b\' failed' in done.stdout or "step 'b' failed" in done.stdout


def test_on_failure_runs_instead_and_the_run_succeeds(tmp_path: Path) -> None:
    setup = 'b.on_failure = PythonTask(name="recover", function=recover).as_pipeline()'
    done = run(tmp_path, FAILING.format(setup=setup))
    assert done.returncode == 0, done.stderr
    assert "recovering" in done.stdout
    record = only_record(tmp_path)
    assert record["status"] == "SUCCESS"
    assert [s["path"] for s in record["steps"]] == ["a", "b"]  # c is skipped: on_failure replaces the rest
    assert step(record, "b")["status"] == "FAIL"
    assert step(record, "b.on_failure.recover")["status"] == "SUCCESS"


def test_on_failure_that_ends_with_failure_fails_the_run(tmp_path: Path) -> None:
    setup = ('b.on_failure = Pipeline(steps=[PythonTask(name="recover", function=recover, '
             'terminate_with_failure=True)])')
    done = run(tmp_path, FAILING.format(setup=setup))
    assert done.returncode == 1
    assert only_record(tmp_path)["status"] == "FAIL"
    assert "terminate_with_failure" in only_record(tmp_path)["error"]["message"]


def test_terminate_with_success_stops_early(tmp_path: Path) -> None:
    done = run(tmp_path, """
        from runnable import Pipeline, Stub
        Pipeline(steps=[Stub(name="a", terminate_with_success=True), Stub(name="b")]).execute()
        """)
    assert done.returncode == 0, done.stderr
    assert [s["path"] for s in only_record(tmp_path)["steps"]] == ["a"]


def test_a_shell_step_that_fails_and_one_that_does_not_export(tmp_path: Path) -> None:
    done = run(tmp_path, """
        from runnable import Pipeline, ShellTask
        Pipeline(steps=[ShellTask(name="s", command="echo hi", returns=["answer"])]).execute()
        """)
    assert done.returncode == 1
    assert "did not export 'answer'" in only_record(tmp_path)["error"]["message"]


def test_a_get_that_matches_nothing_at_run_time_fails_the_step(tmp_path: Path) -> None:
    done = run(tmp_path, """
        from runnable import Catalog, Pipeline, PythonTask
        def writes(): pass
        def reads(): pass
        Pipeline(steps=[PythonTask(name="w", function=writes, catalog=Catalog(put=["out/*.csv"])),
                        PythonTask(name="r", function=reads, catalog=Catalog(get=["out/a.csv"]))]).execute()
        """)
    assert done.returncode == 1
    # The put matched nothing, so w failed; r never ran.
    record = only_record(tmp_path)
    assert [(s["path"], s["status"]) for s in record["steps"]] == [("w", "FAIL")]


def _noop() -> None:
    pass


def _needs(alpha: int) -> None:
    pass


@pytest.mark.parametrize(("pipeline", "message"), [
    (Pipeline(steps=[Stub(name="a"), Stub(name="a")]), "two steps are named 'a'"),
    (Pipeline(steps=[PythonTask(name="t", function=_needs)]),
     "_needs() needs the parameter 'alpha', which neither the run's parameters nor an earlier step's returns"),
    (Pipeline(steps=[PythonTask(name="t", function=_noop, catalog=Catalog(get=["data.csv"]))]),
     "get pattern 'data.csv' names no file an earlier step puts"),
    (Pipeline(steps=[Map(name="m", branch=Stub(name="s").as_pipeline(), iterate_on="alpha", iterate_as="x",
                         reducer="max")]), "reducer='max' must be a function"),
    (Pipeline(steps=[Map(name="m", branch=Stub(name="s").as_pipeline(), iterate_on="missing", iterate_as="x")]),
     "iterate_on='missing' is neither a parameter"),
    (Pipeline(steps=[Stub(name="a.b")]), "without '/' or '.'"),
    (Pipeline(steps=[]), "has no steps"),
])
def test_bad_definitions_are_one_line_before_anything_runs(pipeline: Pipeline, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check(pipeline, {"alpha"} if "alpha" not in message else set())
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_definition_records_nothing(tmp_path: Path) -> None:
    done = run(tmp_path, """
        from runnable import Pipeline, Stub
        Pipeline(steps=[Stub(name="a"), Stub(name="a")]).execute()
        """)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "DefinitionError: pipeline: two steps are named 'a'; step names must be unique in a pipeline (the record "
        "and the catalog tell steps apart by name)"]
    assert records(tmp_path) == [] and not (tmp_path / ".catalog").exists()
