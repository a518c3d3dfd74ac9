"""A real three-job chain, prepare -> train -> evaluate, each a run in its own subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_python

CHAIN = '''
import sys
from pathlib import Path
from runnable import Catalog, PythonJob

def prepare():
    Path("data").mkdir(exist_ok=True)
    Path("data/features.csv").write_text("x,y\\n1,2\\n3,4\\n")

def train():
    rows = Path("data/features.csv").read_text().splitlines()[1:]
    Path("model.txt").write_text(f"weights from {len(rows)} rows\\n")

def evaluate():
    Path("metrics.json").write_text('{"score": ' + str(len(Path("model.txt").read_text())) + '}\\n')

CATALOGS = {
    "prepare": Catalog(put=["data/"]),
    "train": Catalog(get=["data/features.csv"], put=["model.txt"]),
    "evaluate": Catalog(get=["model.txt", "data/"], put=["metrics.json"]),
}

if __name__ == "__main__":
    name = sys.argv[1]
    PythonJob(function=globals()[name], catalog=CATALOGS[name]).execute()
'''


def write_chain(folder: Path) -> None:
    (folder / "chain.py").write_text(CHAIN)


def run_step(folder: Path, name: str) -> str:
    """Run one job of the chain; return its run id."""
    proc = run_python(folder / "chain.py", folder, name)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout[proc.stdout.index("{"):])["run_id"])


def run_chain(folder: Path) -> tuple[str, str, str]:
    write_chain(folder)
    return run_step(folder, "prepare"), run_step(folder, "train"), run_step(folder, "evaluate")
