"""Train the same job over a small grid of parameters, then compare the runs.

Each grid point is one run of the job ``train``: a logistic-regression classifier in plain Python
(no ML library needed) on a fixed synthetic data set. The run logs its loss every epoch with
``runnable.log_metric``, returns its accuracy as a ``metric``, the model as a ``pickled`` object and
the number of rows as a plain (JSON) value. Then::

    python examples/12-compare/train_grid.py
    runnable runs compare --job train --sort -metrics.accuracy
    runnable runs compare --job train --where "metrics.accuracy > 0.9 and params.lr == 0.5"
    runnable runs show RUN_ID          # the loss history as one line
"""

import math
import os
import random

import runnable
from runnable import PythonJob, metric, pickled

GRID = [(lr, epochs) for lr in (0.05, 0.5) for epochs in (2, 10, 40)]


def make_data(n: int = 400, seed: int = 5):
    """Two overlapping clouds of points, labelled 0 and 1."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        centre = (3.0, 1.0) if label else (1.0, -1.0)
        rows.append(((rng.gauss(centre[0], 1.0), rng.gauss(centre[1], 1.0)), label))
    return rows


def train(lr: float = 0.1, epochs: int = 10):
    data = make_data()
    w = [0.0, 0.0]
    b = 0.0
    for epoch in range(epochs):
        loss = 0.0
        for (x1, x2), y in data:
            p = 1 / (1 + math.exp(-(w[0] * x1 + w[1] * x2 + b)))
            loss -= math.log(p if y else 1 - p)
            w[0] -= lr * (p - y) * x1 / len(data)
            w[1] -= lr * (p - y) * x2 / len(data)
            b -= lr * (p - y) / len(data)
        runnable.log_metric("loss", round(loss / len(data), 4), step=epoch)
    correct = sum((w[0] * x1 + w[1] * x2 + b > 0) == bool(y) for (x1, x2), y in data)
    model = {"weights": w, "bias": b}
    return round(correct / len(data), 4), model, len(data)


def main():
    job = PythonJob(function=train, name="train", returns=[metric("accuracy"), pickled("model"), "n_rows"])
    # Each grid point's parameters are given as RUNNABLE_PRM_<name> variables (as on a command line).
    names = [f"RUNNABLE_PRM_{name}" for name in ("lr", "epochs")]
    saved = {key: os.environ.get(key) for key in names}
    try:
        for point in GRID:
            os.environ.update({key: str(value) for key, value in zip(names, point, strict=True)})
            job.execute(tags=["grid"])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return job


if __name__ == "__main__":
    main()
