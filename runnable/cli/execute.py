"""``runnable execute-job FILE.py``: run the job a script defines, without editing it."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import click

from runnable.config import ENV_CONFIG, ENV_DRY_RUN
from runnable.errors import JobFailedError, RunnableError
from runnable.runner import COMMAND_LINE, ENV_PARAMETERS_FILE, ENV_RUN_ID, ENV_TAGS


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
    a job, without calling it, is handled too.
    """
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
    try:
        namespace = runpy.run_path(str(file), run_name="__main__")
        if "main" in namespace and not _ran_a_job():
            job = namespace["main"]()
            if hasattr(job, "execute") and not _ran_a_job():
                job.execute()
    except JobFailedError as exc:
        raise SystemExit(1) from exc
    except RunnableError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc


def _ran_a_job() -> bool:
    from runnable import runner

    return runner.RUNS_STARTED > 0
