"""Map: one branch per item of a list parameter, concurrently; returns reduced with a reducer.

    python examples/pipelines/map_reduce.py
"""

from runnable import Map, Pipeline, PythonTask


def chunks() -> list[int]:
    return [1, 2, 3, 4]


def square(chunk: int) -> int:
    return chunk * chunk


def report(total: int) -> None:
    print(f"sum of squares: {total}")


def main() -> Pipeline:
    pipeline = Pipeline(steps=[
        PythonTask(name="chunks", function=chunks, returns=["chunks"]),
        Map(name="squares", iterate_on="chunks", iterate_as="chunk", reducer="lambda *x: sum(x)",
            branch=PythonTask(name="square", function=square, returns=["total"]).as_pipeline()),
        PythonTask(name="report", function=report),
    ])
    pipeline.execute()
    return pipeline


if __name__ == "__main__":
    main()
