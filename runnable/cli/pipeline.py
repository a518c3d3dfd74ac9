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

from runnable.cli.execute import _as_main, _check_tags, _load, script_failures
from runnable.cli.output import fail
from runnable.errors import JobFailedError, RunnableError
from runnable.run.execute import CommandLine, given
from runnable.run.runner import failure_line

_FORMS = ("call execute() on the pipeline in the script, define main() that returns it, or a module-level "
          "'pipeline'; see docs/pipelines.md")


def _command_line(config_file: str | None, parameters_file: str | None, run_id: str | None,
                  tags: tuple[str, ...], output: str | None = None, submit: bool = False) -> CommandLine:
    """The options, for the execute() calls of the script (``runnable.run.execute.given``)."""
    _check_tags(tags)
    return CommandLine(configuration_file=str(Path(config_file).absolute()) if config_file else None,
                       parameters_file=str(Path(parameters_file).absolute()) if parameters_file else None,
                       run_id=run_id, tags=tags, output=output, submit=submit)


def _run_script(file: Path, name: str = "__main__") -> dict[str, Any]:
    """Run FILE as ``python FILE`` would (as ``name``); its namespace. One line for a failed run."""
    code, attributes = _load(file)
    sys.path.insert(0, os.path.dirname(attributes["__file__"]))
    sys.argv = [str(file)]
    with script_failures(), _as_main({**attributes, "__name__": name}) as namespace:
        exec(code, namespace)
        return dict(namespace)


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
    command_line.script = str(file.absolute())
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
_output = click.option("--output", type=click.Path(dir_okay=False),
                       help="pipeline-executor argo: write the workflow YAML here (default: its output_file).")
_submit = click.option("--submit", is_flag=True,
                       help="pipeline-executor argo: also submit the workflow to the cluster (Kubernetes API).")


@click.command("execute")
@_file
@_config
@click.option("--parameters-file", "--parameters", "parameters_file", type=click.Path(exists=True, dir_okay=False),
              help="Parameters YAML.")
@click.option("--run-id", help="Use this run id instead of a generated one.")
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable; no commas).")
@_output
@_submit
def execute(file: Path, config_file: str | None, parameters_file: str | None, run_id: str | None,
            tags: tuple[str, ...], output: str | None, submit: bool) -> None:
    """Run the pipeline that FILE defines, as one run (with pipeline-executor argo: write its workflow)."""
    _execute(file, _command_line(config_file, parameters_file, run_id, tags, output, submit))


@click.command("retry")
@click.argument("run_id")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_config
@_output
@_submit
def retry(run_id: str, file: Path | None, config_file: str | None, output: str | None, submit: bool) -> None:
    """Run the failed pipeline run RUN_ID again from its failed steps, as a new run linked to it.

    FILE is the pipeline script; by default the one RUN_ID ran. The steps that succeeded are not run
    again: their returns and files are reused. A pipeline whose steps changed is refused.
    """
    from runnable.config import loading
    from runnable.pipeline.local import retrying
    from runnable.pipeline.retry import original_run

    command_line = _command_line(config_file, None, None, (), output, submit)
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
@click.argument("step", required=False)
@_config
@click.option("--partial", is_flag=True,
              help="Write only this step's own entry (steps of the run may run at the same time: Argo's pods); "
                   "--finish assembles the record.")
@click.option("--plan", "plan_file", metavar="PATH",
              help="With --partial: write what the Map or Conditional step STEP fans out over to PATH (JSON).")
@click.option("--collect", is_flag=True, help="With --partial: the fan-in of the composite step STEP.")
@click.option("--outcome", "outcome_file", metavar="PATH",
              help="With --partial: write Succeeded or Failed to PATH and end well either way (a step with an "
                   "on_failure path).")
@click.option("--finish", is_flag=True, help="Assemble and write the run's record from its steps' entries (last).")
def execute_step(run_id: str, file: Path, step: str | None, config_file: str | None, partial: bool,
                 plan_file: str | None, collect: bool, outcome_file: str | None, finish: bool) -> None:
    """Run the one step STEP (its dotted name) of the pipeline in FILE, as part of run RUN_ID.

    What a container runs for each task: the run's record must exist; the step reads the parameters
    and files the earlier steps left in it and its catalog, and adds its own entry. With --partial
    (what an Argo workflow runs) the step's entry is written on its own, and STEP may be one branch
    of a Parallel step or one item of a Map step (``squares.2``).
    """
    if (plan_file or collect or outcome_file) and not partial:
        fail("--plan, --collect and --outcome go with --partial")
    if finish == (step is not None):
        fail("give either STEP or --finish")
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
        if finish or partial:
            _partial_step(pipeline, run_id, step, config_file, plan_file, collect, outcome_file)
        else:
            assert step is not None
            execute_one_step(pipeline, run_id, step, config_file)
    except JobFailedError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from exc
    except RunnableError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc


def _partial_step(pipeline: Any, run_id: str, step: str | None, config_file: str | None, plan_file: str | None,
                  collect: bool, outcome_file: str | None = None) -> None:
    """``execute-step --partial`` / ``--finish`` (runnable.pipeline.replay); exit status 1 when the
    step (or, for --finish, the run) failed."""
    from runnable.backends import secrets as _secrets
    from runnable.config import loading
    from runnable.pipeline.local import _tasks_of
    from runnable.pipeline.replay import Mode, finish_run, run_step

    configuration = loading.load(config_file)
    if step is None:
        record = finish_run(pipeline, run_id, configuration)
        click.echo(f'{{"status": "{record.status}", "run_id": "{run_id}"}}')
        if record.status != "SUCCESS":
            raise SystemExit(1)
        return
    mode = Mode.PLAN if plan_file else Mode.COLLECT if collect else Mode.RUN
    # The secrets of the tasks of this top-level step (its branches, its on_failure path) only.
    top = next((s for s in pipeline.steps if s.name == step.split(".")[0]), None)
    names = sorted({name for task in (_tasks_of(top) if top is not None else []) for name in task.secrets})
    secrets = _secrets.resolve(configuration.secrets_backend(), names) if mode is Mode.RUN else {}
    if not run_step(pipeline, run_id, step, configuration, mode, secrets, plan_file, outcome_file):
        raise SystemExit(1)

