"""The run summary: a hint for a returned value nobody kept, and a bounded list of stored files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import REPO, run_python


def summary_of(stdout: str) -> dict[str, Any]:
    return json.loads(stdout[stdout.index("{\n"):])  # type: ignore[no-any-return]


SALES = '''
from runnable import PythonJob

def analyze_sales_data():
    return {"total_sales": 50000}

PythonJob(function=analyze_sales_data%s).execute()
'''


def run(tmp_path: Path, script: str) -> dict[str, Any]:
    (tmp_path / "job.py").write_text(script)
    done = run_python(tmp_path / "job.py", tmp_path, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    return summary_of(done.stdout)


def test_an_undeclared_return_value_gets_one_hint_naming_its_key(tmp_path: Path) -> None:
    summary = run(tmp_path, SALES % "")
    assert summary["hint"] == ("analyze_sales_data() returned a dict that was not recorded; to keep it, "
                               "declare PythonJob(..., returns=['total_sales'])")
    # The spec's keys are all still there, in their order, before the hint.
    assert list(summary)[:3] == ["Output catalog content", "status", "run_id"]
    assert list(summary)[-1] == "hint"
    record = json.loads((tmp_path / summary["run_record"]).read_text())
    assert record["returns"] == {}


def test_the_hint_is_right_when_followed(tmp_path: Path) -> None:
    summary = run(tmp_path, SALES % ", returns=['total_sales']")
    assert "hint" not in summary
    record = json.loads((tmp_path / summary["run_record"]).read_text())
    assert record["returns"] == {"total_sales": {"total_sales": 50000}}


def test_other_values_get_a_generic_name_and_none_gets_no_hint(tmp_path: Path) -> None:
    summary = run(tmp_path, "from runnable import PythonJob\nPythonJob(function=lambda: (1, 2), name='pair').execute()\n")
    assert summary["hint"].endswith("returned a tuple that was not recorded; to keep it, declare "
                                    "PythonJob(..., returns=['result'])")
    summary = run(tmp_path, "from runnable import PythonJob\nPythonJob(function=print).execute()\n")
    assert "hint" not in summary


FILES = '''
from pathlib import Path
from runnable import Catalog, PythonJob

def write(count: int = %d):
    Path("out").mkdir()
    for i in range(count):
        Path(f"out/f{i:03}.txt").write_text(str(i))

PythonJob(function=write, catalog=Catalog(put=["out/"])).execute()
'''


def test_a_summary_lists_the_first_20_files_and_counts_the_rest(tmp_path: Path) -> None:
    summary = run(tmp_path, FILES % 45)
    assert summary["Output catalog content"] == [f"out/f{i:03}.txt" for i in range(20)]
    assert summary["more_files"] == f"... and 25 more (runnable runs show {summary['run_id']})"
    record = json.loads((tmp_path / summary["run_record"]).read_text())
    assert len(record["files"]) == 45  # the record keeps every file


def test_a_small_run_keeps_the_spec_format(tmp_path: Path) -> None:
    summary = run(tmp_path, FILES % 20)
    assert summary["Output catalog content"] == [f"out/f{i:03}.txt" for i in range(20)]
    assert "more_files" not in summary
