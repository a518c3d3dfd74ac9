"""Helpers for pipeline tests: write a pipeline script, run it for real, read its record."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import run_cli, run_python


def write(folder: Path, body: str, name: str = "pipe.py") -> Path:
    script = folder / name
    script.write_text(textwrap.dedent(body))
    return script


def run(folder: Path, body: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Write ``body`` as pipe.py in ``folder`` and run it with this interpreter."""
    return run_python(write(folder, body), folder, *args, env=env)


def records(folder: Path) -> list[dict[str, Any]]:
    store = folder / ".run_log_store"
    if not store.is_dir():
        return []
    found = [json.loads(p.read_text()) for p in sorted(store.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)]
    return [r for r in found if isinstance(r, dict) and "run_id" in r]  # not the store's own index files


def only_record(folder: Path) -> dict[str, Any]:
    found = records(folder)
    assert len(found) == 1, [r["run_id"] for r in found]
    return found[0]


def step(record: dict[str, Any], path: str) -> dict[str, Any]:
    """The entry of the step at dotted ``path`` (branches included)."""
    def walk(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
        for entry in entries:
            if entry["path"] == path:
                return entry
            for branch in [*(entry.get("branches") or {}).values(), entry.get("on_failure") or []]:
                found = walk(branch)
                if found is not None:
                    return found
        return None

    found = walk(record["steps"])
    assert found is not None, f"no step {path!r} in {[e['path'] for e in record['steps']]}"
    return found


__all__ = ["only_record", "records", "run", "run_cli", "step", "write"]
