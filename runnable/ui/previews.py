"""What a stored file looks like on a run's page, read from its head.

Big files never load whole: a preview reads at most ``HEAD`` bytes (a notebook or a Parquet file,
which cannot be read from a head, only up to ``WHOLE_LIMIT``). A file no larger than ``WHOLE_LIMIT``
is read to its end through the run's checked reader, so a corrupt stored copy shows as corrupt
rather than as content; a larger one shows its head and says that it was not checked (its download
is: it streams through the same check).

Nothing cataloged is ever put into the page as markup: text goes in as escaped text, Markdown as
the HTML Markdown makes of it with the file's own HTML escaped (``runnable.ui.markdown``), images by
URL (or as data in the report), and HTML or SVG files are offered for download only: they can carry
scripts, and the page's origin can read every run.

>>> kind_of("plots/loss.PNG"), kind_of("notes.md"), kind_of("page.html")
('image', 'text', 'download')
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runnable.errors import IntegrityError, RestoreError
from runnable.ui import markdown

if TYPE_CHECKING:
    from runnable.history.runs import Run
    from runnable.record import FileEntry

#: How much of a file a text, CSV or JSON preview reads: 64 KiB shows 20 rows of any sane table.
HEAD = 64 * 1024
#: Files up to this size are read whole (and so checked against their hash) for a preview.
WHOLE_LIMIT = 4 * 1024 * 1024
#: Rows of a table preview.
ROWS = 20
#: Lines of a text preview.
LINES = 200

#: Image types shown inline, by suffix. SVG is not one: it is a document that can run scripts.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
_TEXT = {".txt", ".md", ".markdown", ".log", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".py", ".sh", ".r",
         ".sql", ".rst", ".tex", ".xml"}
_DOWNLOAD_ONLY = {".html", ".htm", ".svg", ".xhtml", ".js", ".pdf"}


def suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def kind_of(path: str) -> str:
    """The preview a file gets, by its suffix: image, table, parquet, json, notebook, text or download."""
    ext = suffix(path)
    if ext in IMAGE_TYPES:
        return "image"
    if ext in (".csv", ".tsv"):
        return "table"
    if ext == ".parquet":
        return "parquet"
    if ext in (".json", ".jsonl", ".geojson"):
        return "json"
    if ext == ".ipynb":
        return "notebook"
    if ext in _TEXT:
        return "text"
    if ext in _DOWNLOAD_ONLY:
        return "download"
    return "text?"  # shown as text when its head decodes as UTF-8, else download only


@dataclass
class Preview:
    """One file's preview: ``kind`` decides how the template shows ``text``, ``rows`` or ``cells``."""

    kind: str  # image, table, json, text, notebook, download, none, error
    note: str = ""  # e.g. "first 20 rows" or why there is no preview
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    data_uri: str = ""  # an image's bytes, for the self-contained report
    html: str = ""  # a Markdown file rendered (runnable.ui.markdown: its own HTML escaped)


def _read(run: Run, entry: FileEntry, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the stored copy, and whether they were checked against the hash
    (read whole). IntegrityError or RestoreError when the copy is corrupt or missing."""
    with run.open(entry.path) as handle:
        if entry.size <= min(limit, WHOLE_LIMIT):
            data = handle.read()  # to the end: the checked reader raises IntegrityError there
            return data, True
        return handle.read(limit), False


def _unchecked(entry: FileEntry, shown: int) -> str:
    return (f"the first {shown:,} of {entry.size:,} bytes; not checked against its hash here "
            "(the download is)")


def preview(run: Run, entry: FileEntry, inline_images: bool = False) -> Preview:
    """The preview of one cataloged file of ``run``. ``inline_images`` puts an image's bytes into the
    preview (for the self-contained report; up to ``WHOLE_LIMIT``)."""
    if not entry.stored:
        return Preview("none", f"recorded by hash only ({entry.algorithm}:{entry.digest}); no copy is stored")
    kind = kind_of(entry.path)
    try:
        if kind == "image":
            if not inline_images:
                return Preview("image")
            if entry.size > WHOLE_LIMIT:
                return Preview("none", f"image of {entry.size:,} bytes: too large to put in the report")
            data, _ = _read(run, entry, WHOLE_LIMIT)
            mime = IMAGE_TYPES[suffix(entry.path)]
            return Preview("image", data_uri=f"data:{mime};base64,{base64.b64encode(data).decode()}")
        if kind == "download":
            return Preview("download", f"{suffix(entry.path)} files are not shown in the page "
                                       "(they can carry scripts); download it to open it")
        if kind in ("notebook", "parquet"):
            if entry.size > WHOLE_LIMIT:
                return Preview("none", f"{entry.size:,} bytes: too large to preview here; download it")
            data, _ = _read(run, entry, WHOLE_LIMIT)
            return _notebook(data) if kind == "notebook" else _parquet(data)
        data, checked = _read(run, entry, HEAD)
        note = "" if checked else _unchecked(entry, len(data))
        if kind == "table":
            return _table(data, "\t" if suffix(entry.path) == ".tsv" else ",", checked, note)
        if kind == "json":
            return _json(data, checked, note)
        shown = _text(data, kind == "text?", note)
        if shown.kind == "text" and suffix(entry.path) in markdown.MARKDOWN_SUFFIXES:
            return Preview("markdown", shown.note, text=shown.text, html=markdown.render(shown.text))
        return shown
    except IntegrityError as exc:
        return Preview("error", str(exc))
    except RestoreError as exc:
        return Preview("error", str(exc))
    except OSError as exc:
        return Preview("error", f"could not read the stored copy: {exc}")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _text(data: bytes, guessed: bool, note: str) -> Preview:
    if guessed:
        try:
            data[:4096].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < 4093:  # not a multi-byte character cut at the edge: binary
                return Preview("download", "binary content; download it")
        if b"\0" in data[:4096]:
            return Preview("download", "binary content; download it")
    lines = _decode(data).splitlines()
    if len(lines) > LINES:
        note = note or f"the first {LINES} lines"
        lines = lines[:LINES]
    return Preview("text", note, text="\n".join(lines))


def _table(data: bytes, delimiter: str, checked: bool, note: str) -> Preview:
    text = _decode(data)
    if not checked and "\n" in text:
        text = text[:text.rindex("\n")]  # the last line of a head may be cut in the middle
    try:
        rows = []
        for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
            if i > ROWS:
                break
            rows.append(row)
    except csv.Error as exc:
        return Preview("text", f"not readable as CSV ({exc}); shown as text", text="\n".join(text.splitlines()[:LINES]))
    if len(rows) > ROWS:
        rows = rows[:ROWS + 1]
        note = note or f"the first {ROWS} rows"
    return Preview("table", note, rows=rows[:ROWS + 1])


def _json(data: bytes, checked: bool, note: str) -> Preview:
    if checked:
        try:
            value = json.loads(data)
        except ValueError:
            return _text(data, False, "not valid JSON; shown as text")
        pretty = json.dumps(value, indent=2, ensure_ascii=False)
        lines = pretty.splitlines()
        if len(lines) > LINES:
            return Preview("json", f"the first {LINES} lines", text="\n".join(lines[:LINES]))
        return Preview("json", note, text=pretty)
    return _text(data, False, note)


def _source(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _notebook(data: bytes) -> Preview:
    """An executed notebook's cells: sources and text outputs as text, PNG/JPEG outputs as images
    (data URIs). HTML and JavaScript outputs are left out: they would run in the page's origin."""
    try:
        notebook = json.loads(data)
        raw_cells = notebook["cells"]
    except (ValueError, KeyError, TypeError):
        return Preview("text", "not a readable notebook; shown as text", text="\n".join(_decode(data).splitlines()[:LINES]))
    cells = []
    for raw in raw_cells if isinstance(raw_cells, list) else []:
        if not isinstance(raw, dict):
            continue
        outputs = []
        for output in raw.get("outputs") or []:
            if not isinstance(output, dict):
                continue
            if output.get("output_type") == "stream":
                outputs.append({"kind": "text", "text": _source(output.get("text"))})
            elif output.get("output_type") == "error":
                outputs.append({"kind": "error", "text": f"{output.get('ename')}: {output.get('evalue')}"})
            else:
                bundle = output.get("data") or {}
                image = next((m for m in ("image/png", "image/jpeg") if m in bundle), None)
                if image is not None:
                    encoded = "".join(_source(bundle[image]).split())
                    try:
                        base64.b64decode(encoded, validate=True)
                    except ValueError:
                        continue
                    outputs.append({"kind": "image", "uri": f"data:{image};base64,{encoded}"})
                elif "text/plain" in bundle:
                    outputs.append({"kind": "text", "text": _source(bundle["text/plain"])})
                elif bundle:
                    outputs.append({"kind": "note", "text": f"output of type {', '.join(sorted(bundle))} not shown"})
        cells.append({"type": str(raw.get("cell_type", "code")), "source": _source(raw.get("source")),
                      "outputs": outputs})
    return Preview("notebook", f"{len(cells)} cells", cells=cells)


def _parquet(data: bytes) -> Preview:
    try:
        import pyarrow.parquet as pq  # optional: runnable does not install pyarrow
    except ImportError:
        return Preview("none", "a Parquet preview needs pyarrow (pip install pyarrow); download it")
    try:
        table = pq.ParquetFile(io.BytesIO(data)).read_row_group(0) if data else None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own tree (ArrowInvalid, OSError, ...)
        return Preview("error", f"not a readable Parquet file: {exc}")
    if table is None:
        return Preview("none", "empty file")
    head = table.slice(0, ROWS).to_pylist()
    columns = list(table.column_names)
    rows = [columns] + [[str(row.get(c)) for c in columns] for row in head]
    return Preview("table", f"the first {min(ROWS, table.num_rows)} rows of {table.num_rows} in the first row group",
                   rows=rows)
