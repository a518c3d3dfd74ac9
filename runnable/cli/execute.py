"""``runnable execute-job FILE.py``: run the job a script defines, without editing it."""

from __future__ import annotations

import importlib.util
import inspect
import marshal
import os
import platform
import reprlib
import sys
import traceback
import types
import zipfile
import zipimport
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from runnable.cli.output import fail
from runnable.errors import JobFailedError, RunnableError
from runnable.run.execute import CommandLine, given
from runnable.run.runner import failure_line

# The forms a script may take, said once for every "ran no job" error (docs/jobs.md shows them).
_EXPECTED = ("call execute() on a job in the script, or define main() that returns the job (execute-job runs it); "
             "see docs/jobs.md")
# Shells, by suffix (``.sh``) or by the program a ``#!`` line runs: their scripts are never run as Python.
_SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "fish", "csh", "tcsh")


@click.command("execute-job")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="Configuration YAML.")
@click.option("--parameters", "parameters_file", type=click.Path(exists=True, dir_okay=False), help="Parameters YAML.")
@click.option("--run-id", help="Use this run id instead of a generated one.")
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable; no commas).")
@click.option("--dry-run", is_flag=True,
              help="With a local-container or k8s-job executor: print the command or manifest, run nothing.")
def execute_job(file: Path, config_file: str | None, parameters_file: str | None, run_id: str | None,
                tags: tuple[str, ...], dry_run: bool) -> None:
    """Run the job that FILE defines.

    FILE is a Python script, a .pyc file or a zip application, run as `python FILE` would run it; the
    job it executes picks up the options given here. A script that passes a different configuration
    file, parameters file or run id to `execute()` itself is refused before the job runs. A script
    that only defines `main()` returning a job, without calling it, is handled too. A script that
    runs no job is an error.
    """
    _check_tags(tags)
    code, main_attributes = _load(file)
    # Handed to the script's execute() calls as an argument of this process (runnable.run.execute),
    # not through os.environ: a variable would reach every process the job starts.
    command_line = CommandLine(
        configuration_file=str(Path(config_file).absolute()) if config_file else None,
        parameters_file=str(Path(parameters_file).absolute()) if parameters_file else None,
        run_id=run_id or None,
        tags=tags,
        dry_run=dry_run,
    )
    # As `python FILE`: the script's folder (a zip application itself) first on the path, argv[0] as typed.
    sys.path.insert(0, os.path.dirname(main_attributes["__file__"]))
    sys.argv = [str(file)]
    returned = ""
    with script_failures(), given(command_line), _as_main(main_attributes) as namespace:
        exec(code, namespace)
        # main() is called while the script is still __main__: a container or pod executor runs
        # the file __main__ names again, inside.
        if "main" in namespace and not command_line.runs:
            returned = _run_main(file, namespace["main"], command_line)
    if not command_line.runs:
        fail(f"{file} ran no job{returned}: {_EXPECTED}")


def _check_tags(tags: tuple[str, ...]) -> None:
    """A one-line error for a tag the job could not record as given: tags reach the job joined by
    commas (in $RUNNABLE_TAGS, also inside a container or pod), and a blank one is left out there."""
    for tag in tags:
        if "," in tag:
            fail(f"--tag {tag!r} contains a comma; tags cannot contain commas (the job receives them joined by "
                 f"commas): give one --tag per tag, or write it with another separator, e.g. {tag.replace(',', ':')!r}")
        if not tag.strip():
            fail(f"--tag {tag!r} is blank; give the tag some text, or leave the option out")


def _load(file: Path) -> tuple[types.CodeType, dict[str, Any]]:
    """The code ``python FILE`` runs and the ``__main__`` attributes it runs it with, ``__file__``
    absolute as on Python 3.9+: a script's source, a ``.pyc`` or a zip application's ``__main__.py``
    (what ``runpy.run_path`` runs). A one-line error for a file Python cannot run."""
    if file.suffix.lower() == ".ipynb":
        fail(f"{file} is a Jupyter notebook, not a Python script; run it with "
             f"NotebookJob(notebook={str(file)!r}).execute() in a Python script, and give that script to execute-job")
    try:
        content = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}; check that it is a readable file")
    path = str(file.absolute())
    if zipfile.is_zipfile(file):
        return _zip_main(file, path)
    if content[:4] == importlib.util.MAGIC_NUMBER or file.suffix.lower() == ".pyc":
        return _compiled(file, content), {"__file__": path}
    return _compile(file, content), {"__file__": path}


def _zip_main(file: Path, path: str) -> tuple[types.CodeType, dict[str, Any]]:
    """The ``__main__.py`` of a zip application, with the spec and loader ``python FILE`` gives it."""
    try:
        importer = zipimport.zipimporter(path)
        spec = importer.find_spec("__main__")
        code = importer.get_code("__main__") if spec is not None else None
    except zipimport.ZipImportError as exc:
        fail(f"cannot read {file} as a zip application: {exc}; make it again, e.g. with python -m zipapp")
    except SyntaxError as exc:
        _syntax_error(f"{file}/__main__.py", exc, b"")
    if spec is None or code is None:
        fail(f"{file} is a zip file without __main__.py, which Python runs in a zip application; add one "
             "that runs the job (python -m zipapp --main), or give execute-job a script")
    return code, {"__file__": spec.origin, "__loader__": importer, "__spec__": spec, "__package__": "",
                  "__cached__": spec.cached}


def _compiled(file: Path, content: bytes) -> types.CodeType:
    """The code of a ``.pyc`` file written by this Python (a 16-byte header, then the marshalled code)."""
    if content[:4] != importlib.util.MAGIC_NUMBER:
        if content[2:4] == b"\r\n":  # every Python's magic number ends so; the first two bytes differ
            fail(f"{file} was compiled by another version of Python, not this one ({platform.python_version()}); "
                 "run it with that Python, or give execute-job its .py source")
        fail(f"{file} is not a compiled Python file (it has no .pyc header); give execute-job a Python script")
    try:
        code = marshal.loads(content[16:])
    except (EOFError, ValueError, TypeError):
        code = None
    if not isinstance(code, types.CodeType):
        fail(f"{file} is a damaged .pyc file; compile its .py source again, or give execute-job the source")
    return code


def _compile(file: Path, source: bytes) -> types.CodeType:
    """A script's code. Its ``.py``/``.pyw`` suffix is trusted whatever its ``#!`` line runs (a PEP 723
    script starts ``#!/usr/bin/env -S uv run --script``); a file without one is refused when its suffix
    or ``#!`` line names a shell, and the ``#!`` line helps explain why it does not compile."""
    suffix = file.suffix.lower()
    first = source.split(b"\n", 1)[0]
    shebang = first.decode(errors="replace") if first.startswith(b"#!") else ""
    runner = suffix[1:] if suffix[1:] in _SHELLS else shebang[2:].strip()
    command = f"ShellJob(command={f'{runner} {file}'!r})" if runner else "ShellJob(command=...)"
    refused = (f"{file} is not a Python script ({{}}); execute-job runs Python scripts: to run it as a job, "
               f"call {command}.execute() in a Python script")
    python_suffix = suffix in (".py", ".pyw")
    if suffix[1:] in _SHELLS:
        fail(refused.format(f"a {file.suffix} file"))
    if not python_suffix and _interpreter(shebang) in _SHELLS:  # a shell script Python might parse: `ls`
        fail(refused.format(f"it starts with {shebang!r}"))
    try:
        # dont_inherit: the script gets no __future__ flags from this module, as with `python FILE`.
        return compile(source, str(file), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes, on Pythons that do not say SyntaxError
        if python_suffix or "python" in shebang or "pypy" in shebang:
            _syntax_error(str(file), exc, source)
        line, message = _where(exc, source)
        why = f"line {line} is not Python: {message}" if line else f"it is not Python: {message}"
        fail(refused.format(f"it starts with {shebang!r}, and {why}" if shebang else why))


def _where(exc: SyntaxError | ValueError, source: bytes) -> tuple[int | None, str]:
    """The line (None if unknown) and message of a compile error; Python 3.11 gives no line for a
    NUL byte, so it is counted here."""
    line = exc.lineno if isinstance(exc, SyntaxError) else None
    if line is None and b"\0" in source:
        line = source.count(b"\n", 0, source.index(b"\0")) + 1
    return line, exc.msg if isinstance(exc, SyntaxError) else str(exc)


def _syntax_error(name: str, exc: SyntaxError | ValueError, source: bytes) -> NoReturn:
    line, message = _where(exc, source)
    fail(f"syntax error in {name}{f':{line}' if line else ''}: {message}; fix the script and run it again")


def _interpreter(shebang: str) -> str:
    """The program a ``#!`` line runs, past ``env`` and its options: ``#!/usr/bin/env -S bash -e`` is bash."""
    words = shebang[2:].split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return os.path.basename(words[0]) if words else ""


@contextmanager
def script_failures() -> Iterator[None]:
    """How a user's script that fails ends the command, for jobs and pipelines alike: a failed run
    with one line (its output and summary are printed already), our error with one line, the
    script's own error with its traceback as `python FILE` shows it."""
    try:
        yield
    except JobFailedError as exc:
        click.echo(failure_line(exc, 1), err=True)
        raise SystemExit(1) from exc
    except RunnableError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc
    except Exception as exc:
        _print_script_traceback(exc)
        raise SystemExit(1) from exc


@contextmanager
def _as_main(attributes: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A fresh ``__main__`` module with ``attributes``, as ``runpy.run_path`` makes it, kept in
    ``sys.modules`` while the block runs (pickle and the container executor look it up there)."""
    module = types.ModuleType("__main__")
    module.__dict__.update(__cached__=None, __loader__=None, __package__=None, __spec__=None)
    module.__dict__.update(attributes)
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        yield module.__dict__
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _run_main(file: Path, main: object, command_line: CommandLine) -> str:
    """Call the script's ``main()`` and execute the job it returns, unless it ran one itself.

    Returns why no job ran, for the error ("" when one did).
    """
    if not callable(main):
        return f" (its main is a {type(main).__name__}, not a function)"
    try:
        signature = inspect.signature(main)
    except (TypeError, ValueError):  # a builtin without a signature: call it and see
        signature = None
    if signature is not None:
        required = [p for p in signature.parameters.values()
                    if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if required:
            fail(f"{file}: main() must take no arguments (it takes {signature}); execute-job calls it with "
                 "none: give them defaults, or make them job parameters of the function the job runs")
    job = main()
    if command_line.runs:
        return ""
    from runnable.jobs import BaseJob

    if not isinstance(job, BaseJob):
        return f" (its main() returned {reprlib.repr(job)}, not a job)"
    job.execute()
    return ""


def _print_script_traceback(exc: BaseException) -> None:
    """Print ``exc`` with its traceback from the script's first frame on: this module's frames (and
    click's, above them) are how the script was started, not where it failed."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
        tb = tb.tb_next
    click.echo("".join(traceback.format_exception(type(exc), exc, tb)), err=True, nl=False)
