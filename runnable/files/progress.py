"""A progress bar for catalog work, shown only when it helps.

Nothing is shown unless standard error is an interactive terminal *and* the work has already taken
about a second: quick runs and logs, pipes and CI output stay free of control characters, and
``rich`` is imported only when a bar is actually drawn (``import runnable`` never loads it).

The bar writes to a duplicate of the terminal's descriptor taken before the run starts capturing
its output, so it reaches the screen but never the execution log.

>>> with TransferProgress(total_bytes=10, total_files=1, terminal_fd=None) as bar:
...     bar.add_bytes(10); bar.add_file()
>>> (bar.bytes_done, bar.files_done)
(10, 1)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

from runnable.files.patterns import Match
from runnable.run import environment as _environment
from runnable.run.environment import ENV_PROGRESS_DELAY as ENV_DELAY

# Work shorter than this shows nothing: a bar that flashes for a fraction of a second is noise.
DELAY_SECONDS = 1.0
_REFRESH_SECONDS = 0.1


def wrap_at_spaces(text: str, width: int, indent: int = 0) -> str:
    """``text`` with each line longer than ``width`` broken at spaces only (continuation lines
    indented by ``indent``): a terminal would break it anywhere, splitting an id, a hash or a path
    that then cannot be copied. A word longer than the width stays whole."""
    import textwrap

    return "\n".join(textwrap.fill(line, width, subsequent_indent=" " * indent, break_long_words=False,
                                   break_on_hyphens=False) if len(line) > width else line
                     for line in text.split("\n"))


def _delay() -> float:
    try:
        return float(_environment.text(ENV_DELAY) or DELAY_SECONDS)
    except ValueError:
        return DELAY_SECONDS


@contextmanager
def terminal() -> Iterator[int | None]:
    """A private duplicate of standard error's descriptor if it is a terminal, else None.

    Take it before output capture replaces descriptor 2 with a pipe; it is closed on exit.
    """
    try:
        fd = os.dup(2) if os.isatty(2) else None
    except OSError:
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


class TransferProgress:
    """Counts bytes and files done; draws a bar on ``terminal_fd`` once the work outlasts the delay.

    Thread-safe: workers call ``add_bytes`` per chunk and ``add_file`` per file. With
    ``terminal_fd=None`` it only counts.
    """

    def __init__(self, total_bytes: int, total_files: int, terminal_fd: int | None,
                 delay: float | None = None, label: str = "storing") -> None:
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.bytes_done = 0
        self.files_done = 0
        self.shown = False  # True once the bar has been drawn
        self._fd = terminal_fd
        self._delay = _delay() if delay is None else delay
        self._label = label
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n

    def add_file(self, n_bytes: int = 0) -> None:
        """One more file done, and ``n_bytes`` more bytes if not counted by ``add_bytes`` already."""
        with self._lock:
            self.files_done += 1
            self.bytes_done += n_bytes

    def __enter__(self) -> TransferProgress:
        if self._fd is not None:
            self._thread = threading.Thread(target=self._draw, name="runnable-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._finished.set()
        if self._thread is not None:
            self._thread.join()

    def _draw(self) -> None:
        if self._finished.wait(self._delay) or self._fd is None:
            return  # done within the delay: show nothing
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        stream = open(self._fd, "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
        try:
            console = Console(file=stream, stderr=False)
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TextColumn("{task.fields[files]}"),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                auto_refresh=False,
            )
            with bar:
                task = bar.add_task(self._label, total=self.total_bytes or None, files="")
                self.shown = True
                while True:
                    finished = self._finished.wait(_REFRESH_SECONDS)
                    files = f"{self.files_done}/{self.total_files} files"
                    bar.update(task, completed=self.bytes_done, files=files)
                    bar.refresh()
                    if finished:
                        break
        finally:
            stream.close()


def for_files(files: Sequence[Match], terminal_fd: int | None, label: str = "storing") -> TransferProgress:
    """A progress counter for putting ``files``; sizes are looked up only when a bar may be drawn."""
    total = 0
    if terminal_fd is not None:
        for match in files:
            try:
                total += os.stat(match.path).st_size
            except OSError:
                pass  # reported when the file itself is stored
    return TransferProgress(total, len(files), terminal_fd, label=label)


__all__ = ["DELAY_SECONDS", "ENV_DELAY", "TransferProgress", "for_files", "terminal"]
