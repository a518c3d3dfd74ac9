"""Fixtures of the run browser's tests: one project of real runs and one real server per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.demo import Demo, make_demo
from tests.ui.helpers import Project, Server, make_project


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_project(tmp_path_factory.mktemp("ui") / "project")


@pytest.fixture(scope="session")
def server(ui_project: Project) -> Iterator[Server]:
    running = Server(ui_project.folder)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The clean project of tests/ui/demo.py: two training runs and a pipeline run."""
    return make_demo(tmp_path_factory.mktemp("ui-demo") / "project")


@pytest.fixture(scope="session")
def demo_server(demo: Demo) -> Iterator[Server]:
    running = Server(demo.folder)
    yield running
    running.stop()
