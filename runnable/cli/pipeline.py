"""``runnable execute FILE``, ``runnable execute-step RUN_ID FILE STEP`` and ``runnable retry RUN_ID``.

FILE is a pipeline script in any of the forms upstream uses: it calls ``pipeline.execute()`` itself
(at the top, or from a ``main()`` its ``__main__`` guard calls), or it defines ``main()`` returning the
pipeline, or a module-level ``pipeline``. The options reach the run as ``execute-job``'s do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from runnable.cli.execute import _as_main, _check_tags, _load, _print_script_traceback
from runnable.cli.output import fail
from runnable.errors import JobFailedError, RunnableError
from runnable.run.execute import CommandLine, given
from runnable.run.runner import failure_line

_FORMS = ("call execute() on the pipeline in the script, define main() that returns it, or a module-level "
          "'pipeline'; see docs/pipelines.md")


def _command_line(config_file: str | None, parameters_file: str | None, run_id: str | None,
                  tags: tuple[str, ...]) -> CommandLine:
    """The options, for the execute() calls of the script (``runnable.run.execute.given``)."""
    _check_tags(tags)
    return CommandLine(configuration_file=str(Path(config_file).absolute()) if config_file else None,
                       parameters_file=str(Path(parameters_file).absolute()) if parameters_file else None,
                       run_id=run_id, tags=tags)


def _run_script(file: Path, name: str = "__main__") -> dict[str, Any]:
    """Run FILE as ``python FILE`` would (as ``name``); its namespace. One line for a failed run."""
    code, attributes = _load(file)
    sys.path.insert(0, os.path.dirname(attributes["__file__"]))
    sys.argv = [str(file)]
    try:
        with _as_main({**attributes, "__name__": name}) as namespace:
            exec(code, namespace)
            return dict(namespace)
    except JobFailedError as exc:  # the steps' output and the summary are printed already
        click.echo(failure_line(exc, 1), err=True)
        raise SystemExit(1) from exc
    except RunnableError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc
    except Exception as exc:  # the script's own code failed: its traceback, as `python FILE` shows it
        _print_script_traceback(exc)
        raise SystemExit(1) from exc


def _pipeline_of(file: Path, namespace: dict[str, Any]) -> Any:
    """The pipeline a script defines without running it: what main() returns, or ``pipeline``."""
    from runnable.pipeline.dsl import Pipeline

    main = namespace.get("main")
    if callable(main):
        found = main()
        if isinstance(found, Pipeline):
            return found
    found = namespace.get("pipeline")
    if isinstance(found, Pipeline):
        return found
    fail(f"{file} defines no pipeline: {_FORMS}")


def _execute(file: Path, command_line: CommandLine) -> None:
    with given(command_line):
        namespace = _run_script(file)
        if command_line.runs:
            return
        _execute_found(file, namespace, command_line)


def _execute_found(file: Path, namespace: dict[str, Any], command_line: CommandLine) -> None:
    try:
        pipeline = _pipeline_of(file, namespace)  # a main() may run it itself, then return it
        if not command_line.runs:
            pipeline.execute()
    except JobFailedError as exc:
        click.echo(failure_line(exc, 1), err=True)
        raise SystemExit(1) from exc
    except RunnableError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc


_file = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_config = click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                       help="Configuration YAML.")


@click.command("execute")
@_file
@_config
@click.option("--parameters-file", "--parameters", "parameters_file", type=click.Path(exists=True, dir_okay=False),
              help="Parameters YAML.")
@click.option("--run-id", help="Use this run id instead of a generated one.")
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable; no commas).")
def execute(file: Path, config_file: str | None, parameters_file: str | None, run_id: str | None,
            tags: tuple[str, ...]) -> None:
    """Run the pipeline that FILE defines, as one run."""
    _execute(file, _command_line(config_file, parameters_file, run_id, tags))


@click.command("retry")
@click.argument("run_id")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_config
def retry(run_id: str, file: Path | None, config_file: str | None) -> None:
    """Run the failed pipeline run RUN_ID again from its failed steps, as a new run linked to it.

    FILE is the pipeline script; by default the one RUN_ID ran. The steps that succeeded are not run
    again: their returns and files are reused. A pipeline whose steps changed is refused.
    """
    from runnable.config import loading
    from runnable.pipeline.local import retrying
    from runnable.pipeline.retry import original_run

    command_line = _command_line(config_file, None, None, ())
    try:
        original = original_run(run_id, loading.load(command_line.configuration_file)["run-log-store"].build())
    except RunnableError as exc:
        fail(str(exc))
    if file is None:
        argv = original.environment.get("argv") or []
        folder = Path(str(original.environment.get("working_folder") or "."))
        script = folder / str(argv[0]) if argv else None
        if script is None or not script.is_file():
            fail(f"run {run_id} was started by {argv[:1] or 'an unknown script'}, which is not a file here; "
                 "give the pipeline script: runnable retry RUN_ID FILE")
        file = script
    with retrying(run_id):
        _execute(file, command_line)


@click.command("execute-step")
@click.argument("run_id")
@_file
@click.argument("step")
@_config
def execute_step(run_id: str, file: Path, step: str, config_file: str | None) -> None:
    """Run the one step STEP (its dotted name) of the pipeline in FILE, as part of run RUN_ID.

    What a container runs for each task: the run's record must exist; the step reads the parameters
    and files the earlier steps left in it and its catalog, and adds its own entry.
    """
    from runnable.pipeline import dsl
    from runnable.pipeline.dsl import Pipeline
    from runnable.pipeline.single import execute_one_step

    dsl.CAPTURED = []
    try:
        namespace = _run_script(file)  # as __main__: its execute() only hands the pipeline over
        if not dsl.CAPTURED:  # a main() the script does not call: it builds (or executes) the pipeline
            main = namespace.get("main")
            returned = main() if callable(main) else None
            if not dsl.CAPTURED and isinstance(returned, Pipeline):
                dsl.CAPTURED.append(returned)
        if not dsl.CAPTURED and isinstance(namespace.get("pipeline"), Pipeline):
            dsl.CAPTURED.append(namespace["pipeline"])
        if not dsl.CAPTURED:
            fail(f"{file} defines no pipeline: {_FORMS}")
        pipeline = dsl.CAPTURED[0]
    finally:
        dsl.CAPTURED = None
    try:
        execute_one_step(pipeline, run_id, step, config_file)
    except JobFailedError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from exc
    except RunnableError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc
