"""Sequential tasks: parameters in (params.yaml, RUNNABLE_PRM_*), returns passed on to later tasks.

    python examples/pipelines/sequential.py    # with examples/pipelines/params.yaml as parameters
"""

from pathlib import Path

from runnable import Pipeline, PythonTask, metric, pickled


def load(rows: int, scale: float = 1.0):
    table = [[i, i * scale] for i in range(rows)]
    return table, len(table)


def summarise(table, n_rows: int):
    total = sum(value for _, value in table)
    print(f"{n_rows} rows, total {total}")
    return total / n_rows


def main() -> Pipeline:
    pipeline = Pipeline(steps=[
        PythonTask(name="load", function=load, returns=[pickled("table"), "n_rows"]),
        PythonTask(name="summarise", function=summarise, returns=[metric("mean")]),
    ])
    pipeline.execute(parameters_file=str(Path(__file__).with_name("params.yaml")))
    return pipeline


if __name__ == "__main__":
    main()
