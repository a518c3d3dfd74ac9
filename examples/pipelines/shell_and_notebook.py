"""A shell task (parameters as variables, returns by export) and a notebook task (papermill).

    python examples/pipelines/shell_and_notebook.py    # needs runnable[notebook]
"""

from pathlib import Path

from runnable import NotebookTask, Pipeline, ShellTask

NOTEBOOK = str(Path(__file__).with_name("double.ipynb"))


def main() -> Pipeline:
    pipeline = Pipeline(steps=[
        ShellTask(name="greet", command='echo "hello $who"; export rows=21', returns=["rows"]),
        NotebookTask(name="double", notebook=NOTEBOOK, returns=["doubled"]),
        ShellTask(name="show", command='echo "doubled is $doubled"'),
    ])
    pipeline.execute()
    return pipeline


if __name__ == "__main__":
    main()
