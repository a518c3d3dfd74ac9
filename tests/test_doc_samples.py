"""The documentation's sample outputs are what the documented commands really print.

docs/gen_samples.py runs the session of docs/history.md (and the README's run-history block) for
real; a marked block that no longer matches fails here. Regenerate with `python docs/gen_samples.py`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_samples", REPO / "docs" / "gen_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_samples"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


gen = _load()


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("docs") / "project"
    folder.mkdir()
    return gen.play(folder)  # type: ignore[no-any-return]


def test_every_documented_sample_matches_a_real_run(samples: dict[str, str]) -> None:
    problems = [problem for page in gen.PAGES for problem in gen.stale(page, samples)]
    assert not problems, "\n\n".join(problems) + "\n\nregenerate them: python docs/gen_samples.py"


def test_every_page_marks_its_samples_and_every_sample_is_used(samples: dict[str, str]) -> None:
    used = [m["name"] for page in gen.PAGES for m in gen.blocks(page.read_text())]
    assert sorted(used) == sorted(samples)
    assert {"readme-history", "history-runs", "history-commands", "history-python-output"} <= set(used)


def test_a_sample_that_drifted_is_caught(samples: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "history.md"
    text = (REPO / "docs" / "history.md").read_text()
    assert "  fail = false\n" in text
    page.write_text(text.replace("  fail = false\n", "", 1))  # as the page was before defaults were recorded
    problems = gen.stale(page, samples)
    assert len(problems) == 1 and "history-commands" in problems[0] and "+ fail = false" in problems[0]


def test_times_durations_pids_and_log_sizes_do_not_count(samples: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "history.md"
    text = (REPO / "docs" / "history.md").read_text()
    text = re.sub(r"\d{4}-\d\d-\d\d", "1999-01-31", text)
    text = re.sub(r"pid \d+", "pid 1", text)
    text = re.sub(r"\b\d+\.\d+s\b", "12.5s", text)
    text = text.replace("(13 B)", "(1.5 KiB)")
    page.write_text(text)
    assert gen.stale(page, samples) == []
