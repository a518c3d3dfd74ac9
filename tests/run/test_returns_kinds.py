"""Return kinds through real runs: JSON values, metrics, pickled objects and ``Run.load``."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import runnable
from runnable import IntegrityError, JobFailedError, PythonJob, RestoreError, metric, pickled
from runnable import json as json_return
from runnable.record import SCHEMA_VERSION, RunRecord
from tests.conftest import run_cli


def record_of(run_id: str) -> dict[str, Any]:
    return json.loads(Path(f".run_log_store/{run_id}.json").read_text())


def train() -> tuple[int, list[float], Fraction, dict[str, Any]]:
    return 120, [0.5, 0.7, 0.9], Fraction(3, 7), {"rows": 120, "ok": True}


def test_every_kind_lands_where_it_belongs(workdir: Path) -> None:
    job = PythonJob(function=train, returns=["n_rows", metric("accuracy"), pickled("model"), json_return("report")])
    record = job.execute()
    assert record is not None
    data = record_of(record.run_id)
    assert data["schema"] == SCHEMA_VERSION == 2
    assert data["returns"] == {"n_rows": 120, "report": {"rows": 120, "ok": True}}
    assert data["metrics"] == {"accuracy": [[0, 0.5], [1, 0.7], [2, 0.9]]}
    model = data["objects"]["model"]
    assert model["stored"] is True and model["size"] > 0 and len(model["hash"]["md5"]) == 32
    assert runnable.get_run(record.run_id).load("model") == Fraction(3, 7)


def test_a_single_number_metric_is_a_history_of_one(workdir: Path) -> None:
    record = PythonJob(function=lambda: 0.93, returns=[metric("accuracy")], name="one").execute()
    assert record is not None and record_of(record.run_id)["metrics"] == {"accuracy": [[0, 0.93]]}


def test_pickled_objects_are_content_addressed(workdir: Path) -> None:
    first = PythonJob(function=lambda: {"w": [1, 2, 3]}, returns=[pickled("model")], name="m").execute()
    second = PythonJob(function=lambda: {"w": [1, 2, 3]}, returns=[pickled("model")], name="m").execute()
    assert first is not None and second is not None
    assert first.objects["model"].digest == second.objects["model"].digest
    objects = [p for p in Path(".catalog/.objects").rglob("*") if p.is_file()]
    log_and_model = {e.digest for r in (first, second) for e in (r.objects["model"], r.execution_log) if e}
    assert len(objects) == len(log_and_model)  # the model once, not twice


@pytest.mark.parametrize("declared", [["values"], [json_return("values")]])
def test_a_value_json_cannot_hold_fails_naming_the_return(workdir: Path, declared: list[Any]) -> None:
    with pytest.raises(JobFailedError, match=r"return 'values' is a set, which JSON cannot hold.*pickled\('values'\)"):
        PythonJob(function=lambda: {1, 2}, returns=declared, name="sets").execute()


@pytest.mark.parametrize("value", ["high", [1, "x"], [], None, float("nan")])
def test_a_metric_that_is_not_numbers_fails_naming_it(workdir: Path, value: Any) -> None:
    with pytest.raises(JobFailedError, match=r"metric 'accuracy' must be a finite number") as caught:
        PythonJob(function=lambda: value, returns=[metric("accuracy")], name="bad").execute()
    assert caught.value.record is not None and caught.value.record.status == "FAIL"


def test_pydantic_models_are_recorded_as_json(workdir: Path) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Report(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        rows: int
        name: str

    record = PythonJob(function=lambda: Report(rows=3, name="x"), returns=["report"], name="r").execute()
    assert record is not None and record_of(record.run_id)["returns"] == {"report": {"rows": 3, "name": "x"}}


def test_load_refuses_a_corrupted_object(workdir: Path) -> None:
    record = PythonJob(function=lambda: [1, 2], returns=[pickled("model")], name="m").execute()
    assert record is not None
    location = Path(record.objects["model"].location or "")
    target = location.resolve()
    target.chmod(0o644)
    target.write_bytes(b"not the pickle at all")
    with pytest.raises(IntegrityError):
        runnable.get_run(record.run_id).load("model")


def test_load_of_an_unknown_name_suggests_close_ones(workdir: Path) -> None:
    record = PythonJob(function=lambda: [1, 2], returns=[pickled("model")], name="m").execute()
    assert record is not None
    with pytest.raises(RestoreError, match="no pickled return 'modle'; did you mean 'model'"):
        runnable.get_run(record.run_id).load("modle")


def test_returns_of_the_wrong_type_are_refused(workdir: Path) -> None:
    with pytest.raises(TypeError, match="metric\\(\\)/pickled\\(\\)/json\\(\\)"):
        PythonJob(function=print, returns=[3])  # type: ignore[list-item]
    with pytest.raises(runnable.ConfigurationError, match="more than once"):
        PythonJob(function=print, returns=["a", metric("a")])


def test_a_version_1_record_stays_readable(workdir: Path) -> None:
    old = {"run_id": "old-run-0001", "status": "SUCCESS", "job": {"kind": "python", "name": "f"},
           "start": "2024-05-01T10:00:00.000+00:00", "end": "2024-05-01T10:00:01.000+00:00",
           "duration_seconds": 1.0, "parameters": {"lr": 0.1}, "returns": {"x": 1}, "code": {},
           "runnable_version": "0.1.0", "environment": {}, "catalog": {}, "files": [],
           "execution_log": None, "skipped": [], "error": None, "tags": [], "schema": 1}
    record = RunRecord.from_dict(old)
    assert record.metrics == {} and record.objects == {} and record.schema == 1
    Path(".run_log_store").mkdir()
    Path(".run_log_store/old-run-0001.json").write_text(json.dumps(old))
    assert runnable.get_run("old-run-0001").returns == {"x": 1}
    done = run_cli(workdir, "runs", "show", "old-run-0001")
    assert done.returncode == 0 and "lr = 0.1" in done.stdout


def test_verify_and_gc_keep_pickled_objects(workdir: Path) -> None:
    record = PythonJob(function=lambda: [1, 2], returns=[pickled("model")], name="m").execute()
    assert record is not None
    check = runnable.get_run(record.run_id).verify()
    assert len(check.files) == 2  # the object and the log
    done = run_cli(workdir, "gc")
    assert done.returncode == 0, done.stderr
    assert runnable.get_run(record.run_id).load("model") == [1, 2]
    shutil.rmtree(".catalog")
    with pytest.raises(RestoreError, match="missing"):
        runnable.get_run(record.run_id).load("model")


def test_a_cataloged_file_in_the_reserved_place_is_kept_and_the_run_fails(workdir: Path) -> None:
    def clash() -> list[int]:
        Path(".runnable-objects").mkdir()
        Path(".runnable-objects/model.pickle").write_text("mine\n")
        return [1]

    job = PythonJob(function=clash, returns=[pickled("model")], name="clash",
                    catalog=runnable.Catalog(put=[".runnable-objects/model.pickle"]))
    with pytest.raises(JobFailedError, match="already uses its place"):
        job.execute(job_id="clash")
    assert Path(".catalog/clash/.runnable-objects/model.pickle").read_text() == "mine\n"
