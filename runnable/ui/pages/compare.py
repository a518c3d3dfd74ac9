"""Two or more runs side by side (``/compare?run=A&run=B``): parameters and metrics (only the changed
ones unless ``all=1``), each metric's histories overlaid on one chart, image outputs of the same
path side by side, and every output file marked same or changed by its recorded hash."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from runnable.history.runs import Run
from runnable.ui import charts, previews
from runnable.ui.app import history_of, page

#: Runs one comparison shows at most: wider tables stop being readable.
MAX_RUNS = 12
_ABSENT = object()


def _rows(runs: list[Run], values: list[dict[str, Any]], show_all: bool) -> tuple[list[dict[str, Any]], int]:
    """One row per key: its value in each run and whether they differ; with the count hidden."""
    keys = sorted({k for v in values for k in v})
    rows, hidden = [], 0
    for key in keys:
        cells = [v.get(key, _ABSENT) for v in values]
        first = cells[0]
        changed = any(c is _ABSENT or first is _ABSENT or type(c) is not type(first) or c != first for c in cells)
        if changed or show_all:
            rows.append({"key": key, "changed": changed, "cells": [None if c is _ABSENT else c for c in cells],
                         "absent": [c is _ABSENT for c in cells]})
        else:
            hidden += 1
    return rows, hidden


def compare_page(request: Request) -> HTMLResponse:
    history = history_of(request)
    ids = list(dict.fromkeys(request.query_params.getlist("run")))
    if len(ids) < 2:
        raise HTTPException(400, "pick two or more runs to compare: tick them in the runs table")
    if len(ids) > MAX_RUNS:
        raise HTTPException(400, f"{len(ids)} runs picked; compare at most {MAX_RUNS} at once")
    runs = [history.get(run_id) for run_id in ids]
    show_all = request.query_params.get("all") == "1"
    params, params_hidden = _rows(runs, [r.parameters for r in runs], show_all)
    last = [{name: h[-1][1] for name, h in r.metrics.items() if h} for r in runs]
    metrics, metrics_hidden = _rows(runs, last, show_all)
    names = sorted({name for r in runs for name in r.metrics})
    overlays = [{"name": name, "chart": charts.line_chart({r.run_id: r.metrics.get(name, []) for r in runs},
                                                            title=name, width=520, height=220)}
                for name in names]
    by_path: dict[str, list[Any]] = {}
    for i, r in enumerate(runs):
        for entry in r.files:
            by_path.setdefault(entry.path, [None] * len(runs))[i] = entry
    files = []
    for path, entries in sorted(by_path.items()):
        keys = {(e.algorithm, e.digest) if e is not None else None for e in entries}
        files.append({"path": path, "entries": entries, "same": len(keys) == 1,
                      "image": previews.kind_of(path) == "image"})
    colours = [charts.COLOURS[i % len(charts.COLOURS)] for i in range(len(runs))]
    return page("compare.html", title=request.app.state.title, runs=runs, params=params, metrics=metrics,
                hidden=params_hidden + metrics_hidden, show_all=show_all, overlays=overlays, files=files,
                images=[f for f in files if f["image"]], colours=colours,
                link_all="?" + "&".join(f"run={r.run_id}" for r in runs) + ("" if show_all else "&all=1"))
