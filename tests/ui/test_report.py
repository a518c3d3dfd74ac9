"""``runnable report RUN``: one run's page as one self-contained file, through the real command line."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_cli
from tests.ui.helpers import XSS, Project, Server
from tests.ui.http import get


def test_report_is_one_self_contained_file(ui_project: Project, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    result = run_cli(ui_project.folder, "report", "ui-train-0001", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {target} (")
    html = target.read_text()
    assert "ui-train-0001" in html and "learning rate 0.1" in html and "<polyline" in html
    assert 'src="data:image/png;base64,' in html  # the image is inside the file
    # nothing to fetch: no script, no stylesheet link, no URL to a server or another host
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert not re.search(r'(?:src|href)="(?!data:|#)', html), re.findall(r'(?:src|href)="[^"]*"', html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert XSS not in html and "document.title='owned'" not in html


def test_report_of_a_failed_run_and_default_name(ui_project: Project, tmp_path: Path) -> None:
    result = run_cli(ui_project.folder, "report", "ui-fail-0003")
    target = ui_project.folder / "ui-fail-0003.html"
    try:
        assert result.returncode == 0, result.stderr
        assert "RuntimeError: diverged: too big" in target.read_text()
    finally:
        target.unlink(missing_ok=True)


def test_report_never_overwrites_without_force(ui_project: Project, tmp_path: Path) -> None:
    target = tmp_path / "mine.html"
    target.write_text("my notes")
    result = run_cli(ui_project.folder, "report", "ui-train-0001", "-o", str(target))
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: {target} exists; use --force to overwrite it, or -o to name another file"
    assert target.read_text() == "my notes"
    assert run_cli(ui_project.folder, "report", "ui-train-0001", "-o", str(target), "--force").returncode == 0
    assert "ui-train-0001" in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["mine.html"]  # no temporary left


def test_report_of_an_unknown_run_is_one_line(ui_project: Project, tmp_path: Path) -> None:
    result = run_cli(ui_project.folder, "report", "ui-train-000", "-o", str(tmp_path / "r.html"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no run 'ui-train-000' in the run-log store")
    assert "did you mean ui-train-000" in lines[0]
    assert not (tmp_path / "r.html").exists()


def test_the_run_page_offers_its_report_as_a_file(server: Server, ui_project: Project, tmp_path: Path) -> None:
    page = get(server.url, "/runs/ui-train-0001").text
    assert 'href="/runs/ui-train-0001/report"' in page
    answer = get(server.url, "/runs/ui-train-0001/report")
    assert answer.status == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="ui-train-0001.html"'
    assert answer.headers["content-type"] == "application/octet-stream"
    target = tmp_path / "cli.html"
    assert run_cli(ui_project.folder, "report", "ui-train-0001", "-o", str(target)).returncode == 0
    assert answer.body == target.read_bytes()  # the same file the command writes
    assert get(server.url, "/runs/nope-0001/report").status == 404
