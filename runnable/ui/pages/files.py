"""A stored file of a run (``/runs/{run_id}/files/{recorded path}``), streamed and checked.

Only what a record names is served: the path must equal one of the run's recorded file paths (or
its execution log's), so ``..``, encoded slashes and links in the URL reach nothing else; the bytes
come from the catalog by hash (``Run.open``) and are checked against the recorded hash as they
stream. A copy found corrupt at the end is cut off (its last chunk is never sent), so a download never completes with wrong content. Images listed in
``previews.IMAGE_TYPES`` are served inline (for the page's ``<img>``); every other file is an
attachment of type ``application/octet-stream``, so HTML and SVG never render in this origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import StreamingResponse

from runnable.errors import RestoreError
from runnable.ui.app import FILE_POLICY, history_of
from runnable.ui.previews import IMAGE_TYPES, suffix

#: Bytes per chunk of a download: 256 KiB keeps memory flat and the syscall count low.
CHUNK = 256 * 1024


def _disposition(kind: str, path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(request: Request) -> StreamingResponse:
    history = history_of(request)
    run = history.get(request.path_params["run_id"])
    path = request.path_params["path"]
    try:
        entry = run.file(path)
        handle = run.open(path)
    except RestoreError as exc:  # no such recorded path, recorded by hash only, or missing copy
        raise HTTPException(404, str(exc)) from None

    def chunks() -> Iterator[bytes]:
        # One chunk is held back until the next read succeeds: the checked reader raises
        # IntegrityError on the read that reaches the end, so the last chunk of a corrupt copy is
        # never sent and the client gets fewer bytes than Content-Length: an incomplete download.
        with handle:
            held = handle.read(CHUNK)
            while held:
                following = handle.read(CHUNK)
                yield held
                held = following

    mime = IMAGE_TYPES.get(suffix(entry.path))
    inline = mime is not None and request.query_params.get("download") is None
    headers = {
        "Content-Disposition": _disposition("inline" if inline else "attachment", entry.path),
        "Content-Length": str(entry.size),
        "Content-Security-Policy": FILE_POLICY,
        "ETag": f'"{entry.algorithm}-{entry.digest}"',
    }
    return StreamingResponse(chunks(), media_type=mime if inline else "application/octet-stream", headers=headers)
