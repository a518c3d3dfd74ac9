"""The run browser in a real Chromium (Debian's ``chromium``, driven by Playwright) against the real
server over real runs: the table, filters and sorting, a run with its image and charts, compare,
lineage links, live status, and a generated report opened from disk.

Skipped, with the reason in pytest's summary, where /usr/bin/chromium is not installed
(``apt-get install chromium``; ``.ci/run`` installs it). With ``RUNNABLE_UI_SCREENSHOTS=docs/img``
the tests also save the screenshots docs/ui.md shows, taken over the clean demo project
(tests/ui/demo.py), not over the hostile values the other tests use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli
from tests.ui.demo import Demo
from tests.ui.helpers import Project, Server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium); not installed here",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (the test extra)")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = os.environ.get("RUNNABLE_UI_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@contextmanager
def _checked_page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    opened.on("request", lambda r: requests.append(r.url))
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    elsewhere = [u for u in requests if not u.startswith((server.url + "/", "data:", "file://"))]
    assert not elsewhere, f"requests to other hosts: {elsewhere}"
    assert not errors, errors


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh page; fails the test if it asked any host but the server (or had a script error)."""
    with _checked_page(browser, server) as opened:
        yield opened


@pytest.fixture
def demo_page(browser: Any, demo_server: Server) -> Iterator[Any]:
    """The same, on the clean demo project (tests/ui/demo.py) the screenshots show."""
    with _checked_page(browser, demo_server) as opened:
        yield opened


def shot(page: Any, name: str, full_page: bool = True) -> None:
    if SHOTS:
        folder = Path(SHOTS) if os.path.isabs(SHOTS) else REPO / SHOTS
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), full_page=full_page)


def table_ids(page: Any) -> list[str]:
    return [str(x) for x in page.locator("table.runs tbody tr[data-run]").evaluate_all(
        "rows => rows.map(r => r.dataset.run)")]


def test_table_filter_and_sort(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    assert len(table_ids(page)) == 6
    page.select_option("select[name=status]", "FAIL")
    page.click("button:text('Filter')")
    page.wait_for_url("**/?*status=FAIL*")
    assert table_ids(page) == ["ui-fail-0003"]
    page.goto(server.url + "/")
    page.click("th a[data-column='metric:loss']")
    page.wait_for_url("**sort=-metric*")
    assert table_ids(page)[:3] == ["ui-train-0002", "ui-train-0001", "ui-fail-0003"]
    page.click("th a[data-column='metric:loss']")  # again: ascending
    page.wait_for_url("**sort=metric*")
    assert table_ids(page)[:3] == ["ui-fail-0003", "ui-train-0001", "ui-train-0002"]


def test_open_a_run_see_its_image_and_charts(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.click("a:text('ui-train-0001')")
    page.wait_for_url("**/runs/ui-train-0001")
    image = page.locator("article[data-path='plots/loss.png'] img")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 160", arg=image.element_handle())
    assert page.locator("figure[data-metric='loss'] svg polyline").count() == 1
    assert page.locator("figure[data-metric='accuracy'] svg polyline").count() == 1
    assert page.locator("article[data-path='table.csv'] table tr").count() == 6
    assert page.title() == "ui-train-0001 - runnable"  # page.html's script never ran here


def test_compare_two_runs_from_the_table(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.check("input[value='ui-train-0001']")
    page.check("input[value='ui-train-0002']")
    page.click("#compare-button")
    page.wait_for_url("**/compare?*")
    assert page.locator("figure[data-metric='loss'] svg polyline").count() == 2
    assert page.locator("#images img").count() == 2
    assert page.locator("#files tr[data-path='table.csv'] .tag.changed").count() == 1
    assert page.locator("#parameters tr >> text=fail").count() == 0
    page.click("#show-all")
    page.wait_for_url("**all=1*")
    assert page.locator("#parameters th:text-is('fail')").count() == 1


def test_follow_a_lineage_link(page: Any, server: Server, ui_project: Project) -> None:
    prepare, train, evaluate = ui_project.chain
    page.goto(f"{server.url}/runs/{evaluate}")
    page.click("a:text('lineage')")
    page.wait_for_url(f"**/runs/{evaluate}/lineage")
    page.locator(f"svg.lineage a[href='/runs/{prepare}/lineage']").click()
    page.wait_for_url(f"**/runs/{prepare}/lineage")
    assert page.locator(f"#downstream a:text('{train}')").count() == 1


def test_open_a_generated_report(page: Any, ui_project: Project, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert run_cli(ui_project.folder, "report", "ui-train-0002", "-o", str(target)).returncode == 0
    page.goto(target.as_uri())
    image = page.locator("article[data-path='plots/loss.png'] img")
    page.wait_for_function("img => img.complete && img.naturalWidth === 160", arg=image.element_handle())
    assert page.locator("figure[data-metric='loss'] svg polyline").count() == 1
    assert page.locator("text=learning rate 0.01").count() == 1


SLOW = '''
import time
from pathlib import Path
from runnable import PythonJob, log_metric

def slow():
    log_metric("loss", 1.0)
    deadline = time.time() + 60
    while not Path("release").exists() and time.time() < deadline:
        time.sleep(0.05)

PythonJob(function=slow).execute()
'''


def test_a_running_run_updates_without_a_reload(browser: Any, tmp_path: Path) -> None:
    folder = tmp_path / "live"
    folder.mkdir()
    (folder / "slow.py").write_text(SLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    job = subprocess.Popen([sys.executable, "-m", "runnable", "execute-job", "slow.py", "--run-id", "live-run-0001"],
                           cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    served = None
    try:
        deadline = time.monotonic() + 30
        while not (folder / ".run_log_store" / "live-run-0001.json").exists():
            assert time.monotonic() < deadline and job.poll() is None, "the job never started"
            time.sleep(0.05)
        served = Server(folder)
        page = browser.new_page()
        page.goto(served.url + "/")
        status = page.locator("tr[data-run='live-run-0001'] .status")
        assert status.text_content() == "RUNNING"
        page.evaluate("window.__same_document = true")  # gone if the page reloads
        run_page = browser.new_page()
        run_page.goto(served.url + "/runs/live-run-0001")
        assert run_page.locator("#live").count() == 1 and run_page.locator("h1 .status").text_content() == "RUNNING"
        (folder / "release").write_text("go")
        page.wait_for_function(
            "() => document.querySelector(\"tr[data-run='live-run-0001'] .status\").textContent === 'SUCCESS'",
            timeout=20_000)
        assert page.evaluate("window.__same_document") is True
        # the run's own page reloads itself once the run has ended, and then shows its log
        run_page.wait_for_function("() => document.querySelector('h1 .status').textContent === 'SUCCESS'",
                                   timeout=20_000)
        assert run_page.locator("#live").count() == 0
        page.close()
        run_page.close()
    finally:
        (folder / "release").write_text("go")
        job.communicate(timeout=60)
        if served is not None:
            served.stop()


def test_a_cataloged_html_file_downloads_and_never_runs(browser: Any, server: Server, ui_project: Project,
                                                        tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server.url + "/runs/ui-train-0001")
    for path in ("page.html", "drawing.svg"):
        with page.expect_download() as caught:
            page.click(f"article[data-path='{path}'] a.download")
        saved = tmp_path / path
        caught.value.save_as(saved)
        assert saved.read_bytes() == (ui_project.folder / ".catalog" / "ui-train-0001" / path).read_bytes()
    assert page.title() == "ui-train-0001 - runnable" and not dialogs
    context.close()


def test_a_pipeline_run_shows_its_step_graph_and_each_steps_log(demo_page: Any, demo_server: Server,
                                                                demo: Demo) -> None:
    page = demo_page
    page.goto(demo_server.url + "/")
    row = page.locator(f"tr[data-run='{demo.pipeline_run}']")
    assert " ".join(row.locator(".cell-job").text_content().split()) == "pipeline pipeline"
    row.locator("a").first.click()
    page.wait_for_url(f"**/runs/{demo.pipeline_run}")
    graph = page.locator("#steps .step-graph")
    # nested boxes: the parallel step holds its two branches, the failed step its on_failure path
    assert graph.locator(".step-node.composite [data-step='fit.linear.linear']").count() == 1
    assert graph.locator(".step-node.status-fail > a[data-step='publish']").count() == 1
    on_failure = graph.locator(".step-node.status-fail .step-group.on-failure")
    assert on_failure.locator(".step-node.status-success a[data-step='publish.on_failure.save_locally']").count() == 1
    detail = page.locator("section.step-detail[data-step='publish']")
    assert not detail.is_visible()
    graph.locator("a[data-step='publish']").click()
    detail.wait_for(state="visible")
    assert "ConnectionError: model registry at registry.internal:443 is unreachable" in detail.text_content()
    assert "uploading the forest model" in detail.locator("pre.step-log").text_content()
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "pipeline.png", full_page=False)  # the graph and one step's details, not every output
    # a step's input links to the step that put it
    graph.locator("a[data-step='fit.linear.linear']").click()
    linear = page.locator("section.step-detail[data-step='fit.linear.linear']")
    linear.wait_for(state="visible")
    linear.locator("a:text('prepare')").click()
    page.locator("section.step-detail[data-step='prepare']").wait_for(state="visible")
    assert "prepared 200 rows" in page.locator("section.step-detail[data-step='prepare'] pre.step-log").text_content()
    saved = page.locator("section.step-detail[data-step='publish.on_failure.save_locally']")
    graph.locator("a[data-step='publish.on_failure.save_locally']").click()
    saved.wait_for(state="visible")
    assert saved.locator("a.download").count() == 2  # models/forest.json and the step's log


def test_screenshots_of_the_demo_project(demo_page: Any, demo_server: Server, demo: Demo, tmp_path: Path) -> None:
    """The pages docs/ui.md shows, over realistic runs (saved with RUNNABLE_UI_SCREENSHOTS)."""
    page = demo_page
    page.goto(demo_server.url + "/")
    assert len(table_ids(page)) == 4
    shot(page, "runs.png")
    first, second = demo.train_runs
    page.goto(f"{demo_server.url}/runs/{second}")
    image = page.locator("article[data-path='plots/loss.png'] img")
    page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=image.element_handle())
    shot(page, "run.png")
    page.goto(demo_server.url + "/")
    page.check(f"input[value='{first}']")
    page.check(f"input[value='{second}']")
    page.click("#compare-button")
    page.wait_for_url("**/compare?*")
    assert page.locator("figure[data-metric='loss'] svg polyline").count() == 2
    shot(page, "compare.png")
    page.goto(f"{demo_server.url}/runs/{demo.evaluate_run}/lineage")
    assert page.locator(f"svg.lineage a[href='/runs/{second}/lineage']").count() == 1
    shot(page, "lineage.png")
    target = tmp_path / "report.html"
    assert run_cli(demo.folder, "report", second, "-o", str(target)).returncode == 0
    page.goto(target.as_uri())
    image = page.locator("article[data-path='plots/loss.png'] img")
    page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=image.element_handle())
    shot(page, "report.png")
