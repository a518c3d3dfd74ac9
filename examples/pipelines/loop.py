"""Loop: repeat a branch until its boolean return is true, or max_iterations times.

    python examples/pipelines/loop.py
"""

from runnable import Loop, Pipeline, PythonTask


def improve(attempt: int, score: float = 0.5) -> tuple[float, bool]:
    score = round(score + 0.2, 2)
    print(f"attempt {attempt}: score {score}")
    return score, score >= 0.9


def main() -> Pipeline:
    pipeline = Pipeline(steps=[
        Loop(name="tune", max_iterations=5, break_on="good_enough", index_as="attempt",
             branch=PythonTask(name="improve", function=improve, returns=["score", "good_enough"]).as_pipeline()),
    ])
    pipeline.execute()
    return pipeline


if __name__ == "__main__":
    main()
