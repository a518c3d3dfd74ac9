"""A realistic, clean project for the run browser's screenshots and pipeline tests: a small training
job run twice (metrics, a loss plot, a CSV of predictions), an evaluation job that reads their
outputs (lineage), and a pipeline (prepare, two models fitted
in parallel, a publish step that fails and whose on_failure path saves the model locally).

The hostile values (``<script>`` parameters, hostile file names) stay in tests/ui/helpers.py, the
project of the safety tests; nothing here is meant to look odd in docs/img.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run_cli, run_python

PNG = r'''
import struct, zlib

def plot(points, width=320, height=160):
    """A tiny line plot as PNG bytes (blue curve on white, grey axes): no plotting library needed."""
    pixels = [[(255, 255, 255)] * width for _ in range(height)]
    for x in range(width):
        pixels[height - 12][x] = (150, 150, 150)
    for y in range(height):
        pixels[y][12] = (150, 150, 150)
    top, low = max(points), min(points)
    for x in range(12, width):
        i = (x - 12) * (len(points) - 1) / (width - 13)
        a, b = points[int(i)], points[min(int(i) + 1, len(points) - 1)]
        value = a + (b - a) * (i - int(i))
        y = int(8 + (top - value) / ((top - low) or 1) * (height - 24))
        for dy in (-1, 0, 1):
            pixels[y + dy][x] = (31, 111, 235)
    raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in pixels)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
'''

TRAIN = PNG + r'''
import json
from pathlib import Path
from runnable import Catalog, PythonJob, log_metric

def train(learning_rate: float = 0.1, epochs: int = 8, model: str = "linear"):
    losses = [round(1.2 / (1 + epoch * learning_rate * 4) + 0.05, 4) for epoch in range(epochs)]
    for epoch, loss in enumerate(losses):
        log_metric("loss", loss, step=epoch)
        log_metric("accuracy", round(0.6 + 0.35 * (1 - loss / losses[0]), 4), step=epoch)
    Path("plots").mkdir(exist_ok=True)
    Path("plots/loss.png").write_bytes(plot(losses))
    Path("predictions.csv").write_text("house,predicted_price,actual_price\n" + "".join(
        f"{i},{200_000 + i * 1500},{198_500 + i * 1530}\n" for i in range(1, 11)))
    Path("model.json").write_text(json.dumps({"model": model, "learning_rate": learning_rate,
                                              "weights": [0.42, -1.3, 2.71]}, indent=2))
    print(f"trained {model} for {epochs} epochs, final loss {losses[-1]}")
    return losses[-1]

PythonJob(function=train, returns=["final_loss"],
          catalog=Catalog(put=["plots/", "predictions.csv", "model.json"])).execute()
'''

EVALUATE = r'''
import json
from pathlib import Path
from runnable import Catalog, PythonJob

def evaluate():
    model = json.loads(Path("model.json").read_text())
    rows = Path("predictions.csv").read_text().splitlines()[1:]
    errors = [abs(int(p) - int(a)) / int(a) for _, p, a in (r.split(",") for r in rows)]
    Path("evaluation.json").write_text(json.dumps({"model": model["model"], "mape": sum(errors) / len(errors)}))
    return round(sum(errors) / len(errors), 4)

PythonJob(function=evaluate, returns=["mape"],
          catalog=Catalog(get=["model.json", "predictions.csv"], put=["evaluation.json"])).execute()
'''

PIPELINE = r'''
from pathlib import Path
from runnable import Catalog, Parallel, Pipeline, PythonTask, metric

def prepare(rows: int = 200):
    Path("data").mkdir(exist_ok=True)
    Path("data/houses.csv").write_text("size,rooms,price\n" + "".join(
        f"{50 + i},{1 + i % 5},{100_000 + i * 2100}\n" for i in range(rows)))
    print(f"prepared {rows} rows")
    return rows

def fit_linear(n_rows: int):
    rows = Path("data/houses.csv").read_text().splitlines()[1:]
    print(f"linear model on {len(rows)} rows")
    return 0.184

def fit_forest(n_rows: int):
    print(f"random forest on {n_rows} rows, 100 trees")
    return 0.121

def publish(rmse_forest: float):
    print("uploading the forest model (rmse", rmse_forest, ")")
    raise ConnectionError("model registry at registry.internal:443 is unreachable")

def save_locally():
    Path("models").mkdir(exist_ok=True)
    Path("models/forest.json").write_text('{"trees": 100}\n')
    print("saved the model to models/forest.json instead")

fit = Parallel(name="fit", branches={
    "linear": PythonTask(name="linear", function=fit_linear, returns=[metric("rmse_linear")],
                         catalog=Catalog(get=["data/houses.csv"])).as_pipeline(),
    "forest": PythonTask(name="forest", function=fit_forest, returns=[metric("rmse_forest")]).as_pipeline(),
})
upload = PythonTask(name="publish", function=publish)
upload.on_failure = PythonTask(name="save_locally", function=save_locally,
                               catalog=Catalog(put=["models/forest.json"])).as_pipeline()
Pipeline(steps=[
    PythonTask(name="prepare", function=prepare, returns=["n_rows"], catalog=Catalog(put=["data/houses.csv"])),
    fit,
    upload,
]).execute()
'''

# (run id, parameters): oldest first
TRAIN_RUNS = [
    ("bold-hopper-0412", {"learning_rate": 0.05, "epochs": 8, "model": "linear"}),
    ("keen-lovelace-0413", {"learning_rate": 0.2, "epochs": 8, "model": "linear"}),
]
EVALUATE_RUN = "fond-noether-0415"
PIPELINE_RUN = "quiet-shannon-0414"


@dataclass
class Demo:
    folder: Path
    train_runs: list[str]
    pipeline_run: str
    evaluate_run: str  # read the model of the second training run and the predictions of both


def make_demo(folder: Path) -> Demo:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(TRAIN)
    for run_id, params in TRAIN_RUNS:
        (folder / "params.yaml").write_text(json.dumps(params))
        done = run_cli(folder, "execute-job", "train.py", "--run-id", run_id, "--parameters", "params.yaml",
                       "--tag", "houses")
        assert done.returncode == 0, done.stderr
    (folder / "evaluate.py").write_text(EVALUATE)
    done = run_cli(folder, "execute-job", "evaluate.py", "--run-id", EVALUATE_RUN)
    assert done.returncode == 0, done.stderr
    (folder / "pipeline.py").write_text(PIPELINE)
    done = run_python(folder / "pipeline.py", folder, env={"RUNNABLE_RUN_ID": PIPELINE_RUN})
    assert done.returncode == 0, done.stderr  # publish failed; its on_failure path succeeded
    return Demo(folder, [r for r, _ in TRAIN_RUNS], PIPELINE_RUN, EVALUATE_RUN)
