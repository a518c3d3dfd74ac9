"""``runnable logs RUN_ID``: print a run's execution log."""

from __future__ import annotations

import shutil
import sys

import click

from runnable.cli.output import (
    EXIT_PROBLEMS,
    config_option,
    echo_wrapped,
    errors_to_exit,
    fail,
    open_history,
    require_catalog,
)
from runnable.errors import IntegrityError
from runnable.record import RUNNING


@click.command("logs")
@click.argument("run_id")
@config_option
def logs(run_id: str, config_file: str | None) -> None:
    """Print the execution log of RUN_ID (everything the job wrote to stdout and stderr)."""
    with errors_to_exit():
        history = open_history(config_file)
        run = history.get(run_id)
        entry = run.record.execution_log
        if entry is None:
            unstored = run.unstored_log()
            if unstored is None:
                fail(f"run {run_id} stored no execution log", EXIT_PROBLEMS)
            state = "is still running" if run.status == RUNNING else "never finished"
            echo_wrapped(f"runnable: run {run_id} {state}: this is the log it wrote so far, from {unstored}",
                         err=True)
            try:
                with open(unstored, "rb") as handle:
                    shutil.copyfileobj(handle, sys.stdout.buffer)
            except FileNotFoundError:  # the run stored it and removed its scratch folder just now
                fail(f"run {run_id} finished while its log was being read: run the command again", EXIT_PROBLEMS)
            sys.stdout.flush()
            return
        require_catalog(history, config_file, [run.record])
        try:
            with run.open(entry.path) as handle:
                shutil.copyfileobj(handle, sys.stdout.buffer)
        except IntegrityError as exc:
            sys.stdout.flush()
            fail(str(exc), EXIT_PROBLEMS)
        sys.stdout.flush()
