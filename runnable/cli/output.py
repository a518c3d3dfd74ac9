"""What the history commands share: the ``--config`` option, error handling, tables and JSON.

A table is drawn with rich when standard output is a terminal and as plain aligned text when it is
piped (easy to ``grep`` and ``awk``); ``--json`` gives the data itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from runnable.backends.protocols import local_folder
from runnable.errors import RunnableError
from runnable.files.fileio import blocking_path
from runnable.run.environment import ENV_CONFIG

if TYPE_CHECKING:
    from runnable.history.runs import History
    from runnable.record import RunRecord

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

# A step to fit a table to the terminal: a column's header and its shorter form, or None to drop it.
Fit = tuple[str, Callable[[str], str] | None]


def config_option(function: F) -> F:
    """``--config FILE``, defaulting to $RUNNABLE_CONFIGURATION_FILE."""
    return click.option(
        "--config", "config_file", envvar=ENV_CONFIG, type=click.Path(dir_okay=False),
        help=f"Configuration YAML (default: ${ENV_CONFIG}, else .catalog and .run_log_store here).",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(function)


def open_history(config_file: str | None) -> History:
    """The configured history; fails in one line if a local store is a file where a folder should be
    (reading it would fail on every record or object, as 'Not a directory')."""
    from runnable.history.runs import History

    history = History.from_config(config_file)
    for what, service in (("catalog", history.storage), ("run-log store", history.store)):
        root = local_folder(service)
        blocker = blocking_path(root) if root else None
        if blocker is None:
            continue
        place = f"the {what} {service.location} ({_configured(config_file)})"
        where = "is" if blocker == root else f"is inside {blocker}, which is"
        fail(f"{place} {where} a file, not a folder; move it away or point --config at the right {what}")
    return history


def require_catalog(history: History, config_file: str | None, records: Iterable[RunRecord]) -> None:
    """Fail in one line if ``records`` stored files but the local catalog folder is not there (else
    every file would be reported missing, one by one). Runs that stored nothing need no catalog."""
    from runnable.history.verify import iter_entries

    root = local_folder(history.storage)
    if root is None or root.is_dir() or not any(e.stored for r in records for e in iter_entries(r)):
        return
    fail(f"no catalog at {history.storage.location} ({_configured(config_file)}); run the command in the "
         "project folder, or point --config at the catalog the runs stored their files in")


def _configured(config_file: str | None) -> str:
    return f"configured in {config_file}" if config_file else "the default"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn runnable's errors into a message on stderr and exit status 2 (bad input)."""
    try:
        yield
    except RunnableError as exc:  # RunNotFoundError's message already suggests the closest ids
        fail(str(exc))
    except OSError as exc:  # a store that cannot be read: say which file and why, not a traceback
        fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))


def is_terminal() -> bool:
    return sys.stdout.isatty()


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def wide_option(function: F) -> F:
    return click.option("--wide", is_flag=True,
                        help="On a terminal, show every column in full even if lines get wider than it.")(function)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
          right: Sequence[str] = (), *, fit: Sequence[Fit] = (), wrap: Sequence[str] = (),
          wide: bool = False) -> list[str]:
    """Print rows under headers: rich on a terminal, plain aligned columns when piped. Returns the
    headers of the columns dropped to fit the terminal (the caller may say their content otherwise).

    On a terminal the table fits its width: the ``fit`` steps are taken in order until it does, each
    giving a column its shorter form (``(header, function)``) or dropping it (``(header, None)``), and
    a note says so. Only the ``wrap`` columns (free text) wrap, at spaces: no id, path or hash is
    ever split across lines, so it can be copied. ``wide`` prints every column in full, as when
    piped (lines wider than the terminal then wrap there). Piped output always has every column in
    full, one row a line.
    """
    if is_terminal() and not wide:  # wide: the plain form, whose lines end where their text does
        return _rich_table(headers, rows, title, right, fit, wrap)
    if title:
        click.echo(title)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if h in right else c.ljust(w) for c, w, h in zip(cells, widths, headers, strict=True)]
        return "  ".join(parts).rstrip()

    click.echo("\n".join([line(headers), *(line(row) for row in rows)]))  # one write: 10,000 echo calls cost 0.15 s
    return []


def _rich_table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None, right: Sequence[str],
                fit: Sequence[Fit], wrap: Sequence[str]) -> list[str]:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    shown = list(range(len(headers)))
    short: dict[int, Callable[[str], str]] = {}

    def cell(row: Sequence[str], i: int) -> str:
        return short[i](row[i]) if i in short else row[i]

    def width(i: int) -> int:
        """A column's width: its longest line, or its longest word for one that may wrap."""
        cells = [cell(row, i) for row in rows]
        if headers[i] in wrap:
            return max([len(headers[i])] + [len(word) for text in cells for word in text.split()])
        return max([len(headers[i])] + [len(text) for text in cells])

    def needed(gap: int) -> int:
        return sum(width(i) for i in shown) + (gap + 1) * (len(shown) - 1)

    dropped: list[str] = []
    for header, shorter in fit:
        if needed(gap=1) <= console.width:
            break
        index = list(headers).index(header)
        if shorter is not None:
            short[index] = shorter
        elif index in shown:
            shown.remove(index)
            dropped.append(header)
    # Still too wide: hide columns from the right, never the first (the row's id), and say so; rich
    # would otherwise cut a column's text with an ellipsis, an id or a number among them.
    while needed(gap=0) > console.width and len(shown) > 1:
        dropped.append(headers[shown.pop()])
    # Two spaces between columns (one when nothing else fits) and none at the edges, as in the piped
    # form: 16 columns more than rich's boxed style for a table of 7 columns.
    gap = 1 if needed(gap=1) <= console.width else 0
    built = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, gap, 0, 0))
    for i in shown:
        header = headers[i]
        # A column that wraps does so at spaces, never inside a word (a hash, a path).
        built.add_column(header, justify="right" if header in right else "left", no_wrap=header not in wrap,
                         overflow="fold" if header in wrap else "ellipsis", min_width=width(i))
    for row in rows:
        built.add_row(*(cell(row, i) for i in shown))
    console.print(built)
    if dropped or short:
        # One line on 80 columns, whatever went: "(hidden: STORED, DURATION, FILES; shortened: START
        # (UTC); --wide shows all)" is 76.
        hidden = f"hidden: {', '.join(dropped)}" if dropped else ""
        cut = ", ".join(headers[i] for i in sorted(short) if i in shown)
        what = "; ".join(x for x in (hidden, f"shortened: {cut}" if cut else "") if x)
        console.print(f"({what}; --wide shows all)", style="dim")
    return dropped


def short_hashes(text: str) -> str:
    """Hex digests in ``text`` cut to 12 digits, as git abbreviates a commit: 'md5 0123456789ab…'."""
    import re

    return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{20,}\b", "\\1…", text)


def echo_wrapped(text: str, err: bool = False, indent: int = 0) -> None:
    """Echo ``text``; on a terminal, wrapped at spaces to its width (continuation lines indented by
    ``indent``), so that no id, hash or path is split across lines where a space could break instead."""
    stream = sys.stderr if err else sys.stdout
    if stream.isatty():
        import shutil

        from runnable.files.progress import wrap_at_spaces

        text = wrap_at_spaces(text, shutil.get_terminal_size().columns, indent)
    click.echo(text, err=err)
