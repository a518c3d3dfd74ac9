"""Model training job: a pickled model, the loss per epoch and the final metrics.

Trains a straight-line model by gradient descent in plain Python (no ML library needed) and writes
``trained_model.pkl``, ``training_history.csv`` and ``model_metrics.json``. Parameters come by
argument name: ``RUNNABLE_PRM_epochs=50 python examples/11-jobs/model_training.py``.
"""

import csv
import json
import pickle
import random

from runnable import Catalog, PythonJob


def make_data(n: int = 200, seed: int = 3):
    """Points near y = 3x + 2, with noise."""
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(n)]
    return [(x, 3 * x + 2 + rng.gauss(0, 0.1)) for x in xs]


def train_model(epochs: int = 200, learning_rate: float = 0.1):
    data = make_data()
    weight, bias = 0.0, 0.0
    history = []
    for epoch in range(1, epochs + 1):
        grad_w = sum(2 * (weight * x + bias - y) * x for x, y in data) / len(data)
        grad_b = sum(2 * (weight * x + bias - y) for x, y in data) / len(data)
        weight -= learning_rate * grad_w
        bias -= learning_rate * grad_b
        loss = sum((weight * x + bias - y) ** 2 for x, y in data) / len(data)
        history.append((epoch, loss))

    model = {"kind": "linear", "weight": weight, "bias": bias}
    with open("trained_model.pkl", "wb") as f:
        pickle.dump(model, f)

    with open("training_history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "loss"])
        writer.writerows(history)

    mean_y = sum(y for _, y in data) / len(data)
    total = sum((y - mean_y) ** 2 for _, y in data)
    residual = sum((weight * x + bias - y) ** 2 for x, y in data)
    with open("model_metrics.json", "w") as f:
        json.dump({"r2": 1 - residual / total, "final_loss": history[-1][1], "epochs": epochs}, f, indent=2)

    print(f"trained for {epochs} epochs: weight={weight:.3f} bias={bias:.3f}")
    return model


def main():
    # Store model artifacts
    catalog = Catalog(put=["trained_model.pkl", "training_history.csv", "model_metrics.json"])
    job = PythonJob(function=train_model, catalog=catalog, returns=["model"])

    job.execute()

    return job


if __name__ == "__main__":
    main()
