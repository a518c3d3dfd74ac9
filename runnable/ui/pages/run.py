"""One run's page (``/runs/{run_id}``): status, error, parameters, metrics with a chart for each
history, returns, code identity, inputs linked to the runs that produced them, outputs with their
previews, the execution log and, for a pipeline, its step graph. ``runnable report`` renders the
same template from the same context, with images inlined."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from runnable.history.runs import History, Run
from runnable.record import RUNNING, RunRecord
from runnable.ui import charts, previews
from runnable.ui.app import history_of, page


def steps_of(record: RunRecord) -> list[dict[str, Any]]:
    """The step graph of a pipeline run, for the template block ``step_graph`` (templates/_steps.html):
    each step as ``{"name", "status", "after": [names], "details": {...}}``, in order.

    Jobs have no steps, so this is empty and the block shows nothing. A pipeline's record carries
    its step tree (``runnable.pipeline.record``): each step comes after the one before it in its
    branch, and the first step of a branch after the composite step that holds it.
    """
    out: list[dict[str, Any]] = []

    def walk(entries: list[dict[str, Any]], parent: str | None) -> None:
        previous = parent
        for entry in entries:
            name = str(entry.get("path") or entry.get("name"))
            details = {k: v for k, v in entry.items() if k not in ("branches", "on_failure", "name", "path", "status")}
            out.append({"name": name, "status": str(entry.get("status", "")), "after": [previous] if previous else [],
                        "details": details})
            for branch in (entry.get("branches") or {}).values():
                walk(branch, name)
            if entry.get("on_failure"):
                walk(entry["on_failure"], name)
            previous = name

    walk(record.steps, None)
    return out


def run_context(history: History, run_id: str, standalone: bool) -> dict[str, Any]:
    """Everything the run template shows. ``standalone``: for the one-file report (images inlined,
    no links to the server)."""
    run: Run = history.get(run_id)
    record = run.record
    metrics = [{"name": name, "last": history_[-1][1] if history_ else None, "points": len(history_),
                "chart": charts.line_chart({name: history_}, title=name)}
               for name, history_ in sorted(record.metrics.items())]
    outputs = [{"entry": entry, "preview": previews.preview(run, entry, inline_images=standalone)}
               for entry in record.files]
    log = None
    if record.execution_log is not None:
        log = {"entry": record.execution_log, "preview": previews.preview(run, record.execution_log)}
    return {
        "run": run, "record": record, "metrics": metrics, "outputs": outputs, "log": log,
        "steps": steps_of(record), "running": record.status == RUNNING, "standalone": standalone,
        "objects": sorted(record.objects.items()),
    }


def run_page(request: Request) -> HTMLResponse:
    history = history_of(request)
    context = run_context(history, request.path_params["run_id"], standalone=False)
    return page("run.html", title=request.app.state.title, **context)


def report_download(request: Request) -> Response:
    """The page as ``runnable report`` writes it, offered as a file (``RUN_ID.html``): an attachment,
    so it is saved, not rendered here."""
    from runnable.ui.report import render_report

    run_id = history_of(request).get(request.path_params["run_id"]).run_id
    text = render_report(history_of(request), run_id)
    return Response(text.encode(), media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{run_id}.html"'})
