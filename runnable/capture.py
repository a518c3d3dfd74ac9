"""Send a job's output to the console live and to its execution log at the same time.

Capture works on file descriptors 1 and 2, not only on ``sys.stdout``: prints, ``logging``, C
extensions and subprocesses started by the job all reach the log. While capturing, ``sys.stdout`` and
``sys.stderr`` are line-buffered so the log keeps the order in which lines were written.

On Linux the copying is done by a small forked *tee process*, not by a thread: when the job's process
is killed outright (SIGKILL, the out-of-memory killer), output still in the pipes would die with a
thread, and the last lines before a crash are the ones that explain it. The tee process drains the
pipes to the end, writes the log and exits; the log stays in the run's scratch folder, where
``runnable logs`` finds it. It holds no descriptor but its own, and is reaped by this process. Once the run has ended normally it stops writing the log and exits with
the process that started it, as a thread would. Elsewhere (or if it cannot be forked) threads copy.
"""

from __future__ import annotations

import errno
import gc
import io
import os
import selectors
import signal
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
        self._tee: tuple[int, int, int] | None = None  # the tee process: (pid, lifeline, status)

    def __enter__(self) -> OutputCapture:
        self._flush_python_streams()
        self._log = open(self.log_path, "ab", buffering=0)
        pipes = {fd: os.pipe() for fd in (1, 2)}
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        reads = {pipes[fd][0]: self._saved[fd] for fd in (1, 2)}  # read end -> console it copies to
        if _can_fork():
            self._tee = self._start_tee_process(reads)
        if self._tee is None:
            for read_end, console in reads.items():
                thread = threading.Thread(target=self._pump, args=(read_end, console), daemon=True,
                                          name=f"runnable-tee-{read_end}")
                thread.start()
                self._threads.append(thread)
        for fd, (_read_end, write_end) in pipes.items():
            os.dup2(write_end, fd)
            os.close(write_end)
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
        """A thread copying one stream until its end."""
        stream = _Stream(console, self.make_filter() if self.make_filter else None, self._write_log)
        try:
            while True:
                try:
                    data = os.read(read_end, 65536)
                except OSError:
                    data = b""
                if not data:
                    stream.finish()
                    return
                stream.feed(data)
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

    # -- the tee process (Linux) -------------------------------------------------------------
    def _start_tee_process(self, reads: dict[int, int]) -> tuple[int, int, int] | None:
        """Fork the tee process for ``reads``; return (pid, lifeline, status), None if it cannot.

        The read ends of ``reads`` are the tee process's alone afterwards (closed here).
        """
        lifeline_read, lifeline_write = os.pipe()
        status_read, status_write = os.pipe()
        keep = {*reads, *reads.values(), lifeline_read, status_write, 0, 1, 2}
        if self._log is not None:
            keep.add(self._log.fileno())
        _reap_detached()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    self._tee_main(reads, lifeline_read, status_write, keep, previous)
                finally:
                    os._exit(0)
        except OSError:
            pid = -1
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for fd in (lifeline_read, status_write):
            os.close(fd)
        if pid < 0:
            for fd in (lifeline_write, status_read):
                os.close(fd)
            return None
        for read_end in reads:
            os.close(read_end)
        return pid, lifeline_write, status_read

    def _tee_main(self, reads: dict[int, int], lifeline: int, status: int, keep: set[int],
                  mask: set[int | signal.Signals]) -> None:
        """The tee process: copy until every writer is gone; never returns."""
        code = 0
        try:
            # No cyclic garbage collection: a finalizer of the job's objects could close a descriptor
            # number this process reuses (all but its own were closed below).
            gc.disable()
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the job; the output must drain
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            _close_all_but(keep)
            streams = {read_end: _Stream(console, self.make_filter() if self.make_filter else None,
                                         self._write_log) for read_end, console in reads.items()}
            selector = selectors.DefaultSelector()
            for fd in (*streams, lifeline):
                selector.register(fd, selectors.EVENT_READ)
            ended = False  # the run ended normally: the log is the parent's now
            while streams:
                for key, _ in selector.select():
                    fd = int(key.fd)
                    if fd == lifeline:
                        if os.read(lifeline, 16):
                            ended = True
                            with self._lock:
                                self._log = None  # stop writing it (the descriptor closes on exit)
                        elif ended:
                            os._exit(0)  # the run's process exited: stop, as a thread would
                        else:
                            selector.unregister(lifeline)  # it died mid-run: drain to the end
                        continue
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b""
                    if data:
                        streams[fd].feed(data)
                    else:
                        streams.pop(fd).finish()
                        selector.unregister(fd)
            error = self.log_error
            code = (error.errno or errno.EIO) if error is not None else 0
        except BaseException:  # noqa: BLE001 - never unwind into the job's code in a forked process
            code = errno.EIO
        finally:
            try:
                os.write(status, bytes([min(code, 255)]))
            finally:
                os._exit(0)

    def _finish_tee_process(self) -> None:
        """Wait for the tee process to copy the rest (at most DRAIN_SECONDS); take its log status."""
        assert self._tee is not None
        pid, lifeline, status = self._tee
        self._tee = None
        try:
            selector = selectors.DefaultSelector()
            selector.register(status, selectors.EVENT_READ)
            deadline = time.monotonic() + self.DRAIN_SECONDS
            ready = False
            while not ready and (left := deadline - time.monotonic()) > 0:
                ready = bool(selector.select(left))
            selector.close()
            if not ready:  # a process the job left running holds a pipe: stop logging, go on
                os.write(lifeline, b"e")
                _DETACHED.append(pid)  # reaped once it ends (it exits with this process at the latest)
                return
            got = os.read(status, 1)
            _reap(pid, block=True)  # it exits right after reporting
            if not got:
                self.log_error = OSError(errno.EIO, "the process copying the output stopped early")
            elif got[0]:
                self.log_error = OSError(got[0], os.strerror(got[0]))
        finally:
            os.close(status)
            os.close(lifeline)

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
        if self._tee is not None:
            self._finish_tee_process()
            for saved in self._saved.values():
                os.close(saved)  # the tee process has its own copies
        for thread in self._threads:
            thread.join(self.DRAIN_SECONDS)
        if self._threads and not any(thread.is_alive() for thread in self._threads):
            for saved in self._saved.values():
                os.close(saved)
        # else: a process the job left running still holds a pipe; its pump keeps forwarding to
        # the saved console fds, which stay open so the fd numbers are never reused under it.
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None


class _Stream:
    """One captured stream: the console gets its bytes as they come, the log whole lines."""

    def __init__(self, console: int, output_filter: Filter | None, write_log: Callable[[bytes], None]) -> None:
        self.console = console
        self.filter = output_filter
        self.write_log = write_log
        self.pending = bytearray()

    def feed(self, data: bytes) -> None:
        if self.filter is not None:
            data = self.filter(data)
        _write_all(self.console, data)
        self.pending += data
        cut = max(self.pending.rfind(b"\n"), self.pending.rfind(b"\r"))
        if cut >= 0 or len(self.pending) > OutputCapture._LINE_LIMIT:
            end = cut + 1 if cut >= 0 else len(self.pending)
            self.write_log(bytes(self.pending[:end]))
            del self.pending[:end]

    def finish(self) -> None:
        """End of output: release what the filter and the line buffer hold."""
        flush = getattr(self.filter, "flush", None)
        tail = flush() if flush is not None else b""
        if tail:
            _write_all(self.console, tail)
            self.pending += tail
        self.write_log(bytes(self.pending))
        self.pending.clear()


def _can_fork() -> bool:
    """Linux only: forking a process with threads is unsafe on macOS (see runnable.workers)."""
    return sys.platform == "linux" and hasattr(os, "fork")


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor not in ``keep`` (the tee process must hold no pipe or socket open)."""
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in open_fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, already closed


#: Tee processes still copying after their run ended (a process the job left running holds a pipe).
_DETACHED: list[int] = []


def _reap(pid: int, block: bool) -> bool:
    """Collect ``pid``'s exit status; True once it is gone (or is not our child any more)."""
    try:
        done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:  # reaped by someone else (a job calling os.wait())
        return True
    except InterruptedError:
        return False
    return done == pid


def _reap_detached() -> None:
    _DETACHED[:] = [pid for pid in _DETACHED if not _reap(pid, block=False)]
