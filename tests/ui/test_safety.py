"""The browser's refusals, at the HTTP level against the real server: only recorded, cataloged
content is served, checked against its hash; no URL reaches another file; cataloged HTML and SVG
never render in the page's origin; every page carries a Content-Security-Policy; nothing is written."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from runnable.ui.app import FILE_POLICY
from tests.ui.helpers import HOSTILE_NAME, PERCENT_NAME, Project, Server
from tests.ui.http import get

RECORD_MARK = '"runnable_version"'  # in every run record; must never come back from a file URL


def stored_bytes(project: Project, run_id: str, path: str) -> bytes:
    return (project.folder / ".catalog" / run_id / path).read_bytes()


def test_a_recorded_file_downloads_byte_for_byte(server: Server, ui_project: Project) -> None:
    answer = get(server.url, "/runs/ui-train-0001/files/table.csv?download=1")
    assert answer.status == 200
    assert answer.body == stored_bytes(ui_project, "ui-train-0001", "table.csv")
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["content-security-policy"] == FILE_POLICY


def test_images_are_inline_and_everything_else_an_attachment(server: Server) -> None:
    image = get(server.url, "/runs/ui-train-0001/files/plots/loss.png")
    assert image.headers["content-type"] == "image/png" and image.body.startswith(b"\x89PNG")
    assert image.headers["content-disposition"].startswith("inline;")
    for path in ("page.html", "drawing.svg", "report.ipynb", "notes.md"):
        answer = get(server.url, f"/runs/ui-train-0001/files/{path}")
        assert answer.status == 200, path
        assert answer.headers["content-type"] == "application/octet-stream", path
        assert answer.headers["content-disposition"].startswith("attachment;"), path
        assert "sandbox" in answer.headers["content-security-policy"], path
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_html_and_svg_outputs_never_reach_the_page(server: Server) -> None:
    text = get(server.url, "/runs/ui-train-0001").text
    assert "document.title='owned'" not in text and "<script>alert(1)</script>" not in text
    assert "<iframe" not in text and "<object" not in text and "<embed" not in text


def test_every_page_has_a_content_security_policy(server: Server) -> None:
    for path in ("/", "/runs/ui-train-0001", "/runs/ui-train-0001/lineage",
                 "/compare?run=ui-train-0001&run=ui-train-0002", "/api/runs", "/runs/nope", "/static/style.css"):
        answer = get(server.url, path)
        policy = answer.headers.get("content-security-policy", "")
        assert "default-src 'none'" in policy and "script-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy, path


@pytest.mark.parametrize("path", [
    "/runs/ui-train-0001/files/../../../.run_log_store/ui-train-0001.json",
    "/runs/ui-train-0001/files/..%2F..%2F.run_log_store%2Fui-train-0001.json",
    "/runs/ui-train-0001/files/%2E%2E/%2E%2E/.run_log_store/ui-train-0001.json",
    "/runs/ui-train-0001/files/..%252F..%252F.run_log_store%252Fui-train-0001.json",
    "/runs/ui-train-0001/files//etc/passwd",
    "/runs/ui-train-0001/files/%2Fetc%2Fpasswd",
    "/runs/ui-train-0001/files/~/.bashrc",
    "/runs/ui-train-0001/files/table.csv%00.png",
    "/runs/ui-train-0001/files/./table.csv/../../ui-train-0002.json",
    "/runs/..%2F.run_log_store/files/ui-train-0001.json",
    "/runs/%2E%2E/files/.run_log_store/ui-train-0001.json",
    "/runs/ui-train-0001/files/ui-train-0001.json",
    "/runs/ui-train-0001/files/.catalog/ui-train-0001/table.csv",
    "/static/../app.py",
    "/static/..%2Fapp.py",
    "/static/..%2F..%2Fhistory%2Fruns.py",
])
def test_no_url_reaches_another_file(server: Server, path: str) -> None:
    answer = get(server.url, path)
    assert answer.status in (400, 404), (path, answer.status)
    assert RECORD_MARK.encode() not in answer.body and b"root:" not in answer.body
    assert b"def create_app" not in answer.body and b"class History" not in answer.body


def test_a_link_planted_in_a_run_folder_is_not_served(ui_project: Project, tmp_path: Path) -> None:
    """A file the record does not name is unreachable, even when it is in the run's folder."""
    folder = ui_project.folder / ".catalog" / "ui-train-0001"
    link = folder / "planted"
    link.symlink_to("/etc/passwd")
    try:
        served = Server(ui_project.folder)
        try:
            answer = get(served.url, "/runs/ui-train-0001/files/planted")
        finally:
            served.stop()
    finally:
        link.unlink()
    assert answer.status == 404 and b"root:" not in answer.body
    assert "has no file &#39;planted&#39;" in answer.text


def test_hostile_file_names_download_by_their_recorded_name(server: Server, ui_project: Project) -> None:
    for name in (HOSTILE_NAME, PERCENT_NAME):
        page = get(server.url, "/runs/ui-train-0001").text
        link = f"/runs/ui-train-0001/files/{quote(name, safe='/')}"
        assert link.replace("&", "&amp;") + "?download=1" in page, name
        answer = get(server.url, link)
        assert answer.status == 200, name
        assert answer.body == stored_bytes(ui_project, "ui-train-0001", name)
    # 'a%2Fb.txt' is a name, not 'a/b.txt': the decoded form names no recorded file
    assert get(server.url, "/runs/ui-train-0001/files/a%2Fb.txt").status == 404


def test_browsing_writes_nothing(ui_project: Project, server: Server) -> None:
    before = ui_project.files()
    for path in ("/", "/?sort=metric:loss", "/runs/ui-train-0001", "/runs/ui-fail-0003",
                 "/compare?run=ui-train-0001&run=ui-train-0002", f"/runs/{ui_project.chain[1]}/lineage",
                 "/runs/ui-train-0001/files/table.csv", "/api/runs", "/api/status?id=ui-train-0001"):
        assert get(server.url, path).status == 200, path
    assert ui_project.files() == before


def _corrupt(project: Project, run_id: str, path: str) -> None:
    """Flip a byte of the stored object (what the history reads first) of ``path``."""
    import json

    record = json.loads((project.folder / ".run_log_store" / f"{run_id}.json").read_text())
    digest = next(f["hash"]["md5"] for f in record["files"] if f["path"] == path)
    target = project.folder / ".catalog" / ".objects" / "md5" / digest[:2] / digest[2:]
    os.chmod(target, 0o644)
    data = bytearray(target.read_bytes())
    data[-2] ^= 0x01
    target.write_bytes(bytes(data))


def test_a_corrupt_copy_is_never_served_whole(ui_project: Project, tmp_path: Path) -> None:
    own = Project(tmp_path / "own", ui_project.chain)
    shutil.copytree(ui_project.folder, own.folder, symlinks=True)
    _corrupt(own, "ui-train-0001", "table.csv")
    _corrupt(own, "ui-train-0001", "plots/loss.png")
    served = Server(own.folder)
    try:
        page = get(served.url, "/runs/ui-train-0001").text
        assert "stored copy of &#39;table.csv&#39; is corrupt" in page
        for path in ("table.csv", "plots/loss.png"):
            parts = urlsplit(served.url)
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            connection.request("GET", f"/runs/ui-train-0001/files/{path}?download=1")
            response = connection.getresponse()
            assert response.status == 200  # the check ends at the last byte: the headers are gone
            with pytest.raises(http.client.IncompleteRead):
                response.read()
            connection.close()
        assert get(served.url, "/runs/ui-train-0002/files/table.csv").status == 200  # others are fine
    finally:
        err = served.stop()
    assert "Traceback" not in err
    assert "stored copy of 'table.csv' is corrupt" in err and "its download was cut off" in err


def test_binds_to_loopback_and_warns_when_told_otherwise(server: Server, tmp_path: Path) -> None:
    assert "http://127.0.0.1:" in server.first_line
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    process = subprocess.Popen([sys.executable, "-m", "runnable", "ui", "--host", "0.0.0.0", "--port", "0"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        warning = process.stderr.readline()
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert "http://0.0.0.0:" in line
    assert warning.startswith("warning: listening on 0.0.0.0, not 127.0.0.1")


def test_a_busy_port_is_one_line(server: Server, tmp_path: Path) -> None:
    port = urlsplit(server.url).port
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    result = subprocess.run([sys.executable, "-m", "runnable", "ui", "--port", str(port)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port or --host"]


def test_without_the_extra_one_line_says_what_to_install(tmp_path: Path) -> None:
    """The web stack made unimportable (a sitecustomize that refuses it), as where it is not installed."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('starlette', 'uvicorn', 'jinja2'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Refuse())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env["PYTHONPATH"] = str(site)
    for args in (["ui"], ["report", "some-run"]):
        result = subprocess.run([sys.executable, "-m", "runnable", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"Error: the run browser needs {'starlette, uvicorn, jinja2' if args == ['ui'] else 'jinja2'}; "
            "install it with: pip install 'runnable[ui]'"]
    assert socket  # the module is used by the fixture's server; keep the import honest


def test_no_method_but_get_is_answered(server: Server, ui_project: Project) -> None:
    before = ui_project.files()
    parts = urlsplit(server.url)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/", "/runs/ui-train-0001", "/runs/ui-train-0001/files/table.csv", "/api/runs"):
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            connection.request(method, path, body=b"x")
            response = connection.getresponse()
            response.read()
            connection.close()
            assert response.status == 405, (method, path)
    assert ui_project.files() == before


def test_head_gives_the_headers_without_reading_the_file(server: Server, ui_project: Project) -> None:
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("HEAD", "/runs/ui-train-0001/files/table.csv")
    response = connection.getresponse()
    assert response.read() == b""
    connection.close()
    assert response.status == 200
    assert response.getheader("content-length") == str(len(stored_bytes(ui_project, "ui-train-0001", "table.csv")))
    assert response.getheader("content-disposition", "").startswith("attachment;")
