"""Parallel branches run at the same time, as processes; their returns meet in the next task.

    python examples/pipelines/parallel.py
"""

from runnable import Parallel, Pipeline, PythonTask


def features() -> int:
    return 12


def labels() -> int:
    return 3


def combine(n_features: int, n_labels: int) -> None:
    print(f"{n_features} features, {n_labels} labels")


def main() -> Pipeline:
    pipeline = Pipeline(steps=[
        Parallel(name="prepare", branches={
            "features": PythonTask(name="features", function=features, returns=["n_features"]).as_pipeline(),
            "labels": PythonTask(name="labels", function=labels, returns=["n_labels"]).as_pipeline(),
        }),
        PythonTask(name="combine", function=combine),
    ])
    pipeline.execute()
    return pipeline


if __name__ == "__main__":
    main()
