"""Pipelines after the hostile review, part 2: parameters that are objects, shell returns, one-line
errors before anything runs, secrets kept to their own task (real runs of real scripts)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.helpers import only_record, records, run, step, write

PLAIN_CLASS_GIVEN_A_DICT = """
    from runnable import Pipeline, PythonTask

    class Model:
        pass

    def make():
        return {"w": 3}

    def evaluate(model: Model):
        print("never")

    Pipeline(steps=[
        PythonTask(name="make", function=make, returns=["model"]),
        PythonTask(name="evaluate", function=evaluate),
    ]).execute()
"""


def test_a_value_that_is_not_of_a_plain_annotated_class_fails_in_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, PLAIN_CLASS_GIVEN_A_DICT)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "parameter 'model'" in line]
    assert lines and "Model" in lines[0] and "dict" in lines[0], result.stderr
    assert "pydantic" not in result.stderr and "For further information" not in result.stderr, result.stderr
    assert step(only_record(tmp_path), "evaluate")["status"] == "FAIL"


SHELL_EXITS = """
    from runnable import Pipeline, PythonTask, ShellTask
    Pipeline(steps=[
        ShellTask(name="s", command="export x=5\\nexport y='two words'\\nexit 3", returns=["x", "y"],
                  secrets=["MY_TOKEN"]),
    ]).execute()
"""


def test_a_shell_task_that_exits_with_a_failure_keeps_its_code_and_leaves_no_secret_on_disk(tmp_path: Path) -> None:
    result = run(tmp_path, SHELL_EXITS, env={"MY_TOKEN": "sup3rs3cretvalue"})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    entry = step(only_record(tmp_path), "s")
    assert "3" in entry["error"]["message"], entry["error"]
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"sup3rs3cretvalue" in p.read_bytes()]
    assert leaked == []


SHELL_EXEC = """
    from runnable import Pipeline, ShellTask
    Pipeline(steps=[ShellTask(name="s", command="export x=5; exec true", returns=["x"])]).execute()
"""


def test_a_shell_task_that_replaces_its_shell_fails_in_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, SHELL_EXEC)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "FileNotFoundError" not in result.stderr, result.stderr
    assert "without giving back its returns" in step(only_record(tmp_path), "s")["error"]["message"]


LOOP_AS_UPSTREAM = """
    import os
    from runnable import Loop, Pipeline, PythonTask

    def count():
        counter = int(os.environ["counter"])
        return counter, counter >= 2

    def after(counter: int):
        print("final counter", counter, "variable left:", os.environ.get("counter"))

    Pipeline(steps=[
        Loop(name="loop", max_iterations=5, break_on="stop", index_as="counter",
             branch=PythonTask(name="count", function=count, returns=["counter", "stop"]).as_pipeline()),
        PythonTask(name="after", function=after),
    ]).execute()
"""


def test_a_loop_gives_its_index_as_an_environment_variable_and_a_branch_may_return_it(tmp_path: Path) -> None:
    result = run(tmp_path, LOOP_AS_UPSTREAM)
    assert result.returncode == 0, result.stderr
    assert "final counter 2 variable left: None" in result.stdout
    assert step(only_record(tmp_path), "loop")["iterations"] == 3


def test_a_loop_index_that_cannot_be_a_variable_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = run(tmp_path, LOOP_AS_UPSTREAM.replace('index_as="counter"', 'index_as="my counter"'))
    assert result.returncode != 0
    assert "index_as='my counter'" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert records(tmp_path) == []


SHELL_METRIC = """
    from runnable import Pipeline, PythonTask, ShellTask, metric
    Pipeline(steps=[
        ShellTask(name="s", command="export score=0.9 stringer=hello", returns=["stringer", metric("score")]),
        PythonTask(name="p", function=lambda score, stringer: print("got", score, stringer)),
    ]).execute()
"""


def test_a_shell_task_may_return_a_metric_as_upstream_does(tmp_path: Path) -> None:
    result = run(tmp_path, SHELL_METRIC)
    assert result.returncode == 0, result.stderr
    assert "got 0.9 hello" in result.stdout
    record = only_record(tmp_path)
    assert record["metrics"]["score"][0][1] == 0.9
    assert step(record, "s")["returns"] == {"stringer": "hello"}


def test_a_shell_return_that_cannot_be_a_variable_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = run(tmp_path, SHELL_METRIC.replace('"stringer"', '"string er"'))
    assert result.returncode != 0
    assert "'string er' cannot be a shell variable" in result.stderr and "Traceback" not in result.stderr
    assert records(tmp_path) == []


ARGPARSE = """
    import argparse
    from runnable import Pipeline, PythonTask

    def use(integer: int, args: argparse.Namespace):
        print("got", integer, args.floater, args.stringer, hasattr(args, "integer"))

    Pipeline(steps=[PythonTask(name="use", function=use)]).execute(parameters_file="params.yaml")
"""


def test_an_argparse_namespace_argument_receives_the_other_parameters_as_upstream(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("integer: 1\nfloater: 3.14\nstringer: hello\n")
    result = run(tmp_path, ARGPARSE)
    assert result.returncode == 0, result.stderr
    assert "got 1 3.14 hello False" in result.stdout


REFUSED = {
    "parameters_file": ("Pipeline(steps=[Stub(name='a')]).execute(parameters_file='nope.yaml')",
                        "parameters file 'nope.yaml' does not exist"),
    "secret": ("Pipeline(steps=[PythonTask(name='a', function=print, secrets=['NOT_SET_ANYWHERE_X'])]).execute()",
               "secret 'NOT_SET_ANYWHERE_X' is not available"),
    "not_a_step": ("Pipeline(steps=['hello']).execute()", "'hello' is not a step"),
    "notebook": ("Pipeline(steps=[NotebookTask(name='a', notebook='nope.ipynb')]).execute()",
                 "notebook 'nope.ipynb' does not exist"),
    "long_name": ("Pipeline(steps=[Stub(name='x' * 300)]).execute()", "is 300 bytes long"),
    "newline_name": ("Pipeline(steps=[Stub(name='a\\nb')]).execute()", "holds a control character"),
    "deep_name": ("Pipeline(steps=[Parallel(name='p' * 90, branches={'b' * 90: Pipeline(steps=[Stub(name='s' * 90)])})]"
                  ").execute()", "longer than 200 bytes"),
    "return_PATH": ("Pipeline(steps=[PythonTask(name='a', function=lambda: '/nowhere', returns=['PATH'])]).execute()",
                    "a return cannot be named 'PATH'"),
    "index_as_PATH": ("Pipeline(steps=[Loop(name='l', max_iterations=2, break_on='stop', index_as='PATH', "
                      "branch=PythonTask(name='t', function=lambda: True, returns=['stop']).as_pipeline())]).execute()",
                      "index_as='PATH' names an environment variable"),
    "conditional": ("""Pipeline(steps=[PythonTask(name="k", function=lambda: "b", returns=["kind"]),
        Conditional(name="c", parameter="kind", branches={
            "a": PythonTask(name="s", function=lambda: 1, returns=["only_a"]).as_pipeline(),
            "b": Stub(name="s").as_pipeline()}),
        PythonTask(name="n", function=lambda only_a: print(only_a))]).execute()""",
                    "needs the parameter 'only_a'"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_input_is_one_line_before_anything_runs(tmp_path: Path, case: str) -> None:
    line, expected = REFUSED[case]
    body = ("from runnable import Conditional, Loop, NotebookTask, Parallel, Pipeline, PythonTask, Stub\n" + line + "\n")
    result = run(tmp_path, body)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and expected in result.stderr, result.stderr
    assert records(tmp_path) == []


OWN_SECRETS = """
    import os
    from runnable import Map, Pipeline, PythonTask, ShellTask

    def uses():
        print("uses sees", os.environ.get("MY_TOKEN") == "sup3rs3cretvalue")

    def other():
        print("other sees", os.environ.get("MY_TOKEN"))

    Pipeline(steps=[
        PythonTask(name="uses", function=uses, secrets=["MY_TOKEN"]),
        PythonTask(name="other", function=other),
        ShellTask(name="shell", command='echo "shell sees ${MY_TOKEN:-nothing}"'),
        PythonTask(name="items", function=lambda: [1], returns=["items"]),
        Map(name="m", iterate_on="items", iterate_as="i", branch=Pipeline(steps=[
            PythonTask(name="a", function=uses, secrets=["MY_TOKEN"]), PythonTask(name="b", function=other)])),
    ]).execute()
"""


def test_each_task_sees_only_its_own_secrets(tmp_path: Path) -> None:
    result = run(tmp_path, OWN_SECRETS, env={"MY_TOKEN": "sup3rs3cretvalue"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("uses sees True") == 2, result.stdout
    assert result.stdout.count("other sees None") == 2, result.stdout
    assert "shell sees nothing" in result.stdout


MAP_EMPTY = """
    from runnable import Map, Pipeline, PythonTask

    Pipeline(steps=[
        PythonTask(name="items", function=lambda: [], returns=["items"]),
        Map(name="m", iterate_on="items", iterate_as="i",
            branch=PythonTask(name="sq", function=lambda i: i * i, returns=["square"]).as_pipeline()),
        Map(name="r", iterate_on="items", iterate_as="i", reducer="lambda *x: sum(x)",
            branch=PythonTask(name="sq", function=lambda i: i * i, returns=["total"]).as_pipeline()),
        PythonTask(name="show", function=lambda square, total: print("got", square, total)),
    ]).execute()
"""


def test_a_map_over_no_items_returns_empty_lists(tmp_path: Path) -> None:
    result = run(tmp_path, MAP_EMPTY)
    assert result.returncode == 0, result.stderr
    assert "got [] 0" in result.stdout


FAILING = """
    from runnable import Map, Pipeline, PythonTask

    def bad(i: int):
        if i == 1:
            raise ValueError("bad input row 17")

    Pipeline(steps=[
        PythonTask(name="items", function=lambda: [0, 1], returns=["items"]),
        Map(name="m", iterate_on="items", iterate_as="i", branch=PythonTask(name="f", function=bad).as_pipeline()),
    ]).execute()
"""


def test_a_failed_steps_error_is_printed_once_then_the_runs_final_line(tmp_path: Path) -> None:
    result = run(tmp_path, FAILING)
    assert result.returncode == 1
    assert result.stderr.count("ValueError: bad input row 17") == 2, result.stderr  # traceback, final line
    assert result.stderr.splitlines()[-1].startswith("JobFailedError: run ") and "'m.1.f'" in result.stderr


KILLED_SHELL_MAP = """
    from runnable import Map, Pipeline, PythonTask, ShellTask

    Pipeline(steps=[
        PythonTask(name="items", function=lambda: [0, 1], returns=["items"]),
        Map(name="m", iterate_on="items", iterate_as="i", branch=ShellTask(
            name="w", command='touch "started$i"; sleep 3; echo late > "late$i.txt"').as_pipeline()),
    ]).execute()
"""


def test_a_branchs_shell_command_ends_with_a_killed_pipeline(tmp_path: Path) -> None:
    script = write(tmp_path, KILLED_SHELL_MAP)
    process = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(list(tmp_path.glob("started*"))) < 2:
        time.sleep(0.05)
    assert len(list(tmp_path.glob("started*"))) == 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(4)
    assert not list(tmp_path.glob("late*.txt")), "a branch's command went on after its pipeline was killed"


def test_a_branchs_background_command_is_left_alone_when_the_branch_succeeds(tmp_path: Path) -> None:
    body = KILLED_SHELL_MAP.replace("""'touch "started$i"; sleep 3; echo late > "late$i.txt"'""",
                                    """'(sleep 1; echo later > "later$i.txt") &'""")
    result = run(tmp_path, body)
    assert result.returncode == 0, result.stderr
    time.sleep(2)
    assert len(list(tmp_path.glob("later*.txt"))) == 2
