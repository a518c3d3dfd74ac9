"""Send a job's output to the console live and to its execution log at the same time.

Capture works on file descriptors 1 and 2, not only on ``sys.stdout``: prints, ``logging``, C
extensions and subprocesses started by the job all reach the log. While capturing, ``sys.stdout`` and
``sys.stderr`` are line-buffered so the log keeps the order in which lines were written.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TextIO

Filter = Callable[[bytes], bytes]
# A fresh filter for each stream: a filter may hold back bytes between calls (see secrets.Masker)
# and exposes ``flush()`` for what it holds at the end.
FilterFactory = Callable[[], Filter]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:
            return  # the console went away (closed pipe): keep logging regardless
        view = view[written:]


class OutputCapture:
    """Tee fds 1 and 2 into ``log_path`` (appending) while still writing them to the console.

    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "x.log"
    >>> with OutputCapture(log):
    ...     _ = os.write(1, b"hello\\n")
    hello
    >>> log.read_bytes()
    b'hello\\n'
    """

    # How long to wait at the end for output still in the pipes; a background process the job
    # started may keep a pipe open forever, so do not wait on it indefinitely.
    DRAIN_SECONDS = 5.0

    def __init__(self, log_path: Path, make_filter: FilterFactory | None = None) -> None:
        self.log_path = log_path
        self.make_filter = make_filter
        self._lock = threading.Lock()
        self._log: BinaryIO | None = None
        self._saved: dict[int, int] = {}
        self._threads: list[threading.Thread] = []
        self._streams: tuple[TextIO, TextIO] | None = None
        #: Set if writing the log failed (the console copy went on): the log is incomplete.
        self.log_error: OSError | None = None
        self._ours: tuple[io.TextIOWrapper, io.TextIOWrapper] | None = None

    def __enter__(self) -> OutputCapture:
        self._flush_python_streams()
        self._log = open(self.log_path, "ab", buffering=0)
        for fd in (1, 2):
            saved = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            self._saved[fd] = saved
            thread = threading.Thread(target=self._pump, args=(read_end, saved), daemon=True, name=f"runnable-tee-{fd}")
            thread.start()
            self._threads.append(thread)
        self._streams = (sys.stdout, sys.stderr)
        self._ours = (
            io.TextIOWrapper(open(1, "wb", closefd=False), line_buffering=True, errors="replace"),
            io.TextIOWrapper(open(2, "wb", closefd=False), line_buffering=True, errors="backslashreplace"),
        )
        sys.stdout, sys.stderr = self._ours
        return self

    # The console gets bytes as they come; the log gets whole lines from each stream, so a partial
    # stdout line and a stderr line never interleave in it (up to this many bytes of a line).
    _LINE_LIMIT = 65536

    def _pump(self, read_end: int, console: int) -> None:
        output_filter = self.make_filter() if self.make_filter else None
        pending = bytearray()
        try:
            while True:
                try:
                    data = os.read(read_end, 65536)
                except OSError:
                    data = b""
                if not data:  # end of output: release what the filter and the line buffer hold
                    flush = getattr(output_filter, "flush", None)
                    tail = flush() if flush is not None else b""
                    if tail:
                        _write_all(console, tail)
                        pending += tail
                    self._write_log(bytes(pending))
                    return
                if output_filter is not None:
                    data = output_filter(data)
                _write_all(console, data)
                pending += data
                cut = max(pending.rfind(b"\n"), pending.rfind(b"\r"))
                if cut >= 0 or len(pending) > self._LINE_LIMIT:
                    end = cut + 1 if cut >= 0 else len(pending)
                    self._write_log(bytes(pending[:end]))
                    del pending[:end]
        finally:
            os.close(read_end)

    def _write_log(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            if self._log is not None:
                try:
                    self._log.write(data)
                except OSError as exc:  # a full disk: keep the console going, report it at the end
                    self.log_error = exc
                    self._log.close()
                    self._log = None

    @staticmethod
    def _flush_python_streams() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._flush_python_streams()
        if self._streams is not None:
            sys.stdout, sys.stderr = self._streams
            for stream in self._ours or ():  # ours only: a stream the job put in place is not ours to close
                try:
                    stream.flush()
                    stream.detach()  # leave fds 1 and 2 open
                except (OSError, ValueError):
                    pass
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # closes our pipe's write end: the pump sees end-of-file
        deadline = time.monotonic() + self.DRAIN_SECONDS  # one wait for both pipes, not one each
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self._threads):
            for saved in self._saved.values():
                os.close(saved)
        # else: a process the job left running still holds a pipe; its pump keeps forwarding to
        # the saved console fds, which stay open so the fd numbers are never reused under it.
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None
