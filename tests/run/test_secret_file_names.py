"""A file whose name holds a secret's value is never stored, by a job or a pipeline step: its name
would reach the record, the catalog folder and the console. The run fails in one line naming the
put pattern and the secret's name, and its record names only files that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_python

SECRET = "sup3rs3cretvalue"

JOB = """
import os
from pathlib import Path
from runnable import Catalog, PythonJob

def work():
    Path("kept.txt").write_text("no secret here")
    Path(f"out_{os.environ['MY_TOKEN']}.txt").write_text("x")

PythonJob(function=work, secrets=["MY_TOKEN"], catalog=Catalog(put=["kept.txt", "out_*.txt"])).execute()
"""

PIPELINE = """
import os
from pathlib import Path
from runnable import Catalog, Pipeline, PythonTask

def work():
    Path("kept.txt").write_text("no secret here")
    Path(f"out_{os.environ['MY_TOKEN']}.txt").write_text("x")

Pipeline(steps=[PythonTask(name="w", function=work, secrets=["MY_TOKEN"],
                           catalog=Catalog(put=["kept.txt", "out_*.txt"]))]).execute()
"""


@pytest.mark.parametrize("script", [JOB, PIPELINE], ids=["job", "pipeline"])
def test_a_file_named_with_a_secret_value_is_refused(tmp_path: Path, script: str) -> None:
    (tmp_path / "run.py").write_text(script)
    result = run_python(tmp_path / "run.py", tmp_path, env={"MY_TOKEN": SECRET})
    assert result.returncode == 1
    assert "put pattern 'out_*.txt'" in result.stderr and "secret 'MY_TOKEN'" in result.stderr, result.stderr
    assert SECRET not in result.stdout + result.stderr
    (record_file,) = (tmp_path / ".run_log_store").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "FAIL"
    run_folder = tmp_path / ".catalog" / record["run_id"]
    named = [f["path"] for f in record["files"]] + [
        o for s in record.get("steps", []) for o in s.get("outputs", [])]
    assert "kept.txt" in named
    assert all((run_folder / path).is_file() for path in named), named
    assert not [p for p in tmp_path.rglob("*") if SECRET in p.name and p.parent == run_folder]
    assert not [p for p in (tmp_path / ".catalog").rglob("*") if "*****" in p.name or SECRET in p.name]


def test_a_record_names_only_files_that_exist_even_with_a_short_secret(tmp_path: Path) -> None:
    """A value under MIN_SECRET_IN_NAME characters turns up in names by chance: such files are
    stored, and every path the record names (step outputs included) is the file's real name."""
    script = PIPELINE.replace('f"out_{os.environ[\'MY_TOKEN\']}.txt"', '"out_ab1.txt"')
    (tmp_path / "run.py").write_text(script)
    result = run_python(tmp_path / "run.py", tmp_path, env={"MY_TOKEN": "ab1"})
    assert result.returncode == 0, result.stderr
    (record_file,) = (tmp_path / ".run_log_store").glob("*.json")
    record = json.loads(record_file.read_text())
    run_folder = tmp_path / ".catalog" / record["run_id"]
    outputs = record["steps"][0]["outputs"]
    assert sorted(outputs) == ["kept.txt", "out_ab1.txt"]
    assert all((run_folder / path).is_file() for path in outputs)
