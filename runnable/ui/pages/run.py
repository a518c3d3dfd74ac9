"""One run's page (``/runs/{run_id}``): status, error, parameters, metrics with a chart for each
history, returns, code identity, inputs linked to the runs that produced them, outputs with their
previews, the execution log and, for a pipeline, its step graph. ``runnable report`` renders the
same template from the same context, with images inlined."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from runnable.history.runs import History, Run
from runnable.record import FAIL, RUNNING, RunRecord
from runnable.ui import charts, previews
from runnable.ui.app import history_of, page


def steps_of(record: RunRecord) -> list[dict[str, Any]]:
    """Every step of a pipeline run, flat and in the order they ran: ``{"name", "status", "after":
    [names], "details": {...}}`` plus what the page shows of it (``anchor``, ``label``, ``kind``,
    ``depth``). ``name`` is the step's dotted path; each step comes after the one before it in its
    branch, and the first step of a branch after the composite step that holds it.

    Jobs have no steps, so this is empty and the page shows no step section.
    """
    return _flatten(step_tree(record))


def step_tree(record: RunRecord) -> list[dict[str, Any]]:
    """The steps as the graph draws them: each step a box (``steps_of``'s keys) holding ``groups``,
    one per branch (``[key]``) and one for its ``on_failure`` pipeline, each a list of boxes.
    ``anchor`` is ``step-N`` (N: its place in the flat order), not the step's name: a name is the
    user's text and an element id must not carry it."""
    counter = [0]

    def walk(entries: list[dict[str, Any]], parent: str | None, depth: int) -> list[dict[str, Any]]:
        boxes: list[dict[str, Any]] = []
        previous = parent
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue  # a hand-edited record: the other steps are still drawn
            name = str(entry.get("path") or entry.get("name"))
            details = {k: v for k, v in entry.items() if k not in ("branches", "on_failure", "name", "path", "status")}
            box: dict[str, Any] = {
                "name": name, "label": str(entry.get("name", name)), "kind": str(entry.get("kind", "")),
                "status": str(entry.get("status", "")), "after": [previous] if previous else [],
                "details": details, "anchor": f"step-{counter[0]}", "depth": depth, "groups": []}
            counter[0] += 1
            boxes.append(box)
            branches = entry.get("branches")
            for key, branch in (branches.items() if isinstance(branches, dict) else ()):
                box["groups"].append({"label": str(key), "on_failure": False, "steps": walk(branch, name, depth + 1)})
            if entry.get("on_failure"):
                box["groups"].append({"label": "on_failure", "on_failure": True,
                                      "steps": walk(entry["on_failure"], name, depth + 1)})
            previous = name
        return boxes

    return walk(record.steps, None, 0)


def _flatten(boxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for box in boxes:
        out.append(box)
        for group in box["groups"]:
            out += _flatten(group["steps"])
    return out


#: A page previews every step's log up to this many steps; beyond, only the failed steps' (a Map over
#: 1,000 items would read 1,000 logs, a request each on S3, for one page). The others link to theirs.
STEP_LOG_PREVIEWS = 40


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def step_details(run: Run, steps: list[dict[str, Any]], standalone: bool) -> list[dict[str, Any]]:
    """What each step's details panel shows, beyond its record entry: its outputs as the run's file
    entries (size, hash, download), its inputs with the step (this run) or run that made them, and
    the preview of its execution log (``{step}.execution.log`` in the run's files; see
    ``STEP_LOG_PREVIEWS``)."""
    files = {entry.path: entry for entry in run.record.files}
    anchors = {step["name"]: step["anchor"] for step in steps}
    every_log = len(steps) <= STEP_LOG_PREVIEWS
    out = []
    for step in steps:
        details = step["details"]
        outputs = [{"path": str(path), "entry": files.get(str(path))} for path in _listed(details.get("outputs"))]
        inputs = []
        for item in _listed(details.get("inputs")):
            if not isinstance(item, dict):
                continue
            source = item.get("source") if isinstance(item.get("source"), dict) else None
            source_run = str(source.get("run_id", "")) if source else ""
            source_step = str(source.get("step", "")) if source and source.get("step") else ""
            inputs.append({"path": str(item.get("path", "")), "size": item.get("size"),
                           "source_run": source_run, "source_path": str(source.get("path", "")) if source else "",
                           "source_step": source_step,
                           "step_anchor": anchors.get(source_step) if source_run == run.run_id else None})
        log_path = details.get("execution_log")
        log_entry = files.get(str(log_path)) if log_path else None
        log = None
        if log_entry is not None:
            shown = every_log or step["status"] == FAIL
            log = {"entry": log_entry,
                   "preview": previews.preview(run, log_entry, inline_images=standalone) if shown else None}
        error = details.get("error") if isinstance(details.get("error"), dict) else None
        out.append({"step": step, "outputs": outputs, "inputs": inputs, "log": log, "log_path": log_path,
                    "error": error})
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
    tree = step_tree(record)
    steps = _flatten(tree)
    return {
        "run": run, "record": record, "metrics": metrics, "outputs": outputs, "log": log,
        "steps": steps, "step_tree": tree, "step_details": step_details(run, steps, standalone), "running": record.status == RUNNING, "standalone": standalone,
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
