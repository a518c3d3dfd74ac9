"""Files between tasks: one task puts them in the run's catalog, a later task gets them from it.

    python examples/pipelines/catalog.py
"""

from pathlib import Path

from runnable import Catalog, Pipeline, PythonTask


def write_data():
    Path("data").mkdir(exist_ok=True)
    Path("data/clean.csv").write_text("x,y\n1,2\n3,4\n")


def count_rows() -> int:
    rows = Path("data/clean.csv").read_text().splitlines()[1:]
    print(f"{len(rows)} rows")
    return len(rows)


def main() -> Pipeline:
    pipeline = Pipeline(steps=[
        PythonTask(name="write", function=write_data, catalog=Catalog(put=["data/clean.csv"])),
        PythonTask(name="count", function=count_rows, returns=["rows"], catalog=Catalog(get=["data/clean.csv"])),
    ])
    pipeline.execute()
    return pipeline


if __name__ == "__main__":
    main()
