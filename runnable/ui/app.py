"""The ASGI app of the run browser: routes, security headers and error pages.

Every page gets a Content-Security-Policy that allows scripts, styles and images from this server
only (images also as ``data:``, for notebook outputs), no frames, no plugins, no form posts
elsewhere; a stored file gets a stricter one (``sandbox``): opened on its own it cannot run a
script in this origin, whatever its bytes. The app only reads: it has no route that writes.

>>> # uvicorn.run(create_app(History.from_config(None)), host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from runnable.errors import RecordError, RunNotFoundError
from runnable.history.runs import History
from runnable.ui import rendering

PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: For stored files: a sandboxed document with no scripts and nothing loaded.
FILE_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_ASGI = Callable[[_Scope, Callable[[], Awaitable[_Message]], Callable[[_Message], Awaitable[None]]], Awaitable[None]]


class SecurityHeaders:
    """Adds the page policy and friends to every response that did not set its own policy."""

    def __init__(self, app: _ASGI) -> None:
        self.app = app

    async def __call__(self, scope: _Scope, receive: Callable[[], Awaitable[_Message]],
                       send: Callable[[_Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: _Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in ((b"content-security-policy", PAGE_POLICY.encode()),
                                    (b"x-content-type-options", b"nosniff"),
                                    (b"referrer-policy", b"no-referrer"),
                                    (b"x-frame-options", b"DENY"),
                                    (b"cache-control", b"no-store")):
                    if name not in names:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered template as an HTML response."""
    context.setdefault("standalone", False)
    return HTMLResponse(rendering.render(name, **context), status_code=status_code)


def create_app(history: History, title: str = "") -> Starlette:
    """The run browser over ``history`` (its run-log store and catalog); ``title`` names the project
    in the page header (default: the run-log store's location)."""
    from runnable.ui.pages import compare, files, lineage, run, runs

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
        code = exc.status_code if isinstance(exc, HTTPException) else 404
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status_code=code)
        return page("error.html", status_code=code, message=detail, code=code, title=app.state.title)

    async def missing_run(request: Request, exc: Exception) -> Response:
        return await not_found(request, HTTPException(404, str(exc).strip("\"'")))

    async def unreadable(request: Request, exc: Exception) -> Response:
        return await not_found(request, HTTPException(422, str(exc)))

    routes = [
        Route("/", runs.runs_page),
        Route("/api/runs", runs.runs_json),
        Route("/api/status", runs.status_json),
        Route("/runs/{run_id}", run.run_page),
        Route("/runs/{run_id}/files/{path:path}", files.file_response),
        Route("/runs/{run_id}/report", run.report_download),
        Route("/runs/{run_id}/lineage", lineage.lineage_page),
        Route("/compare", compare.compare_page),
        Mount("/static", StaticFiles(packages=[("runnable.ui", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        HTTPException: not_found, RunNotFoundError: missing_run, RecordError: unreadable,
    })
    app.state.history = history
    app.state.title = title or history.store.location
    app.add_middleware(SecurityHeaders)
    return app


def history_of(request: Request) -> History:
    history: History = request.app.state.history
    return history
