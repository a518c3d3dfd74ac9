"""``runnable runs compare`` and ``runnable.compare()`` over real runs: selection, columns, sorting,
filtering, JSON, CSV and bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import runnable
from runnable import MissingExtraError, UsageError
from runnable.history.comparison import parse_where
from tests.conftest import run_cli, run_python

GRID = '''
import os, runnable
from runnable import Catalog, PythonJob, metric

def train(lr: float = 0.1, layers: int = 2, seed: int = 7):
    accuracy = round(0.5 + layers * 0.1 - abs(lr - 0.01), 4)
    with open("model.txt", "w") as handle:
        handle.write(f"{lr} {layers}\\n")
    for epoch in range(3):
        runnable.log_metric("loss", round(1 - accuracy + (2 - epoch) * 0.1, 4))
    if lr < 0:
        raise ValueError("negative learning rate")
    return accuracy, "adam"

grid = [(0.1, 2), (0.01, 2), (0.1, 3), (0.01, 3)]
for i, (lr, layers) in enumerate(grid):
    os.environ["RUNNABLE_PRM_lr"], os.environ["RUNNABLE_PRM_layers"] = str(lr), str(layers)
    PythonJob(function=train, catalog=Catalog(put=["model.txt"]), returns=[metric("accuracy"), "optimizer"],
              name="train").execute(job_id=f"train-{i}", tags=["deep"] if layers == 3 else [])
os.environ["RUNNABLE_PRM_lr"] = "-1"
try:
    PythonJob(function=train, returns=[metric("accuracy"), "optimizer"], name="train").execute(job_id="train-bad")
except runnable.JobFailedError:
    pass
del os.environ["RUNNABLE_PRM_lr"], os.environ["RUNNABLE_PRM_layers"]
PythonJob(function=lambda: 1, returns=["n"], name="other").execute(job_id="other-0")
'''


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compare") / "project"
    folder.mkdir()
    done = run_python(GRID, folder)
    assert done.returncode == 0, done.stderr
    return folder


def compare(grid: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(grid, "runs", "compare", *args)


def rows_of(grid: Path, *args: str) -> list[dict[str, Any]]:
    done = compare(grid, *args, "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_only_the_columns_that_differ_are_shown(grid: Path) -> None:
    rows = rows_of(grid, "--job", "train", "--status", "success")
    assert [r["run_id"] for r in rows] == ["train-3", "train-2", "train-1", "train-0"]  # newest first
    assert list(rows[0]) == ["run_id", "params.layers", "params.lr", "metrics.accuracy", "metrics.loss",
                             "files.model.txt"]
    assert rows[0]["params.lr"] == 0.01 and rows[0]["metrics.accuracy"] == 0.8
    assert rows[0]["metrics.loss"] == 0.2  # the last value of the history
    assert len(rows[0]["files.model.txt"]) == 8


def test_all_columns_adds_the_ones_that_are_the_same(grid: Path) -> None:
    rows = rows_of(grid, "--job", "train", "--status", "SUCCESS", "--all-columns")
    assert rows[0]["returns.optimizer"] == "adam" and rows[0]["params.seed"] == 7 and rows[0]["job"] == "train"
    assert rows[0]["status"] == "SUCCESS"


def test_sorting_descending_and_ascending(grid: Path) -> None:
    down = rows_of(grid, "--job", "train", "--sort", "-metrics.accuracy")
    assert [r["run_id"] for r in down] == ["train-3", "train-2", "train-1", "train-0", "train-bad"]  # missing last
    up = rows_of(grid, "--job", "train", "--sort", "metrics.accuracy", "--status", "SUCCESS")
    assert [r["metrics.accuracy"] for r in up] == [0.61, 0.7, 0.71, 0.8]


def test_where_filters_with_comparisons_joined_by_and(grid: Path) -> None:
    rows = rows_of(grid, "--job", "train", "--where", "metrics.accuracy > 0.65 and params.lr == 0.01")
    assert [r["run_id"] for r in rows] == ["train-3", "train-1"]
    assert [r["run_id"] for r in rows_of(grid, "--where", "returns.optimizer != 'adam'")] == []
    assert [r["run_id"] for r in rows_of(grid, "--where", "status == FAIL")] == ["train-bad"]
    assert {r["run_id"] for r in rows_of(grid, "--where", "params.layers>=3")} == {"train-2", "train-3", "train-bad"}


def test_selection_by_id_tag_status_and_last(grid: Path) -> None:
    assert [r["run_id"] for r in rows_of(grid, "train-0", "other-0")] == ["train-0", "other-0"]
    assert {r["run_id"] for r in rows_of(grid, "--tag", "deep")} == {"train-2", "train-3"}
    assert [r["run_id"] for r in rows_of(grid, "--status", "fail")] == ["train-bad"]
    assert [r["run_id"] for r in rows_of(grid, "--job", "train", "--last", "2")] == ["train-bad", "train-3"]
    assert compare(grid, "--job", "nothing").stdout.strip() == "no runs match"


def test_the_table_and_csv(grid: Path) -> None:
    done = compare(grid, "--job", "train", "--sort", "-metrics.accuracy", "--status", "SUCCESS")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["run_id", "params.layers", "params.lr", "metrics.accuracy", "metrics.loss",
                                "files.model.txt"]
    assert lines[1].split()[:4] == ["train-3", "3", "0.01", "0.8"]
    text = compare(grid, "--job", "train", "--status", "SUCCESS", "--csv").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert [row["run_id"] for row in table] == ["train-3", "train-2", "train-1", "train-0"]
    assert table[0]["metrics.accuracy"] == "0.8"


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "metrics.acuracy > 0.5"], "--where: no column 'metrics.acuracy' in the selected runs; "
                                           "close names: metrics.accuracy"),
    (["--sort", "-params.learning"], "--sort: no column 'params.learning'"),
    (["--where", "metrics.accuracy >"], "is not a comparison"),
    (["--where", "lr 0.1"], "is not a comparison"),
    (["--where", "params.lr > 0.1 or params.lr < 0.01"], "only 'and' joins comparisons"),
    (["--where", "params.lr > 0.1 and"], "only 'and' joins comparisons"),
    (["--json", "--csv"], "cannot be used together"),
    (["no-such-run"], "no run 'no-such-run'"),
])
def test_bad_input_is_one_line_naming_it(grid: Path, args: list[str], message: str) -> None:
    done = compare(grid, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr


def test_the_python_form(grid: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(grid)
    result = runnable.compare(job="train", where="metrics.accuracy >= 0.7", sort="-metrics.accuracy")
    assert [r["run_id"] for r in result] == ["train-3", "train-2", "train-1"] and len(result) == 3
    assert result.columns[0] == "run_id" and "params.lr" in result.columns
    with pytest.raises(UsageError, match="close names: params.lr"):
        runnable.compare(where="params.l == 1")
    with pytest.raises(UsageError, match="positive number"):
        runnable.compare(last=0)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="pip install pandas"):
            result.to_pandas()
    else:
        frame = result.to_pandas()
        assert list(frame["run_id"]) == ["train-3", "train-2", "train-1"]


def test_compare_reads_the_index_not_the_records(grid: Path, tmp_path: Path) -> None:
    own = tmp_path / "own"
    shutil.copytree(grid, own)
    assert rows_of(own, "--job", "train")  # builds the index
    store = own / ".run_log_store"
    for record in store.glob("train-*.json"):
        info = record.stat()
        text = record.read_text()
        # Same size, same time, same inode: the index still trusts it, so any read would show.
        with open(record, "r+") as handle:
            handle.write("X" * len(text))
        os.utime(record, ns=(info.st_atime_ns, info.st_mtime_ns))
    rows = rows_of(own, "--job", "train", "--sort", "-metrics.accuracy")
    assert rows[0]["run_id"] == "train-3" and rows[0]["metrics.accuracy"] == 0.8


def test_parse_where_values() -> None:
    assert [c.value for c in parse_where("a == 3 and b == 'x y' and c == true and d == null and e = word")] == [
        3, "x y", True, None, "word"]


def test_a_parameter_past_float_range_is_compared_and_sorted(workdir: Path) -> None:
    script = """
import os
from runnable import PythonJob

def train(lr: int = 1):
    return None

for i, lr in enumerate(["1" + "0" * 400, "3", "-" + "1" * 400]):
    os.environ["RUNNABLE_PRM_lr"] = lr
    PythonJob(function=train, name="big").execute(job_id=f"big-{i}")
"""
    done = run_python(script, workdir)
    assert done.returncode == 0, done.stderr
    where = run_cli(workdir, "runs", "compare", "--where", "params.lr > 1", "--json")
    assert where.returncode == 0, where.stderr
    assert sorted(row["run_id"] for row in json.loads(where.stdout)) == ["big-0", "big-1"]
    ordered = run_cli(workdir, "runs", "compare", "--sort", "params.lr", "--json")
    assert ordered.returncode == 0, ordered.stderr
    ids = [row["run_id"] for row in json.loads(ordered.stdout)]
    assert ids.index("big-2") < ids.index("big-1") < ids.index("big-0") or \
        ids.index("big-0") < ids.index("big-1") < ids.index("big-2")


def test_an_empty_sort_and_a_where_over_no_runs_are_one_clear_line(workdir: Path) -> None:
    done = run_python("from runnable import PythonJob\nPythonJob(function=print, name='j').execute()\n", workdir)
    assert done.returncode == 0, done.stderr
    for args, words in [(["--sort", ""], "--sort '' names no column"),
                        (["--sort", "-"], "--sort '-' names no column"),
                        (["--job", "nojob", "--where", "params.lr > 1"], "no runs were selected")]:
        proc = run_cli(workdir, "runs", "compare", *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
