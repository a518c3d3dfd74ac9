"""Fixtures of the run browser's tests: one project of real runs and one real server per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.helpers import Project, Server, make_project


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_project(tmp_path_factory.mktemp("ui") / "project")


@pytest.fixture(scope="session")
def server(ui_project: Project) -> Iterator[Server]:
    running = Server(ui_project.folder)
    yield running
    running.stop()
