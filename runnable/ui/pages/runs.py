"""The runs table (``/``), the same rows as JSON (``/api/runs``) and the live status of a few runs
(``/api/status``, polled by the page every 2 seconds while one of its rows is RUNNING)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from runnable.history.index import RunSummary
from runnable.ui.app import history_of, page
from runnable.ui.table import RunsPage, RunsQuery, page_of

#: Runs one status request may ask about (a page shows at most 500).
MAX_STATUS_IDS = 500


def _table(request: Request) -> RunsPage:
    query = RunsQuery.parse(request.query_params)
    return page_of(history_of(request).summaries(), query)


def runs_page(request: Request) -> HTMLResponse:
    table = _table(request)
    return page("runs.html", table=table, q=table.query, title=request.app.state.title)


def _row(s: RunSummary) -> dict[str, Any]:
    return {"run_id": s.run_id, "status": s.status, "job": s.job, "start": s.start, "end": s.end,
            "duration_seconds": s.duration_seconds, "tags": list(s.tags), "metrics": dict(s.metrics),
            "error": s.error}


def runs_json(request: Request) -> JSONResponse:
    table = _table(request)
    return JSONResponse({"total": table.total, "page": table.query.page, "pages": table.pages,
                         "metric_columns": table.metric_columns, "runs": [_row(s) for s in table.rows]})


def status_json(request: Request) -> JSONResponse:
    """``{run_id: row}`` for the ids asked (``?id=a&id=b``), from the listing; unknown ids are left out."""
    wanted = set(request.query_params.getlist("id")[:MAX_STATUS_IDS])
    found = {s.run_id: _row(s) for s in history_of(request).summaries() if s.run_id in wanted}
    return JSONResponse(found)
