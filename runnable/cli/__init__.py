"""The ``runnable`` command line. Subcommands live beside this file, one module per group."""

from __future__ import annotations

import click

from runnable.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runnable")
def cli() -> None:
    """Run jobs and work with the runs they leave: list, inspect, restore, verify."""


def _register() -> None:
    from runnable.cli import execute

    cli.add_command(execute.execute_job)

    from runnable.cli import pipeline  # pipelines: execute, execute-step, retry

    cli.add_command(pipeline.execute)
    cli.add_command(pipeline.execute_step)
    cli.add_command(pipeline.retry)

    from runnable.cli import catalog, gc, logs, runs  # run history (issue 4)

    cli.add_command(runs.runs_group)
    cli.add_command(logs.logs)
    cli.add_command(catalog.catalog_group)
    cli.add_command(gc.gc)

    from runnable.cli import status  # inputs and outputs against the working folder

    cli.add_command(status.status)

    from runnable.cli import ui  # the run browser; its web stack is imported only when it runs

    cli.add_command(ui.ui)
    cli.add_command(ui.report)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="runnable")
