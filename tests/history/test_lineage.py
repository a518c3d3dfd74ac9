"""Lineage through a real prepare -> train -> evaluate chain: ``runs lineage`` up and down, its JSON
and Graphviz forms, ``Run.inputs`` / ``upstream()`` / ``downstream()``, and inputs in show and diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import runnable
from tests.conftest import run_cli
from tests.lineage_helpers import run_chain, run_step


@pytest.fixture
def chain(workdir: Path) -> tuple[Path, tuple[str, str, str]]:
    return workdir, run_chain(workdir)


def test_upstream_tree_of_evaluate(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (prepare, train, evaluate) = chain
    proc = run_cli(folder, "runs", "lineage", evaluate)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{evaluate}  evaluate  SUCCESS")
    # evaluate read model.txt (from train) and data/ (from prepare); train read from prepare too
    assert any(train in line and "via model.txt" in line for line in lines)
    assert any(prepare in line and "via data/features.csv" in line for line in lines)
    data = json.loads(run_cli(folder, "runs", "lineage", evaluate, "--json").stdout)
    assert data["run_id"] == evaluate
    assert {c["run_id"] for c in data["children"]} == {train, prepare}
    trained = next(c for c in data["children"] if c["run_id"] == train)
    assert [c["run_id"] for c in trained["children"]] == [prepare]


def test_downstream_tree_of_prepare_and_dot(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (prepare, train, evaluate) = chain
    proc = run_cli(folder, "runs", "lineage", prepare, "--down", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {c["run_id"] for c in data["children"]} == {train, evaluate}
    dot = run_cli(folder, "runs", "lineage", evaluate, "--dot").stdout
    assert dot.startswith("digraph lineage {")
    assert f'"{train}" -> "{evaluate}" [label="model.txt"];' in dot
    assert f'"{prepare}" -> "{train}" [label="data/features.csv"];' in dot


def test_no_lineage_is_said_and_a_missing_run_is_one_line(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (prepare, _train, evaluate) = chain
    assert "no run upstream" in run_cli(folder, "runs", "lineage", prepare).stdout
    assert "no run downstream" in run_cli(folder, "runs", "lineage", evaluate, "--down").stdout
    proc = run_cli(folder, "runs", "lineage", "no-such-run")
    assert proc.returncode != 0 and "no run 'no-such-run'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_python_run_inputs_upstream_downstream(chain: tuple[Path, tuple[str, str, str]]) -> None:
    _folder, (prepare, train, evaluate) = chain
    run = runnable.get_run(evaluate)
    assert [i.path for i in run.inputs] == ["model.txt", "data/features.csv"]
    assert [i.source_run for i in run.inputs] == [train, prepare]
    assert [r.run_id for r in run.upstream()] == [train, prepare]
    assert [r.run_id for r in runnable.get_run(prepare).downstream()] == [train, evaluate]
    assert runnable.get_run(evaluate).downstream() == []


def test_show_lists_inputs_with_sources_and_diff_shows_changed_inputs(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (prepare, train, _evaluate) = chain
    show = run_cli(folder, "runs", "show", train)
    assert show.returncode == 0, show.stderr
    assert "inputs:" in show.stdout
    # The source run stored it under the same path: the run alone is named, on the input's line.
    (line,) = [x for x in show.stdout.split("inputs:")[1].splitlines() if x.startswith("data/features.csv")]
    assert line.split()[-1] == prepare, show.stdout
    (folder / "data/features.csv").write_text("x,y\n9,9\n")
    second = run_step(folder, "train")
    diff = run_cli(folder, "runs", "diff", train, second)
    assert diff.returncode == 0, diff.stderr
    assert "inputs:" in diff.stdout and "~ data/features.csv" in diff.stdout and "no source run" in diff.stdout
    same = run_cli(folder, "runs", "diff", train, train)
    assert "inputs: same" in same.stdout


def test_a_forged_reader_entry_does_not_make_a_downstream_link(chain: tuple[Path, tuple[str, str, str]]) -> None:
    """An input appended by hand to a run's index entry is checked against that run's record."""
    folder, (prepare, train, evaluate) = chain
    record = json.loads((folder / ".run_log_store" / f"{prepare}.json").read_text())
    stored = record["files"][0]
    entry_path = folder / ".run_log_store" / ".content" / f"{evaluate}.json"
    entry = json.loads(entry_path.read_text())
    entry["inputs"].append(["md5:" + stored["hash"]["md5"], "forged.csv"])  # its record never read it
    entry_path.write_text(json.dumps(entry))
    proc = run_cli(folder, "runs", "lineage", prepare, "--down", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "forged.csv" not in proc.stdout and train in proc.stdout


def test_a_chain_of_1100_runs_is_shown_whole(workdir: Path) -> None:
    """Each run read the file its predecessor stored: 1,100 levels, past Python's recursion limit."""
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.record import FileEntry, InputEntry, RunRecord

    store = FileSystemRunLogStore(workdir / ".run_log_store")
    depth = 1100
    for n in range(depth):
        digest = f"{n:032x}"
        inputs = [] if n == 0 else [InputEntry("state.txt", 1, {"md5": f"{n - 1:032x}"},
                                               {"run_id": f"run-{n - 1:04d}", "path": "state.txt", "others": 0})]
        store.put(RunRecord(f"run-{n:04d}", "SUCCESS", {"name": "step"}, f"2026-01-01T{n // 3600:02d}:"
                            f"{n // 60 % 60:02d}:{n % 60:02d}", files=[FileEntry("state.txt", 1, {"md5": digest}, False)],
                            inputs=inputs))
    newest = f"run-{depth - 1:04d}"
    text = run_cli(workdir, "runs", "lineage", newest)
    assert text.returncode == 0, text.stderr
    assert len(text.stdout.splitlines()) == depth and "run-0000" in text.stdout.splitlines()[-1]
    as_json = run_cli(workdir, "runs", "lineage", newest, "--json")
    assert as_json.returncode == 0, as_json.stderr[-500:]
    data = as_json.stdout
    assert data.count('"run_id"') == depth and data.rstrip().endswith("}")
    down = run_cli(workdir, "runs", "lineage", "run-0000", "--down", "--dot")
    assert down.returncode == 0 and down.stdout.count(" -> ") == depth - 1, down.stderr[-500:]


def test_dot_escapes_quotes_and_backslashes_in_labels(workdir: Path) -> None:
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.record import FileEntry, InputEntry, RunRecord

    store = FileSystemRunLogStore(workdir / ".run_log_store")
    store.put(RunRecord("up", "SUCCESS", {"name": 'say "hi" \\ there'}, "2026-01-01T00:00:00",
                        files=[FileEntry("a.txt", 1, {"md5": "1" * 32}, False)]))
    store.put(RunRecord("down", "SUCCESS", {"name": "j"}, "2026-01-01T00:00:01",
                        inputs=[InputEntry("a.txt", 1, {"md5": "1" * 32}, {"run_id": "up", "path": "a.txt", "others": 0})]))
    proc = run_cli(workdir, "runs", "lineage", "down", "--dot")
    assert proc.returncode == 0, proc.stderr
    assert '[label="say \\"hi\\" \\\\ there\\nup\\nSUCCESS"]' in proc.stdout
