"""``runnable gc``: delete old runs and the stored content no run refers to any more."""

from __future__ import annotations

import sys

import click

from runnable.cli.output import (
    EXIT_PROBLEMS,
    config_option,
    echo_wrapped,
    errors_to_exit,
    open_history,
)
from runnable.history.display import human_bytes
from runnable.record import STATUSES


@click.command("gc")
@click.option("--keep-last", type=click.IntRange(min=0), metavar="N",
              help="Spare the N newest of the runs the other options select (alone: keep the N newest runs).")
@click.option("--older-than", metavar="AGE", help="Only runs started more than AGE ago (30d, 12h, 2w, 1d12h).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES, case_sensitive=False),
              help="Only runs with this status (repeatable). RUNNING runs whose owner is alive are never deleted.")
@click.option("--job", "jobs", multiple=True, metavar="NAME",
              help="Only runs of this job (repeatable); --keep-last then counts only these runs.")
@click.option("--tag", "tags", multiple=True, help="Only runs with this tag (repeatable: all must match).")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation on a terminal.")
@config_option
def gc(keep_last: int | None, older_than: str | None, statuses: tuple[str, ...], jobs: tuple[str, ...],
       tags: tuple[str, ...], dry_run: bool, yes: bool, config_file: str | None) -> None:
    """Delete whole runs (record and stored files) and content no remaining run refers to.

    Without options no run is deleted: only unreferenced content and abandoned temporary files are
    removed. Content any remaining run refers to is never deleted. On a terminal gc shows what it
    will delete and asks first, unless --yes.
    """
    from runnable.history.gc import Policy, collect
    from runnable.history.when import parse_duration

    with errors_to_exit():
        # Any length: one reaching back before the first run (before 1970, or past what a date holds)
        # selects no run; runnable.history.gc.choose compares it without overflowing.
        age = parse_duration(older_than, name="--older-than") if older_than is not None else None
        policy = Policy(keep_last=keep_last, older_than=age, statuses=tuple(s.upper() for s in statuses),
                        jobs=jobs, tags=tags)
        history = open_history(config_file)
        if not dry_run and not yes and sys.stdin.isatty():
            preview = collect(history, policy, dry_run=True)
            echo_wrapped(f"gc will delete {len(preview.runs)} run(s) and {len(preview.objects)} object(s) "
                       f"({human_bytes(preview.bytes_freed)}) from {history.storage.location} and "
                       f"{history.store.location}.")
            if not click.confirm("Continue?", default=False):
                raise SystemExit(EXIT_PROBLEMS)
        report = collect(history, policy, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for run in report.runs:
        echo_wrapped(f"{verb} run {run.run_id} ({run.status}, started {run.start})")
    for run_id in report.orphans:
        echo_wrapped(f"{'would remove' if dry_run else 'removed'} run folder {run_id} (it has no record: left by an "
                   "interrupted gc, or its record was deleted by hand)")
    for algorithm, digest, size in report.objects:
        echo_wrapped(f"{verb} object {algorithm}:{digest} ({human_bytes(size)})")
    if report.kept_running:
        echo_wrapped(f"kept {len(report.kept_running)} run(s) in progress: {', '.join(report.kept_running)}")
    if report.objects_kept_because:
        echo_wrapped(f"kept unreferenced content: {report.objects_kept_because}")
    if report.temporaries_bytes:
        echo_wrapped(f"removed abandoned temporary files ({human_bytes(report.temporaries_bytes)})")
    if dry_run:
        echo_wrapped("abandoned temporary files of crashed writers are not counted in a dry run; gc removes them")
    for what, why in report.failures:
        echo_wrapped(f"failed to delete {what}: {why}", err=True)
    echo_wrapped(f"{'dry run: ' if dry_run else ''}{len(report.runs)} run(s), {len(report.objects)} object(s), "
               f"{human_bytes(report.bytes_freed)} {'would be ' if dry_run else ''}freed")
    if report.failures:
        raise SystemExit(EXIT_PROBLEMS)
