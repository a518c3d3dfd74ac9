"""Odd input to the catalog, the configuration and the parameters gets one clear line, and every
record stays valid JSON: ``Catalog(put=5)``, ``Catalog(put={...})``, a pattern that is a blank
file name, a NUL in a configured path, NaN and Infinity in parameters and returned values."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from runnable import Catalog
from runnable.errors import ConfigurationError, ParameterError, PatternError
from runnable.params import plain
from tests.conftest import run_cli, run_python


@pytest.mark.parametrize("put,shown", [(5, "the int 5"), ({"x": 1}, "a mapping"), (None, "None"),
                                       (b"out/", "the bytes b'out/'")])
def test_put_that_is_not_a_list_of_patterns_is_one_clear_error(put: object, shown: str) -> None:
    with pytest.raises(PatternError) as info:
        Catalog(put=put)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("Catalog(put=...) takes a list of patterns") and shown in message, message
    assert "\n" not in message


@pytest.mark.parametrize("get,shown", [(5, "the int 5"), ({"x": 1}, "a mapping"), (b"in/", "the bytes b'in/'")])
def test_get_that_is_not_a_list_of_patterns_is_one_clear_error(get: object, shown: str) -> None:
    with pytest.raises(PatternError) as info:
        Catalog(get=get)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("Catalog(get=...) takes a list of patterns") and shown in message, message
    assert "\n" not in message


def test_put_as_a_set_or_a_tuple_is_a_list_in_a_stable_order() -> None:
    assert Catalog(put=("b.csv", "a.csv")).put == ["b.csv", "a.csv"]
    assert Catalog(put={"b.csv", "a.csv"}).put == ["a.csv", "b.csv"]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [" ", "  ", " /x.txt"])
def test_a_blank_name_is_a_pattern_like_any_other(workdir: Path, name: str) -> None:
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from runnable import Catalog, PythonJob

        def make():
            Path({name!r}).parent.mkdir(parents=True, exist_ok=True)
            Path({name!r}).write_text("blank name")

        PythonJob(function=make, catalog=Catalog(put=[{name!r}])).execute(job_id="blank-1")
        """
    )
    done = run_python(code, workdir)
    assert done.returncode == 0, done.stderr
    record = json.loads((workdir / ".run_log_store" / "blank-1.json").read_text())
    assert [f["path"] for f in record["files"]] == [name.strip("/") if "/" in name else name]
    assert (workdir / ".catalog" / "blank-1" / name).read_text() == "blank name"


def test_the_empty_pattern_is_still_refused() -> None:
    with pytest.raises(PatternError, match="is empty"):
        Catalog(put=[""])


@pytest.mark.parametrize("key,section", [("catalog_location", "catalog"), ("log_folder", "run-log-store")])
def test_a_nul_in_a_configured_path_is_one_clear_error(workdir: Path, key: str, section: str) -> None:
    (workdir / "c.yaml").write_text(f'{section}:\n  type: file-system\n  config: {{{key}: "a\\0b"}}\n')
    done = run_python("from runnable import PythonJob\nPythonJob(function=print).execute('c.yaml')\n", workdir)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("runnable.errors.ConfigurationError: ") or last.startswith("ConfigurationError"), done.stderr
    assert f"{key!r} in section {section!r}" in last and "NUL" in last, last
    assert "embedded null byte" not in done.stderr
    from runnable.config.settings import check_path

    with pytest.raises(ConfigurationError, match="holds a NUL character"):
        check_path("a\0b", key, section)


# -- NaN and Infinity: JSON has neither ---------------------------------------------------------------
def test_a_nan_or_infinite_parameter_is_refused_naming_it() -> None:
    for value, word in ((math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")):
        with pytest.raises(ParameterError, match=rf"^parameter 'lr' is {word}, which a run record"):
            plain({"lr": value})
    with pytest.raises(ParameterError, match=r"^parameter 'grid' holds NaN at \['rates'\]\[1\]"):
        plain({"grid": {"rates": [0.1, math.nan]}})
    assert plain({"lr": 0.1, "n": [1, 2.5]}) == {"lr": 0.1, "n": [1, 2.5]}


@pytest.mark.parametrize("how", ["yaml", "env", "env-typed"])
def test_a_nan_parameter_fails_before_the_job_runs_with_one_line(workdir: Path, how: str) -> None:
    (workdir / "job.py").write_text(textwrap.dedent(
        """
        from runnable import PythonJob

        def train(lr: float = 0.1):
            open("ran", "w").close()

        PythonJob(function=train).execute(parameters_file="p.yaml" if __import__("os").path.exists("p.yaml") else None)
        """
    ))
    env = {}
    if how == "yaml":
        (workdir / "p.yaml").write_text("lr: .nan\n")
    else:
        env["RUNNABLE_PRM_lr"] = "NaN" if how == "env" else "nan"  # JSON's NaN, or text a float annotation reads
    done = run_cli(workdir, "execute-job", "job.py", env=env)
    assert done.returncode != 0
    assert "parameter 'lr' is NaN, which a run record (JSON) cannot hold" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (workdir / "ran").exists()
    for record in (workdir / ".run_log_store").glob("*.json"):  # none, or a FAIL record that is JSON
        data = json.loads(record.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in a record"))
        assert data["status"] == "FAIL"


def test_a_nan_return_is_recorded_as_null_with_a_warning(workdir: Path) -> None:
    (workdir / "job.py").write_text(textwrap.dedent(
        """
        from runnable import PythonJob

        def train():
            return float("nan"), {"best": float("inf"), "ok": 1.5}

        PythonJob(function=train, returns=["loss", "metrics"]).execute(job_id="nan-1")
        """
    ))
    done = run_python(Path("job.py"), workdir)
    assert done.returncode == 0, done.stderr
    assert "runnable: warning: return 'loss' is NaN, which a run record (JSON) cannot hold; recorded as null" \
        in done.stderr
    assert "return 'metrics' holds Infinity at ['best']" in done.stderr
    text = (workdir / ".run_log_store" / "nan-1.json").read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the record"))
    assert data["status"] == "SUCCESS"
    assert data["returns"] == {"loss": None, "metrics": {"best": None, "ok": 1.5}}
    shown = run_cli(workdir, "runs", "show", "nan-1", "--json")
    assert shown.returncode == 0 and "NaN" not in shown.stdout


def test_a_record_holding_nan_anyhow_is_written_as_valid_json(tmp_path: Path) -> None:
    # Whatever slips past the checks above (a backend's own field, a future one): null, not NaN.
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.record import RunRecord

    store = FileSystemRunLogStore(tmp_path / "runs")
    store.make_location()
    record = RunRecord("nan-2", "SUCCESS", {"kind": "python"}, "2026-01-01T00:00:00+00:00",
                       environment={"load": math.nan}, code={"x": [math.inf]})
    store.put(record)
    text = (tmp_path / "runs" / "nan-2.json").read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the record"))
    assert data["environment"] == {"load": None} and data["code"] == {"x": [None]}
    assert store.get("nan-2").environment == {"load": None}
