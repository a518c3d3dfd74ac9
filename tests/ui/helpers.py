"""A small project for the run browser's tests: real runs of real jobs (metrics, an image, CSV, JSON,
a notebook file, HTML, hostile file names, a failing run, a lineage chain), and the real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run_cli
from tests.lineage_helpers import run_chain

HOSTILE_NAME = "<img src=x onerror=alert(1)>&\"q'.txt"
PERCENT_NAME = "a%2Fb.txt"
XSS = "<script>alert('x')</script>"

TRAIN = r'''
import json, struct, zlib
from pathlib import Path
from runnable import Catalog, PythonJob, log_metric

def png(width, height, rgb):
    # a left-to-right fade from white to rgb
    row = b"".join(bytes(255 - (255 - c) * x // (width - 1) for c in rgb) for x in range(width))
    raw = b"".join(b"\x00" + row for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

NOTEBOOK = {"cells": [
    {"cell_type": "markdown", "source": ["# Report\n"], "metadata": {}},
    {"cell_type": "code", "source": ["print('hello from the notebook')"], "metadata": {}, "execution_count": 1,
     "outputs": [{"output_type": "stream", "name": "stdout", "text": ["hello from the notebook\n"]},
                 {"output_type": "display_data", "metadata": {}, "data": {"text/html": ["<script>alert(1)</script>"]}}]},
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

def train(lr: float = 0.1, epochs: int = 5, note: str = "", fail: bool = False):
    Path("plots").mkdir(exist_ok=True)
    colour = (40, 110, 220) if lr >= 0.05 else (220, 60, 50)
    Path("plots/loss.png").write_bytes(png(160, 90, colour))
    Path("table.csv").write_text("epoch,loss\n" + "".join(f"{e},{1 / (1 + e * lr):.4f}\n" for e in range(epochs)))
    Path("summary.json").write_text(json.dumps({"lr": lr, "epochs": epochs, "note": note}))
    Path("notes.md").write_text(f"# Notes\n\nlearning rate {lr}\n")
    Path("page.html").write_text("<html><body><script>document.title='owned'</script>hi</body></html>")
    Path("drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    Path("report.ipynb").write_text(json.dumps(NOTEBOOK))
    Path(HOSTILE).write_text("hostile name\n")
    Path(PERCENT).write_text("percent name\n")
    for epoch in range(epochs):
        log_metric("loss", 1 / (1 + epoch * lr * 10), step=epoch)
        log_metric("accuracy", 0.5 + epoch * lr, step=epoch)
    print(f"trained with lr={lr}")
    if fail:
        raise RuntimeError("diverged: " + note)

HOSTILE = HOSTILE_NAME
PERCENT = PERCENT_NAME
PythonJob(function=train, catalog=Catalog(put=["plots/", "table.csv", "summary.json", "notes.md", "page.html",
                                            "drawing.svg", "report.ipynb", HOSTILE, PERCENT])).execute()
'''.replace("HOSTILE_NAME", repr(HOSTILE_NAME)).replace("PERCENT_NAME", repr(PERCENT_NAME))

# (run id, parameters, tags): oldest first
TRAIN_RUNS = [
    ("ui-train-0001", {"lr": 0.1, "epochs": 5, "note": XSS}, ["exp"]),
    ("ui-train-0002", {"lr": 0.01, "epochs": 6, "note": "smaller"}, ["exp", "best"]),
    ("ui-fail-0003", {"lr": 0.5, "epochs": 2, "note": "too big", "fail": True}, []),
]


@dataclass
class Project:
    folder: Path
    chain: tuple[str, str, str]  # prepare, train, evaluate run ids

    def files(self) -> dict[str, bytes]:
        """Every file under the catalog and the run-log store but the listing index (a cache)."""
        out = {}
        for top in (".catalog", ".run_log_store"):
            for path in sorted((self.folder / top).rglob("*")):
                if path.is_file() and not path.name.startswith(".index") and ".content" not in path.parts:
                    out[str(path.relative_to(self.folder))] = path.read_bytes()
        return out


def make_project(folder: Path, env: dict[str, str] | None = None, config: str | None = None) -> Project:
    """The training runs and, on the default local stores, the lineage chain; with ``config``, the
    training runs only, in the stores that configuration names (S3)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(TRAIN)
    for run_id, params, tags in TRAIN_RUNS:
        (folder / "params.yaml").write_text(json.dumps(params))
        args = ["execute-job", "train.py", "--run-id", run_id, "--parameters", "params.yaml"]
        if config:
            args += ["--config", config]
        for tag in tags:
            args += ["--tag", tag]
        result = run_cli(folder, *args, env=env)
        assert result.returncode == (1 if params.get("fail") else 0), result.stderr
    if config:
        return Project(folder, ("", "", ""))
    return Project(folder, run_chain(folder))


class Server:
    """``runnable ui`` in a real subprocess on 127.0.0.1 and a free port (``--port 0``)."""

    def __init__(self, folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
        full_env.update(env or {})
        self.process = subprocess.Popen([sys.executable, "-m", "runnable", "ui", "--port", "0", *args], cwd=folder,
                                        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once the socket is bound
        match = re.search(r"(http://\S+/)", line)
        if match is None:
            self.stop()
            raise AssertionError(f"runnable ui printed {line!r}; stderr: {self.process.stderr.read() if self.process.stderr else ''}")
        self.url = match.group(1).rstrip("/")
        self.first_line = line
        self._wait()

    def _wait(self) -> None:
        import urllib.request

        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.url + "/static/style.css", timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> str:
        """Stop the server; return what it wrote to stderr."""
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err or ""
