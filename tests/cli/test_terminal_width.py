"""Every command that prints a table fits a real 80-column terminal without splitting a run id.

The terminal is a real one: tmux runs the command in a pseudo-terminal 80 columns wide and
``capture-pane`` returns the screen as drawn, wrapped lines included. Piped output stays whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli

tmux = shutil.which("tmux")
pytestmark = pytest.mark.skipif(tmux is None, reason="needs tmux for a real 80-column terminal "
                                                       "(apt-get install -y tmux; .ci/run installs it)")

# A function name as long as people write them, so the JOB column is not conveniently short.
JOB = '''
from pathlib import Path
from runnable import Catalog, PythonJob

def summarise_quarterly_sales(rows: int = 3, fail: bool = False):
    Path("reports").mkdir(exist_ok=True)
    Path("reports/by_region_and_quarter.csv").write_text("a,b\\n" + "".join(f"{i},{i}\\n" for i in range(rows)))
    Path("summary.txt").write_text(f"{rows} rows\\n")
    if fail:
        raise RuntimeError("asked to fail")

PythonJob(function=summarise_quarterly_sales, catalog=Catalog(put=["reports/", "summary.txt"])).execute()
'''


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Three real runs with generated ids (the 20-character kind people copy): two good, one failed."""
    folder = tmp_path_factory.mktemp("width")
    (folder / "job.py").write_text(JOB)
    ids = []
    for params in ({"rows": 3}, {"rows": 5}, {"rows": 2, "fail": True}):
        (folder / "params.yaml").write_text(json.dumps(params))
        done = run_cli(folder, "execute-job", "job.py", "--parameters", "params.yaml")
        assert done.returncode == (1 if params.get("fail") else 0), done.stderr
        ids.append(json.loads(done.stdout[done.stdout.index("{\n"):])["run_id"])
    return folder, ids


@pytest.fixture(scope="module")
def terminal() -> Iterator[str]:
    """A private tmux server; yields its socket name."""
    socket = f"runnable-test-{uuid.uuid4().hex[:8]}"
    # One idle session keeps the server up between commands (it exits with its last session).
    subprocess.run([str(tmux), "-L", socket, "new-session", "-d", "-s", "keep", "sleep 3600"], env=_env(), check=True)
    yield socket
    subprocess.run([str(tmux), "-L", socket, "kill-server"], capture_output=True, check=False)


def _env() -> dict[str, str]:
    """This interpreter's ``runnable`` first on the PATH; no inherited width (COLUMNS) or RUNNABLE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_") and k not in ("COLUMNS", "LINES")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TERM"] = "xterm-256color"
    return env


def on_terminal(socket: str, folder: Path, command: str, width: int = 80) -> str:
    """The screen after running ``command`` in a ``width``-column terminal, as the user sees it."""
    session = uuid.uuid4().hex[:8]
    marker = "__END_OF_COMMAND__"
    shell = f"cd {shlex.quote(str(folder))} && {command}; echo {marker}; sleep 60"
    subprocess.run([str(tmux), "-L", socket, "new-session", "-d", "-s", session, "-x", str(width), "-y", "150",
                    shell], env=_env(), check=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            screen = subprocess.run([str(tmux), "-L", socket, "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True, check=True).stdout
            if marker in screen or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert marker in screen, screen
        return screen[: screen.index(marker)]
    finally:
        subprocess.run([str(tmux), "-L", socket, "kill-session", "-t", session], capture_output=True, check=False)


def assert_fits(screen: str, ids: list[str], width: int = 80) -> None:
    """Every line fits; every id (or hash) on screen is whole on one line."""
    lines = screen.splitlines()
    assert all(len(line) <= width for line in lines)
    flat = re.sub(r"\s+", "", screen)
    for run_id in ids:
        if run_id in flat:  # on screen: whole, on one line, never split across two
            assert any(run_id in line for line in lines), f"{run_id} is split across lines:\n{screen}"


def test_runs_list_fits_80_columns_and_says_what_it_hid(runs: tuple[Path, list[str]], terminal: str) -> None:
    folder, ids = runs
    screen = on_terminal(terminal, folder, "runnable runs list")
    assert_fits(screen, ids)
    for run_id in ids:
        assert any(line.startswith(run_id) for line in screen.splitlines()), screen
    # What went is said in one line (which columns depends on the ids' length).
    assert re.search(r"^\(hidden: STORED.*; shortened: START \(UTC\); --wide shows all\)$", screen, re.M), screen
    assert "summarise_quarterly_sales" in screen  # the job column stays, whole


def test_runs_list_wide_shows_every_column(runs: tuple[Path, list[str]], terminal: str) -> None:
    folder, ids = runs
    screen = on_terminal(terminal, folder, "runnable runs list --wide", width=200)
    for header in ("RUN ID", "STATUS", "START (UTC)", "DURATION", "JOB", "FILES", "STORED"):
        assert header in screen
    assert "hidden" not in screen


def test_piped_output_keeps_every_column(runs: tuple[Path, list[str]]) -> None:
    folder, ids = runs
    done = run_cli(folder, "runs", "list")
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["RUN", "ID", "STATUS", "START", "(UTC)", "DURATION", "JOB", "FILES", "STORED"]
    assert sorted(row.split()[0] for row in rows) == sorted(ids)
    assert "--wide" not in done.stdout


@pytest.mark.parametrize("command", [
    "runnable runs show {0}",
    "runnable runs diff {0} {1}",
    "runnable catalog verify --all",
    "runnable gc --dry-run",
    "runnable logs {0}",
])
def test_every_table_command_fits_80_columns(runs: tuple[Path, list[str]], terminal: str, command: str) -> None:
    folder, ids = runs
    screen = on_terminal(terminal, folder, command.format(*ids))
    digests = [digest for run_id in ids
               for f in json.loads((folder / ".run_log_store" / f"{run_id}.json").read_text())["files"]
               for digest in f["hash"].values()]
    assert_fits(screen, ids + digests)  # hashes, as runs diff prints them, are not split either
    assert "Traceback" not in screen and "Error" not in screen, screen
    if "show" in command:
        assert "reports/by_region_and_quarter.csv" in screen  # a path is never cut either
    if "verify" in command:
        assert all(any(line.startswith(run_id) for line in screen.splitlines()) for run_id in ids), screen


def test_show_wide_keeps_full_hashes(runs: tuple[Path, list[str]], terminal: str) -> None:
    folder, ids = runs
    record = json.loads((folder / ".run_log_store" / f"{ids[0]}.json").read_text())
    digest = record["files"][0]["hash"]["md5"]
    narrow = on_terminal(terminal, folder, f"runnable runs show {ids[0]}")
    wide = on_terminal(terminal, folder, f"runnable runs show --wide {ids[0]}", width=200)
    assert digest[:12] in narrow
    assert digest in wide


def test_problems_with_hashes_fit_80_columns(runs: tuple[Path, list[str]], terminal: str, tmp_path: Path) -> None:
    """A CORRUPT file's detail names hashes: verify shortens them to fit and wraps at spaces only;
    catalog get names them in full, each whole on its line."""
    folder = tmp_path / "copy"
    shutil.copytree(runs[0], folder, symlinks=True)
    ids = runs[1]
    record = json.loads((folder / ".run_log_store" / f"{ids[0]}.json").read_text())
    entry = record["files"][0]
    digest = entry["hash"]["md5"]
    stored = folder / ".catalog" / ".objects" / "md5" / digest[:2] / digest[2:]
    stored.chmod(0o644)
    stored.write_bytes(b"X" + stored.read_bytes()[1:])  # the same size, other bytes
    bad = hashlib.md5(stored.read_bytes()).hexdigest()
    screen = on_terminal(terminal, folder, f"runnable catalog verify {ids[0]}")
    assert_fits(screen, [*ids, bad])
    # Either shortened in the table, or in full below it when the long file names leave no room.
    assert "CORRUPT" in screen and (re.search(rf"hashing to {bad[:12]}…$", screen, re.M) or bad in screen), screen
    got = on_terminal(terminal, folder, f"runnable catalog get {ids[0]} {entry['path']} --to again")
    damaged = re.search(r"read md5:([0-9a-f]{32})", re.sub(r"\s+", " ", got))
    assert damaged is not None, got
    assert_fits(got, [digest, damaged[1]])
    wide = on_terminal(terminal, folder, f"runnable catalog verify --wide {ids[0]}", width=200)
    assert damaged[1] in wide  # --wide: the full hash


def test_compare_hides_what_does_not_fit_and_never_cuts_a_value(runs: tuple[Path, list[str]], terminal: str) -> None:
    folder, ids = runs
    screen = on_terminal(terminal, folder, "runnable runs compare --all-columns", width=60)
    assert_fits(screen, ids, width=60)
    assert "…" not in screen, screen  # no value cut short with an ellipsis
    note = re.search(r"\(hidden: ([^)]*); --wide shows all\)", " ".join(screen.split()))
    assert note is not None, screen
    assert "params.rows" not in note[1], screen  # the run's own columns go last: job, status and start first
    wide = on_terminal(terminal, folder, "runnable runs compare --all-columns --wide", width=250)
    assert "hidden" not in wide and "files.summary.txt" in wide


def test_the_line_that_ends_a_failed_run_is_broken_at_spaces(runs: tuple[Path, list[str]], terminal: str,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "fail"
    folder.mkdir()
    (folder / "job.py").write_text(JOB)
    screen = on_terminal(terminal, folder, "RUNNABLE_PRM_fail=true RUNNABLE_PRM_rows=2 python job.py", width=60)
    (record,) = (folder / ".run_log_store").glob("*.json")
    assert_fits(screen, [record.stem], width=60)
    assert any(f".run_log_store/{record.name}" in line for line in screen.splitlines()), screen


CHAIN = '''
import sys
from pathlib import Path
from runnable import Catalog, PythonJob

def make_the_training_data_for_the_model():
    Path("data").mkdir(exist_ok=True)
    Path("data/training_rows_for_the_quarterly_model.csv").write_text("a,b\\n1,2\\n")

def fit_the_quarterly_forecasting_model():
    Path("model.txt").write_text("fitted")

if sys.argv[1] == "prepare":
    PythonJob(function=make_the_training_data_for_the_model,
              catalog=Catalog(put=["data/"])).execute()
else:
    PythonJob(function=fit_the_quarterly_forecasting_model,
              catalog=Catalog(get=["data/"], put=["model.txt"])).execute()
'''


def test_inputs_and_lineage_keep_ids_whole_on_a_narrow_terminal(terminal: str, tmp_path: Path) -> None:
    folder = tmp_path / "chain"
    folder.mkdir()
    (folder / "chain.py").write_text(CHAIN)
    made = {}
    for step in ("prepare", "train"):
        done = subprocess.run([sys.executable, "chain.py", step], cwd=folder, env=_env(), capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        made[step] = json.loads(done.stdout[done.stdout.index("{\n"):])["run_id"]
    ids = list(made.values())
    shown = on_terminal(terminal, folder, f"runnable runs show {made['train']}")
    assert_fits(shown, ids)
    # The input's source run is named whole on the input's line, never cut to fit.
    (line,) = [x for x in shown.splitlines() if "training_rows_for_the_quarterly_model.csv" in x]
    assert made["prepare"] in line, shown
    for start, option in ((made["train"], ""), (made["prepare"], " --down")):
        tree = on_terminal(terminal, folder, f"runnable runs lineage {start}{option}", width=60)
        assert_fits(tree, ids, width=60)
        assert all(run_id in tree for run_id in ids), tree
