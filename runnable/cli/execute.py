"""``runnable execute-job FILE.py``: run the job a script defines, without editing it."""

from __future__ import annotations

import inspect
import os
import reprlib
import sys
import traceback
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from runnable.cli.output import fail
from runnable.config import ENV_CONFIG, ENV_DRY_RUN
from runnable.errors import JobFailedError, RunnableError
from runnable.runner import COMMAND_LINE, ENV_PARAMETERS_FILE, ENV_RUN_ID, ENV_TAGS

# The forms a script may take, said once for every "ran no job" error (docs/jobs.md shows them).
_EXPECTED = ("call execute() on a job in the script, or define main() that returns the job (execute-job runs it); "
             "see docs/jobs.md")
_SHELLS = (".sh", ".bash", ".zsh", ".ksh", ".fish")


@click.command("execute-job")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="Configuration YAML.")
@click.option("--parameters", "parameters_file", type=click.Path(exists=True, dir_okay=False), help="Parameters YAML.")
@click.option("--run-id", help="Use this run id instead of a generated one.")
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable).")
@click.option("--dry-run", is_flag=True,
              help="With a local-container or k8s-job executor: print the command or manifest, run nothing.")
def execute_job(file: Path, config_file: str | None, parameters_file: str | None, run_id: str | None,
                tags: tuple[str, ...], dry_run: bool) -> None:
    """Run the job that FILE defines.

    FILE is run as a script (as `python FILE` would); the job it executes picks up the options given
    here. A script that passes a different configuration file, parameters file or run id to
    `execute()` itself is refused before the job runs. A script that only defines `main()` returning
    a job, without calling it, is handled too. A script that runs no job is an error.
    """
    code = _compile(file)
    if config_file:
        os.environ[ENV_CONFIG] = COMMAND_LINE["configuration_file"] = str(Path(config_file).absolute())
    if dry_run:
        os.environ[ENV_DRY_RUN] = "1"
    if parameters_file:
        os.environ[ENV_PARAMETERS_FILE] = COMMAND_LINE["parameters_file"] = str(Path(parameters_file).absolute())
    if run_id:
        os.environ[ENV_RUN_ID] = run_id
        COMMAND_LINE["job_id"] = run_id
    if tags:
        os.environ[ENV_TAGS] = ",".join(tags)
    sys.path.insert(0, str(file.parent.absolute()))
    sys.argv = [str(file)]
    returned = ""
    try:
        with _as_main(file) as namespace:
            exec(code, namespace)
            # main() is called while the script is still __main__: a container or pod executor runs
            # the file __main__ names again, inside.
            if "main" in namespace and not _ran_a_job():
                returned = _run_main(file, namespace["main"])
    except JobFailedError as exc:  # the job's traceback and the summary are already printed
        raise SystemExit(1) from exc
    except RunnableError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc
    except Exception as exc:  # the script's own code failed: its traceback, as `python FILE` shows it
        _print_script_traceback(exc)
        raise SystemExit(1) from exc
    if not _ran_a_job():
        fail(f"{file} ran no job{returned}: {_EXPECTED}")


def _compile(file: Path) -> types.CodeType:
    """The script's code; a one-line error for a notebook, a shell script or a syntax error."""
    if file.suffix.lower() == ".ipynb":
        fail(f"{file} is a Jupyter notebook, not a Python script; run it with "
             f"NotebookJob(notebook={str(file)!r}).execute() in a Python script, and give that script to execute-job")
    try:
        source = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}; check that it is a readable file")
    first = source.split(b"\n", 1)[0]
    shell = f"{file} is not a Python script"
    runner = file.suffix.lower()[1:] if file.suffix.lower() in _SHELLS else None
    if first.startswith(b"#!") and b"python" not in first:
        runner = first[2:].decode(errors="replace").strip()
    command = f"ShellJob(command={f'{runner} {file}'!r})" if runner else "ShellJob(command=...)"
    advice = f"execute-job runs Python scripts: to run it as a job, call {command}.execute() in a Python script"
    if file.suffix.lower() in _SHELLS:
        fail(f"{shell} (a {file.suffix} file); {advice}")
    if runner:
        fail(f"{shell} (it starts with {first.decode(errors='replace')!r}); {advice}")
    try:
        # dont_inherit: the script gets no __future__ flags from this module, as with `python FILE`.
        return compile(source, str(file), "exec", dont_inherit=True)
    except SyntaxError as exc:
        if file.suffix.lower() not in (".py", ".pyw") and not first.startswith(b"#!"):
            fail(f"{shell} (line {exc.lineno}: {exc.msg}); {advice}")
        fail(f"syntax error in {file}:{exc.lineno}: {exc.msg}; fix the script and run it again")
    except ValueError as exc:  # NUL bytes, on Pythons that do not call it a SyntaxError
        fail(f"{shell} ({exc}); {advice}")


@contextmanager
def _as_main(file: Path) -> Iterator[dict[str, Any]]:
    """A fresh ``__main__`` module for the script, as ``runpy.run_path`` makes, kept in
    ``sys.modules`` while the block runs (pickle and the container executor look it up there)."""
    module = types.ModuleType("__main__")
    module.__dict__.update(__file__=str(file), __cached__=None, __loader__=None, __package__=None, __spec__=None)
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        yield module.__dict__
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _run_main(file: Path, main: object) -> str:
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
    if _ran_a_job():
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


def _ran_a_job() -> bool:
    from runnable import runner

    return runner.RUNS_STARTED > 0
