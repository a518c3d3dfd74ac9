"""Conditional: the branch named by a parameter's value runs (RUNNABLE_PRM_kind=json picks the other).

    python examples/pipelines/conditional.py
"""

from runnable import Conditional, Pipeline, PythonTask


def detect() -> str:
    return "csv"


def read_csv() -> None:
    print("reading CSV")


def read_json() -> None:
    print("reading JSON")


def main() -> Pipeline:
    pipeline = Pipeline(steps=[
        PythonTask(name="detect", function=detect, returns=["kind"]),
        Conditional(name="read", parameter="kind", branches={
            "csv": PythonTask(name="read", function=read_csv).as_pipeline(),
            "json": PythonTask(name="read", function=read_json).as_pipeline(),
        }),
    ])
    pipeline.execute()
    return pipeline


if __name__ == "__main__":
    main()
