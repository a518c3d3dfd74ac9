"""The grid example runs unchanged and ``runs compare`` shows it as docs/compare.md does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import runnable
from tests.conftest import REPO, run_cli, run_python

EXAMPLE = REPO / "examples" / "12-compare" / "train_grid.py"


def test_the_grid_example_compares_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = run_python(EXAMPLE, tmp_path, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    shown = run_cli(tmp_path, "runs", "compare", "--job", "train", "--sort", "-metrics.accuracy")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["run_id", "params.epochs", "params.lr", "metrics.accuracy", "metrics.loss"]
    assert [line.split()[1:] for line in lines[1:]] == [
        ["40", "0.5", "0.9025", "0.2656"], ["10", "0.5", "0.8625", "0.3439"], ["40", "0.05", "0.8275", "0.4206"],
        ["2", "0.5", "0.7975", "0.5158"], ["10", "0.05", "0.785", "0.5559"], ["2", "0.05", "0.74", "0.6614"]]
    docs = (REPO / "docs" / "compare.md").read_text()
    for line in lines[1:]:  # the documented table is this one, run ids aside
        assert line.split(" ", 1)[1].strip() in docs
    best = lines[1].split()[0]
    where = run_cli(tmp_path, "runs", "compare", "--job", "train", "--where",
                    "metrics.accuracy > 0.8 and params.lr == 0.5", "--json")
    assert [r["metrics.accuracy"] for r in json.loads(where.stdout)] == [0.9025, 0.8625]
    show = run_cli(tmp_path, "runs", "show", best)
    assert "loss      last 0.2656  min 0.2656  max 0.6107  (40 steps)" in show.stdout
    monkeypatch.chdir(tmp_path)
    run = runnable.get_run(best)
    assert set(run.load("model")) == {"weights", "bias"} and run.returns == {"n_rows": 400}
    assert "grid" in run.tags and len(run.metrics["loss"]) == 40
