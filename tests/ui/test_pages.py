"""The run browser's pages over real runs, through the real server: what each page shows, filters,
sorting, paging and the JSON endpoints."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.ui.helpers import XSS, Project, Server
from tests.ui.http import get


def run_ids_in(html: str) -> list[str]:
    return re.findall(r'<tr data-run="([^"]+)"', html)


def test_the_table_lists_every_run_newest_first(server: Server, ui_project: Project) -> None:
    page = get(server.url, "/")
    assert page.status == 200
    ids = run_ids_in(page.text)
    assert len(ids) == 6
    assert ids[-3:] == ["ui-fail-0003", "ui-train-0002", "ui-train-0001"]
    assert ids[0] == ui_project.chain[2]
    # a column per metric
    assert 'data-column="metric:loss"' in page.text and 'data-column="metric:accuracy"' in page.text


def test_filters_by_status_tag_job_and_text(server: Server, ui_project: Project) -> None:
    assert run_ids_in(get(server.url, "/?status=FAIL").text) == ["ui-fail-0003"]
    assert run_ids_in(get(server.url, "/?tag=best").text) == ["ui-train-0002"]
    assert run_ids_in(get(server.url, "/?job=prepare").text) == [ui_project.chain[0]]
    assert run_ids_in(get(server.url, "/?q=smaller").text) == ["ui-train-0002"]  # a parameter's value
    assert run_ids_in(get(server.url, "/?status=SUCCESS&tag=exp").text) == ["ui-train-0002", "ui-train-0001"]
    assert "No runs match." in get(server.url, "/?q=nothing-like-this").text


def test_sorts_by_a_metric_either_way_runs_without_it_last(server: Server) -> None:
    up = run_ids_in(get(server.url, "/?sort=metric:loss").text)
    assert up[:3] == ["ui-fail-0003", "ui-train-0001", "ui-train-0002"]  # 0.167, 0.2, 0.667
    down = run_ids_in(get(server.url, "/?sort=-metric:loss").text)
    assert down[:3] == ["ui-train-0002", "ui-train-0001", "ui-fail-0003"]
    assert set(up[3:]) == set(down[3:])  # the chain's runs have no loss: last both ways
    by_id = run_ids_in(get(server.url, "/?sort=run_id").text)
    assert by_id == sorted(by_id) and len(by_id) == 6


def test_pages_on_the_server(server: Server) -> None:
    first = get(server.url, "/?per=4&sort=run_id")
    second = get(server.url, "/?per=4&sort=run_id&page=2")
    assert len(run_ids_in(first.text)) == 4 and len(run_ids_in(second.text)) == 2
    assert "page 2 of 2" in second.text
    assert not set(run_ids_in(first.text)) & set(run_ids_in(second.text))
    assert run_ids_in(get(server.url, "/?per=4&page=99").text) == run_ids_in(
        get(server.url, "/?per=4&page=2").text)  # past the end: the last page
    assert get(server.url, "/?page=x&per=-3&sort=nonsense").status == 200  # a hand-edited URL: defaults


def test_json_rows_and_status(server: Server) -> None:
    data = json.loads(get(server.url, "/api/runs?status=FAIL").body)
    assert data["total"] == 1 and data["runs"][0]["run_id"] == "ui-fail-0003"
    assert data["runs"][0]["metrics"]["loss"] > 0
    status = json.loads(get(server.url, "/api/status?id=ui-train-0001&id=nope").body)
    assert list(status) == ["ui-train-0001"] and status["ui-train-0001"]["status"] == "SUCCESS"


def test_run_page_shows_everything_the_run_recorded(server: Server) -> None:
    page = get(server.url, "/runs/ui-train-0001")
    assert page.status == 200
    text = page.text
    for expected in ("SUCCESS", "lr", "0.1", "learning rate 0.1", "trained with lr=0.1", "epoch", "0.9091",
                     "&#34;lr&#34;: 0.1", "hello from the notebook", "output of type text/html not shown"):
        assert expected in text, expected
    assert '<img class="preview-image" src="/runs/ui-train-0001/files/plots/loss.png"' in text
    assert text.count("<polyline") == 2  # a chart per metric history: loss, accuracy
    assert "not shown in the page" in text  # page.html and drawing.svg: download only


def test_failed_run_shows_its_error_and_traceback(server: Server) -> None:
    text = get(server.url, "/runs/ui-fail-0003").text
    assert "RuntimeError: diverged: too big" in text
    assert "Traceback" in text


def test_inputs_link_to_the_runs_that_made_them(server: Server, ui_project: Project) -> None:
    prepare, train, evaluate = ui_project.chain
    text = get(server.url, f"/runs/{evaluate}").text
    assert f'href="/runs/{train}"' in text and f'href="/runs/{prepare}"' in text
    assert "model.txt" in text


def test_compare_shows_only_what_changed_by_default(server: Server) -> None:
    text = get(server.url, "/compare?run=ui-train-0001&run=ui-train-0002").text
    assert ">epochs<" in text and ">lr<" in text
    assert ">fail<" not in text  # the same (false) in both: hidden
    assert "1 the same in every run hidden" in text
    assert ">fail<" in get(server.url, "/compare?run=ui-train-0001&run=ui-train-0002&all=1").text
    charts = re.findall(r'<figure class="metric" data-metric="(\w+)">(.*?)</figure>', text, re.S)
    assert {name for name, _ in charts} == {"accuracy", "loss"}
    assert all(chart.count("<polyline") == 2 for _, chart in charts)  # both runs' histories overlaid
    rows = dict(re.findall(r'<tr class="(same|changed)" data-path="([^"]+)"', text)[i][::-1] for i in range(9))
    assert rows["table.csv"] == "changed" and rows["page.html"] == "same"
    assert text.count('src="/runs/ui-train-000') == 2  # the image of the same path side by side


def test_compare_needs_two_runs(server: Server) -> None:
    one = get(server.url, "/compare?run=ui-train-0001")
    assert one.status == 400 and "pick two or more runs" in one.text


def test_lineage_links_runs_both_ways(server: Server, ui_project: Project) -> None:
    prepare, train, evaluate = ui_project.chain
    text = get(server.url, f"/runs/{train}/lineage").text
    assert f'href="/runs/{prepare}/lineage"' in text and f'href="/runs/{evaluate}/lineage"' in text
    assert "data/features.csv" in text and "model.txt" in text


def test_unknown_run_is_a_404_page_naming_close_ids(server: Server) -> None:
    for path in ("/runs/ui-train-000", "/runs/ui-train-000/lineage", "/compare?run=ui-train-0001&run=nope"):
        answer = get(server.url, path)
        assert answer.status == 404, path
        assert "no run" in answer.text
    assert "ui-train-0001" in get(server.url, "/runs/ui-train-000").text  # did you mean
    assert get(server.url, "/runs/bad%20id!").status == 404


def test_user_values_are_escaped(server: Server) -> None:
    """A parameter holding a script tag and a file named like an <img onerror> are shown as text."""
    for path in ("/runs/ui-train-0001", "/compare?run=ui-train-0001&run=ui-train-0002", "/?q=script"):
        text = get(server.url, path).text
        assert XSS not in text and "<img src=x" not in text, path
    text = get(server.url, "/runs/ui-train-0001").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;&#34;q&#39;.txt" in text


def test_an_unreadable_record_is_a_row_and_a_clear_page(ui_project: Project, tmp_path: Path) -> None:
    own = tmp_path / "own"
    shutil.copytree(ui_project.folder, own, symlinks=True)
    (own / ".run_log_store" / "ui-train-0002.json").write_text('{"run_id": "ui-train-0002", "status": "MAYBE"')
    served = Server(own)
    try:
        table = get(served.url, "/").text
        assert 'data-run="ui-train-0002" class="row-unreadable"' in table
        page = get(served.url, "/runs/ui-train-0002")
        assert page.status == 422
        assert "ui-train-0002.json is not valid JSON" in page.text and "Traceback" not in page.text
        assert get(served.url, "/runs/ui-train-0001").status == 200  # the others are untouched
    finally:
        err = served.stop()
    assert "Traceback" not in err
