"""``runnable status [JOB_NAME]``: which jobs' outputs are outdated in the working folder."""

from __future__ import annotations

from pathlib import Path

import click

from runnable.cli.output import EXIT_PROBLEMS, config_option, emit_json, errors_to_exit, json_option, open_history


@click.command("status")
@click.argument("job", required=False)
@click.option("--working-folder", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default="the current folder", help="The folder to compare with the runs.")
@click.option("--rehash", is_flag=True, help="Read every file instead of trusting the hash cache.")
@json_option
@config_option
def status(job: str | None, working_folder: Path, rehash: bool, as_json: bool, config_file: str | None) -> None:
    """Compare the latest successful run of each job (or of JOB) with the working folder: inputs
    changed, vanished or new since it ran, and outputs changed by hand. Exits 1 if anything differs."""
    from runnable.files.hashcache import HashCache
    from runnable.history.status import job_status

    with errors_to_exit():
        history = open_history(config_file)
        found = job_status(history, working_folder.absolute(), job, HashCache.default(rehash))
    if as_json:
        emit_json([s.to_dict() for s in found])
    elif not found:
        click.echo(f"no successful run in {history.store.location}")
    for s in found if not as_json else []:
        if s.up_to_date:
            click.echo(f"{s.job}: up to date (run {s.run_id})")
            continue
        click.echo(f"{s.job}: outdated (run {s.run_id})")
        for path, state in s.inputs:
            click.echo(f"    input {state}: {path}")
        for path, state in s.outputs:
            what = "output changed by hand" if state == "changed" else "output missing"
            click.echo(f"    {what}: {path}")
    if any(not s.up_to_date for s in found):
        raise SystemExit(EXIT_PROBLEMS)
