"""Parameters from a YAML file and RUNNABLE_PRM_* variables, passed by name, converted by annotation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from runnable import JobFailedError, ParameterError, PythonJob
from tests.conftest import REPO, run_python


class Optimiser(BaseModel):
    name: str
    momentum: float = 0.0


seen: dict[str, Any] = {}


def train(epochs: int, rate: float, verbose: bool, layers: list[int], extra: dict[str, str],
          optimiser: Optimiser, label: str = "none", anything=None) -> None:  # noqa: ANN001
    seen.update(epochs=epochs, rate=rate, verbose=verbose, layers=layers, extra=extra,
                optimiser=optimiser, label=label, anything=anything)


PARAMS_YAML = """
epochs: 3
rate: 0.5
verbose: false
layers: [8, 4]
extra: {a: b}
optimiser: {name: sgd, momentum: 0.9}
label: from-file
"""


@pytest.fixture(autouse=True)
def clear_seen() -> None:
    seen.clear()


def test_values_from_the_file_are_converted_to_the_annotations(workdir: Path) -> None:
    Path("params.yaml").write_text(PARAMS_YAML)
    record = PythonJob(function=train).execute(parameters_file="params.yaml")
    assert seen == {"epochs": 3, "rate": 0.5, "verbose": False, "layers": [8, 4], "extra": {"a": "b"},
                    "optimiser": Optimiser(name="sgd", momentum=0.9), "label": "from-file", "anything": None}
    assert record.parameters["optimiser"] == {"name": "sgd", "momentum": 0.9}


def test_environment_wins_over_the_file_and_strings_are_converted(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("params.yaml").write_text(PARAMS_YAML)
    monkeypatch.setenv("RUNNABLE_PRM_epochs", "12")
    monkeypatch.setenv("RUNNABLE_PRM_rate", "1e-3")
    monkeypatch.setenv("RUNNABLE_PRM_verbose", "true")
    monkeypatch.setenv("RUNNABLE_PRM_layers", "[16, 8, 2]")
    monkeypatch.setenv("RUNNABLE_PRM_optimiser", '{"name": "adam"}')
    monkeypatch.setenv("RUNNABLE_PRM_label", "123")  # a str annotation keeps the text as given
    monkeypatch.setenv("RUNNABLE_PRM_anything", '{"k": [1]}')  # no annotation: JSON when it is JSON
    record = PythonJob(function=train).execute(parameters_file="params.yaml")
    assert seen["epochs"] == 12 and seen["rate"] == 0.001 and seen["verbose"] is True
    assert seen["layers"] == [16, 8, 2] and seen["extra"] == {"a": "b"}
    assert seen["optimiser"] == Optimiser(name="adam") and seen["label"] == "123"
    assert seen["anything"] == {"k": [1]}
    saved = json.loads(Path(f".run_log_store/{record.run_id}.json").read_text())["parameters"]
    assert saved["epochs"] == 12 and saved["layers"] == [16, 8, 2]
    assert saved["label"] == "123" and saved["optimiser"] == {"name": "adam", "momentum": 0.0}


def test_only_parameters_the_function_takes_are_passed(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def small(x: int) -> int:
        return x

    monkeypatch.setenv("RUNNABLE_PRM_x", "5")
    monkeypatch.setenv("RUNNABLE_PRM_unused", "zzz")
    record = PythonJob(function=small, returns=["x"]).execute()
    assert record.returns == {"x": 5}
    assert record.parameters == {"x": 5, "unused": "zzz"}


def test_var_keyword_receives_every_parameter(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def everything(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    monkeypatch.setenv("RUNNABLE_PRM_n", "2")
    monkeypatch.setenv("RUNNABLE_PRM_word", "hello")
    record = PythonJob(function=everything, returns=["all"]).execute()
    assert record.returns == {"all": {"n": 2, "word": "hello"}}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [("epochs", "many", "parameter 'epochs': cannot convert 'many' to int"),
     ("rate", "fast", "parameter 'rate': cannot convert 'fast' to float"),
     ("layers", '["a"]', "parameter 'layers'"),
     ("optimiser", '{"momentum": 1}', "parameter 'optimiser'")],
)
def test_conversion_failure_names_the_parameter(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    Path("params.yaml").write_text(PARAMS_YAML)
    monkeypatch.setenv(f"RUNNABLE_PRM_{name}", value)
    with pytest.raises(JobFailedError, match="ParameterError") as caught:
        PythonJob(function=train).execute(parameters_file="params.yaml")
    assert expected in str(caught.value)
    assert isinstance(caught.value.error, ParameterError)
    assert caught.value.record.status == "FAIL" and seen == {}


def test_missing_required_parameter_is_named(workdir: Path) -> None:
    Path("params.yaml").write_text("epochs: 1\n")
    with pytest.raises(JobFailedError) as caught:
        PythonJob(function=train).execute(parameters_file="params.yaml")
    message = str(caught.value)
    assert "parameter 'rate' is required by train()" in message and "RUNNABLE_PRM_rate" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [("[1, 2]", "must be a mapping"), ("a: [1\n", "not valid YAML: line 2"),
     ("epochs: 1\nrate: 2\nepochs: 3\n", "has the key 'epochs' twice: at line 1 and line 3")],
)
def test_bad_parameters_file_is_refused_before_the_run(workdir: Path, content: str, expected: str) -> None:
    Path("params.yaml").write_text(content)
    with pytest.raises(ParameterError, match=expected):
        PythonJob(function=train).execute(parameters_file="params.yaml")
    assert not Path(".run_log_store").exists()


def test_missing_parameters_file_is_refused(workdir: Path) -> None:
    with pytest.raises(ParameterError, match="'nope.yaml' does not exist"):
        PythonJob(function=train).execute(parameters_file="nope.yaml")


def test_parameters_file_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("n: 41\n")
    (tmp_path / "job.py").write_text(
        "from runnable import PythonJob\n"
        "def add(n: int): return n + 1\n"
        "PythonJob(function=add, returns=['n']).execute()\n"
    )
    done = run_python(tmp_path / "job.py", tmp_path,
                      env={"PYTHONPATH": str(REPO), "RUNNABLE_PARAMETERS_FILE": "p.yaml"})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    assert json.loads((tmp_path / summary["run_record"]).read_text())["returns"] == {"n": 42}


MISSPELLED = """
import os
from runnable import PythonJob

def train(epochs: int = 3, learning_rate: float = 0.01, optimiser: str = "adam", token=os.environ.get("TOKEN")):
    print(f"training for {epochs} epochs at lr={learning_rate}")

PythonJob(function=train, name="nightly").execute(parameters_file="params.yaml")
"""


def test_a_parameter_that_looks_like_a_misspelled_argument_is_warned_about(
    workdir: Path,
) -> None:
    (workdir / "params.yaml").write_text("epoch: 50\nlearning-rate: 0.5\nshared_with_another_job: 1\n")
    done = run_python(MISSPELLED, workdir, env={"TOKEN": "s3cr3t"})
    assert done.returncode == 0, done.stderr
    assert "training for 3 epochs at lr=0.01" in done.stdout
    assert "parameter 'epoch' was not passed: train() takes no argument of that name (did you mean 'epochs'?)" \
        in done.stderr
    assert "did you mean 'learning_rate'?" in done.stderr
    assert "shared_with_another_job" not in done.stderr  # a parameter for another job is no mistake
    run_id = json.loads(done.stdout[done.stdout.index("{"):])["run_id"]
    saved = json.loads((workdir / ".run_log_store" / f"{run_id}.json").read_text())["parameters"]
    # As given, and the plain defaults it ran with; never a string default (it could be a secret).
    assert saved == {"epoch": 50, "learning-rate": 0.5, "shared_with_another_job": 1,
                     "epochs": 3, "learning_rate": 0.01}
    assert "s3cr3t" not in (workdir / ".run_log_store" / f"{run_id}.json").read_text()


def test_defaults_json_cannot_hold_are_not_recorded(workdir: Path) -> None:
    def fit(steps: float = float("inf"), tol: float = float("nan"), rate: float = 0.1) -> None:
        return None

    record = PythonJob(function=fit).execute()
    assert record.parameters == {"rate": 0.1}  # inf and NaN are not JSON: the record must stay readable
    json.loads(Path(f".run_log_store/{record.run_id}.json").read_text(), parse_constant=lambda c: pytest.fail(c))


def test_the_record_names_the_parameters_and_configuration_files(workdir: Path) -> None:
    Path("params.yaml").write_text("rows: 2\n")
    Path("config.yaml").write_text("catalog: {type: file-system}\n")

    def work(rows: int) -> None:
        return None

    environment = PythonJob(function=work).execute("config.yaml", "params.yaml").environment
    assert environment["parameters_file"] == "params.yaml"
    assert environment["configuration_file"] == str(workdir / "config.yaml")
    bare = PythonJob(function=lambda: None, name="bare").execute().environment
    assert "parameters_file" not in bare and "configuration_file" not in bare
