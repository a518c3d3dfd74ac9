"""``runnable ui --open`` opens the page in the user's browser: here a fake browser named by
$BROWSER (Python's webbrowser honours it), a real script that writes down the address it was given."""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

from tests.ui.helpers import Project, Server

FAKE = """#!{python}
import os, sys
from pathlib import Path
Path({target!r} + ".tmp").write_text(" ".join(sys.argv[1:]))
os.replace({target!r} + ".tmp", {target!r})  # whole, or not there yet
"""


def test_open_hands_the_printed_address_to_the_browser(ui_project: Project, tmp_path: Path) -> None:
    target = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(FAKE.format(python=sys.executable, target=str(target)))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    served = Server(ui_project.folder, "--open", env={"BROWSER": f"{fake} %s"})
    try:
        deadline = time.monotonic() + 20
        while not target.exists():
            assert time.monotonic() < deadline, "the browser was never started"
            time.sleep(0.05)
        assert target.read_text() == served.url + "/"
    finally:
        served.stop()


def test_without_open_no_browser_starts(ui_project: Project, tmp_path: Path) -> None:
    target = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(FAKE.format(python=sys.executable, target=str(target)))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    served = Server(ui_project.folder, env={"BROWSER": f"{fake} %s"})
    try:
        time.sleep(0.5)
        assert not target.exists()
    finally:
        served.stop()
