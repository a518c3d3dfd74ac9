"""Pipeline runs in the run browser over plain HTTP: the runs table names them, the run page draws
their steps with each step's details, compare and the report file take them like jobs'."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_cli
from tests.ui.demo import Demo
from tests.ui.helpers import Server
from tests.ui.http import get


def test_the_table_says_pipeline_and_its_name(demo_server: Server, demo: Demo) -> None:
    text = get(demo_server.url, "/").text
    cells = dict(re.findall(r'<tr data-run="([^"]+)".*?<td class="cell-job">(.*?)</td>', text, re.S))
    assert re.sub(r"<[^>]+>", "", cells[demo.pipeline_run]) == "pipeline pipeline"
    assert re.sub(r"<[^>]+>", "", cells[demo.train_runs[0]]) == "python train"


def test_each_step_has_its_details(demo_server: Server, demo: Demo) -> None:
    text = get(demo_server.url, f"/runs/{demo.pipeline_run}").text
    details = dict(re.findall(r'<section class="step-detail on-target" id="(step-\d+)" data-step="([^"]+)"', text))
    assert sorted(details.values()) == ["fit", "fit.forest.forest", "fit.linear.linear", "prepare", "publish",
                                        "publish.on_failure.save_locally"]
    publish = text.split('data-step="publish">', 1)[1].split("</section>", 1)[0]
    assert "<th>attempts</th><td>1</td>" in publish and "<th>rmse_forest</th><td>0.121</td>" in publish
    assert "uploading the forest model" in publish and "ConnectionError" in publish
    saved = text.split('data-step="publish.on_failure.save_locally">', 1)[1].split("</section>", 1)[0]
    assert f'href="/runs/{demo.pipeline_run}/files/models/forest.json?download=1"' in saved
    linear = text.split('data-step="fit.linear.linear">', 1)[1].split("</section>", 1)[0]
    prepare_anchor = next(anchor for anchor, name in details.items() if name == "prepare")
    assert f'from step <a class="mono" href="#{prepare_anchor}">prepare</a>' in linear


def test_a_job_page_has_no_step_section(demo_server: Server, demo: Demo) -> None:
    assert 'id="steps"' not in get(demo_server.url, f"/runs/{demo.train_runs[0]}").text


def test_compare_takes_a_pipeline_run(demo_server: Server, demo: Demo) -> None:
    answer = get(demo_server.url, f"/compare?run={demo.pipeline_run}&run={demo.train_runs[0]}")
    assert answer.status == 200, answer.text
    assert "pipeline pipeline</span>" in answer.text and "python train</span>" in answer.text
    assert ">rmse_forest<" in answer.text and ">loss<" in answer.text  # each run's metrics side by side
    assert 'data-path="models/forest.json"' in answer.text


def test_the_report_file_has_every_step_shown(demo: Demo, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert run_cli(demo.folder, "report", demo.pipeline_run, "-o", str(target)).returncode == 0
    text = target.read_text()
    assert text.count('<section class="step-detail" id="step-') == 6  # not hidden until clicked: no server
    assert "prepared 200 rows" in text and "saved the model to models/forest.json instead" in text
    assert "/runs/" not in text


HOSTILE_PIPELINE = '''
from runnable import Parallel, Pipeline, PythonTask, Stub

def boom():
    raise ValueError("<script>alert('error')</script>")

Pipeline(steps=[
    Parallel(name="<img src=x onerror=alert(1)>", branches={
        "<b onmouseover=alert(2)>": Stub(name="<svg onload=alert(3)>").as_pipeline()}),
    PythonTask(name="<iframe onload=alert(4)>", function=boom),
]).execute()
'''


def test_step_names_branch_keys_and_errors_are_escaped(tmp_path: Path) -> None:
    from tests.conftest import run_python

    (tmp_path / "pipe.py").write_text(HOSTILE_PIPELINE)
    done = run_python(tmp_path / "pipe.py", tmp_path, env={"RUNNABLE_RUN_ID": "hostile-pipe-0001"})
    assert done.returncode == 1, done.stderr
    served = Server(tmp_path)
    try:
        text = get(served.url, "/runs/hostile-pipe-0001").text
    finally:
        served.stop()
    assert 'id="steps"' in text and text.count('class="step-detail') == 3
    for raw in ("<img src=x", "<b onmouseover", "<svg onload", "<iframe", "<script>alert('error')"):
        assert raw not in text, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "&lt;iframe onload=alert(4)&gt;" in text


MAP_PIPELINE = '''
from runnable import Map, Pipeline, PythonTask

def items():
    return list(range(45))

def square(x: int):
    print(f"item {x}")
    if x == 7:
        raise ValueError("seven is unlucky")
    return x * x

Pipeline(steps=[
    PythonTask(name="items", function=items, returns=["xs"]),
    Map(name="squares", iterate_on="xs", iterate_as="x",
        branch=PythonTask(name="square", function=square, returns=["y"]).as_pipeline()),
]).execute()
'''


def test_a_big_map_previews_only_its_failed_steps_logs(tmp_path: Path) -> None:
    """45 items: 47 steps, over STEP_LOG_PREVIEWS; the page reads the failed step's log, not 47."""
    import json

    from runnable.ui.pages.run import STEP_LOG_PREVIEWS
    from tests.conftest import run_python

    (tmp_path / "pipe.py").write_text(MAP_PIPELINE)
    done = run_python(tmp_path / "pipe.py", tmp_path, env={"RUNNABLE_RUN_ID": "big-map-0001"})
    assert done.returncode == 1, done.stderr
    record_path = tmp_path / ".run_log_store" / "big-map-0001.json"
    served = Server(tmp_path)
    try:
        text = get(served.url, "/runs/big-map-0001").text
        assert text.count('class="step-detail') == 47 > STEP_LOG_PREVIEWS
        assert text.count('<pre class="preview-text step-log">') == 1
        failed = text.split('data-step="squares.7.square">', 1)[1].split("</section>", 1)[0]
        # the step's log is previewed; its stdout and stderr lines may interleave in either order
        assert 'class="preview-text step-log">' in failed
        assert "seven is unlucky" in failed and "item 7" in failed.split('class="preview-text step-log">', 1)[1]
        assert text.count("shows the logs of its failed steps only") == 45  # items and the 44 good squares
        # a hand-edited record whose branch holds something that is not a step still shows the others
        record = json.loads(record_path.read_text())
        record["steps"][1]["branches"]["0"] = ["not a step", 3]
        record["steps"][1]["branches"]["1"] = "not a list"
        record_path.write_text(json.dumps(record))
        again = get(served.url, "/runs/big-map-0001")
        assert again.status == 200 and again.text.count('class="step-detail') == 45
    finally:
        served.stop()
