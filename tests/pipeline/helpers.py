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


# Volatile by nature: when, where, which process.
VOLATILE = {"start", "end", "duration_seconds", "environment", "traceback", "run_folder"}


def comparable(record: dict[str, Any]) -> Any:
    """The record without what differs between two runs of one pipeline: times, the host and the
    process, run ids (each replaced by RUN), and the size and hash of execution logs (a local run's
    pipeline log holds every step's output; an Argo run's holds the exit handler's only) and of
    executed notebooks (papermill writes times into them)."""
    ids = {record["run_id"], record.get("job", {}).get("retry_of")} - {None}
    text = json.dumps(record)
    for run_id in sorted(ids, key=len, reverse=True):
        text = text.replace(run_id, "RUN")
    return _strip(json.loads(text))


def _strip(value: Any) -> Any:
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    # Papermill writes each cell's start, end and duration into the executed notebook.
    if str(out.get("path", "")).endswith((".execution.log", ".executed.ipynb")):
        out.pop("hash", None)
        out.pop("size", None)
    if "files" in out:  # a dict: the record's file list, in the order steps stored them
        out["files"] = sorted(out["files"], key=lambda f: f["path"])
    return out
