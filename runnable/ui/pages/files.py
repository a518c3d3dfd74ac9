"""A stored file of a run (``/runs/{run_id}/files/{recorded path}``), streamed and checked.

Only what a record names is served: the path must equal one of the run's recorded file paths (or
its execution log's), so ``..``, encoded slashes and links in the URL reach nothing else; the bytes
come from the catalog by hash (``Run.open``) and are checked against the recorded hash as they
stream. A copy found corrupt at the end is cut off (its last chunk is never sent), so a download
never completes with wrong content. Images listed in ``previews.IMAGE_TYPES`` are served inline
(for the page's ``<img>``); every other file is an attachment of type ``application/octet-stream``,
so HTML and SVG never render in this origin.
"""

from __future__ import annotations

import logging
from typing import BinaryIO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from runnable.errors import IntegrityError, RestoreError
from runnable.ui.app import FILE_POLICY, history_of
from runnable.ui.previews import IMAGE_TYPES, suffix

#: Bytes per chunk of a download: 256 KiB keeps memory flat and the syscall count low.
CHUNK = 256 * 1024

_log = logging.getLogger("runnable.ui")


def _disposition(kind: str, path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(request: Request) -> Response:
    history = history_of(request)
    run = history.get(request.path_params["run_id"])
    path = request.path_params["path"]
    try:
        entry = run.file(path)
        handle = run.open(path)
    except RestoreError as exc:  # no such recorded path, recorded by hash only, or missing copy
        raise HTTPException(404, str(exc)) from None

    mime = IMAGE_TYPES.get(suffix(entry.path))
    inline = mime is not None and request.query_params.get("download") is None
    headers = {
        "Content-Disposition": _disposition("inline" if inline else "attachment", entry.path),
        "Content-Length": str(entry.size),
        "Content-Security-Policy": FILE_POLICY,
        "ETag": f'"{entry.algorithm}-{entry.digest}"',
    }
    return CheckedFileResponse(handle, run.run_id, entry.path, media_type=mime if mime and inline else "application/octet-stream",
                               headers=headers)


class CheckedFileResponse(Response):
    """Streams a stored copy through its hash check, holding one chunk back: the checked reader
    raises IntegrityError on the read that reaches the end, so the last chunk of a corrupt copy is
    never sent and the response ends short of its Content-Length (an incomplete download, which
    every client reports), with one line on the server's console instead of a traceback."""

    def __init__(self, handle: BinaryIO, run_id: str, path: str, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(content=None, media_type=media_type, headers=headers)
        self.handle = handle
        self.run_id = run_id
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD":  # the headers only: nothing to read
            await run_in_threadpool(self.handle.close)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        try:
            held = await run_in_threadpool(self.handle.read, CHUNK)
            while held:
                following = await run_in_threadpool(self.handle.read, CHUNK)
                await send({"type": "http.response.body", "body": held, "more_body": True})
                held = following
        except IntegrityError as exc:
            _log.warning("runnable ui: %s (run %s); its download was cut off", exc, self.run_id)
            return  # the response is left incomplete: the server closes the connection
        except OSError as exc:
            _log.warning("runnable ui: reading %r of run %s failed: %s; its download was cut off",
                         self.path, self.run_id, exc)
            return
        finally:
            await run_in_threadpool(self.handle.close)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
