"""on_failure: when a task fails, another pipeline runs instead of the rest, and the run succeeds.

    python examples/pipelines/on_failure.py
"""

from runnable import Pipeline, PythonTask, Stub


def fetch_latest() -> None:
    raise ConnectionError("the source is down")


def use_cached() -> None:
    print("using yesterday's data")


def main() -> Pipeline:
    fetch = PythonTask(name="fetch", function=fetch_latest)
    fetch.on_failure = PythonTask(name="cached", function=use_cached).as_pipeline()
    pipeline = Pipeline(steps=[fetch, Stub(name="process")])
    pipeline.execute()
    return pipeline


if __name__ == "__main__":
    main()
