"""``runnable catalog get | verify | reindex``: restore a run's files; check stored content against
records; rebuild the content index from the records."""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runnable.cli.output import (
    EXIT_PROBLEMS,
    config_option,
    echo_wrapped,
    emit_json,
    errors_to_exit,
    fail,
    json_option,
    open_history,
    require_catalog,
    short_hashes,
    table,
    wide_option,
)
from runnable.errors import RecordError, RunNotFoundError

if TYPE_CHECKING:
    from runnable.record import RunRecord


@click.group("catalog")
def catalog_group() -> None:
    """Restore and verify the files runs stored."""


@catalog_group.command("get")
@click.argument("run_id")
@click.argument("patterns", nargs=-1)
@click.option("--to", "destination", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default="the working folder", help="Folder to restore into (created if needed).")
@click.option("--force", is_flag=True, help="Overwrite files whose content differs from the run's.")
@json_option
@config_option
def get(run_id: str, patterns: tuple[str, ...], destination: Path, force: bool, as_json: bool,
        config_file: str | None) -> None:
    """Restore the files of RUN_ID (all, or those PATTERNS select, as in Catalog(put=...)) into --to.

    --to may not be in the catalog or the run-log store folder. Every byte is checked against the
    recorded hash as it is written; a file already there with the same content is left alone; one
    with other content is kept unless --force. Exits 1 if any selected file could not be restored.
    """
    with errors_to_exit():
        history = open_history(config_file)
        run = history.get(run_id)
        require_catalog(history, config_file, [run.record])
        report = run.restore(patterns, to=destination, force=force)  # refuses runnable's own folders
    if as_json:
        emit_json(asdict(report) | {"ok": report.ok})
    else:
        for rel in report.written:
            echo_wrapped(f"restored    {rel}", indent=12)
        for rel in report.identical:
            echo_wrapped(f"unchanged   {rel} (already there with the same content)", indent=12)
        for rel, why in report.refused:
            echo_wrapped(f"refused     {rel}: {why}", indent=12)
        for rel, digest in report.not_stored:
            echo_wrapped(f"not stored  {rel}: recorded by hash only ({digest}); no copy to restore", indent=12)
        for rel, why in report.failed:
            echo_wrapped(f"failed      {rel}: {why}", indent=12)
        click.echo(f"{len(report.written)} restored, {len(report.identical)} unchanged, "
                   f"{len(report.refused) + len(report.not_stored) + len(report.failed)} not restored "
                   f"into {destination}")
    if not report.ok:
        raise SystemExit(EXIT_PROBLEMS)


@catalog_group.command("verify")
@click.argument("run_ids", nargs=-1)
@click.option("--all", "all_runs", is_flag=True, help="Verify every run.")
@click.option("--working-folder", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default="the current folder", help="Where hash-only files (store_copy=False) are checked.")
@wide_option
@json_option
@config_option
def verify(run_ids: tuple[str, ...], all_runs: bool, working_folder: Path, wide: bool, as_json: bool,
           config_file: str | None) -> None:
    """Re-hash stored copies of RUN_IDS (or --all) and compare with their records.

    Hash-only files are compared with the working folder. Each file is OK, CHANGED, MISSING or
    CORRUPT; a record that cannot be read is UNREADABLE, and with --all a run folder with no record
    is ORPHANED. Exits 1 if anything is not OK.
    """
    from runnable.history.verify import ORPHAN, RunCheck, verify_record

    if bool(run_ids) == all_runs:
        fail("give one or more run ids, or --all")
    read: list[RunRecord | RunCheck] = []  # in order of ids; an unreadable record as its check
    with errors_to_exit():
        history = open_history(config_file)
        ids = sorted(history.ids()) if all_runs else list(run_ids)
        if not all_runs:
            for run_id in ids:
                history.get(run_id)  # unknown ids fail early, with suggestions
        for run_id in ids:
            try:
                read.append(history.record(run_id))
            except RunNotFoundError:
                continue  # deleted meanwhile (--all)
            except RecordError as exc:
                read.append(RunCheck(run_id, error=str(exc)))
        require_catalog(history, config_file, [r for r in read if not isinstance(r, RunCheck)])
        checks = [r if isinstance(r, RunCheck) else verify_record(r, history.storage, working_folder)
                  for r in read]
        if all_runs:
            checks += [RunCheck(run_id, error=ORPHAN, orphan=True) for run_id in history.orphan_run_folders()
                       if not history.store.exists(run_id)]  # (a run that started meanwhile has its record)
        if all_runs:  # every record was read anyway: the content index is rebuilt from them
            from runnable.history.contentindex import ContentIndex

            # Only while the store can be written: verifying is reading, and must work on a full or
            # read-only store (`runnable catalog reindex` rebuilds on purpose, and says why it cannot).
            with contextlib.suppress(OSError):
                ContentIndex(history.store).rebuild()
    problems = sum(1 for c in checks for f in c.files if not f.ok) + sum(1 for c in checks if c.error)
    if as_json:
        emit_json([asdict(c) | {"ok": c.ok} for c in checks])
    else:
        rows = []
        for check in checks:
            if check.error:
                rows.append([check.run_id, "-", "ORPHANED" if check.orphan else "UNREADABLE", check.error])
            for f in check.files:
                rows.append([check.run_id, f.path, f.state, f.detail])
        if rows:
            # On a narrow terminal DETAIL takes its short form, or goes below the table, one line a
            # problem, wrapped at spaces: the hashes it names stay whole.
            dropped = table(["RUN ID", "FILE", "STATE", "DETAIL"], rows, wide=wide,
                            wrap=["DETAIL"], fit=[("DETAIL", short_hashes), ("DETAIL", None)])
            for run_id, path, state, detail in rows if "DETAIL" in dropped else ():
                if detail:
                    echo_wrapped(f"{run_id} {path} {state}: {detail}", indent=2)
        files = sum(len(c.files) for c in checks)
        click.echo(f"{len(checks)} run(s), {files} file(s) checked: "
                   + (f"{problems} problem(s)" if problems else "all OK"))
    if problems:
        raise SystemExit(EXIT_PROBLEMS)


@catalog_group.command("reindex")
@json_option
@config_option
def reindex(as_json: bool, config_file: str | None) -> None:
    """Rebuild the content index (which runs stored which content) from the run records.

    The index repairs itself as it is read; this writes every finished run's entry again and drops
    those of runs that are gone (``runnable catalog verify --all`` does it too).
    """
    from runnable.history.contentindex import ContentIndex

    with errors_to_exit():
        history = open_history(config_file)
        count = ContentIndex(history.store).rebuild()
    if as_json:
        emit_json({"runs_indexed": count})
    else:
        click.echo(f"content index rebuilt from {count} finished run(s) in {history.store.location}")
