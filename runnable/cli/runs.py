"""``runnable runs list | show | diff | which | lineage``: find runs, see what they recorded, and
trace files to the runs that made and read them."""

from __future__ import annotations

import json
from typing import Any

import click

from runnable.cli.output import (
    EXIT_PROBLEMS,
    config_option,
    echo_wrapped,
    emit_json,
    errors_to_exit,
    is_terminal,
    json_option,
    open_history,
    table,
    wide_option,
)
from runnable.history.display import human_bytes, human_duration, short_time
from runnable.record import STATUSES, FileEntry, RunRecord, stale_message


@click.group("runs")
def runs_group() -> None:
    """List past runs, show one in full, diff two, compare many."""


@runs_group.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES, case_sensitive=False),
              help="Only runs with this status (repeatable).")
@click.option("--since", metavar="DATE", help="Only runs started since DATE (2024-05-01, 2024-05-01T13:00, local "
                                              "time unless it names a zone) or a time ago (7d, 12h).")
@click.option("--tag", "tags", multiple=True, help="Only runs with this tag (repeatable: all must match).")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most N runs.")
@wide_option
@json_option
@config_option
def list_runs(statuses: tuple[str, ...], since: str | None, tags: tuple[str, ...], limit: int | None,
              wide: bool, as_json: bool, config_file: str | None) -> None:
    """List runs, newest first: id, status, start (UTC), duration, job, files and bytes stored."""
    from runnable.history.when import parse_moment

    with errors_to_exit():
        moment = parse_moment(since, name="--since") if since is not None else None
        history = open_history(config_file)
        found = history.runs(status=[s.upper() for s in statuses], since=moment, tag=tags, limit=limit)
    summaries = [run.summary for run in found]
    if as_json:
        emit_json([s.to_dict() for s in summaries])
        return
    for s in summaries:
        if s.status == "UNREADABLE":
            click.echo(f"warning: run {s.run_id}: {s.error}", err=True)
    rows = []
    for s in summaries:
        status = s.status
        if s.error and "owner process died" in s.error:
            status = "FAIL (owner process died)"
        rows.append([s.run_id, status, short_time(s.start), human_duration(s.duration_seconds), s.job or "-",
                     str(s.files), human_bytes(s.bytes_stored)])
    if not rows:
        click.echo("no runs" + (" match" if statuses or since or tags else f" in {history.store.location}"))
        return
    # On a narrow terminal the run id stays whole (it is what people copy); bytes, seconds and the
    # file count go first. An id of 20 characters and a job of 10 fit 80 columns.
    table(["RUN ID", "STATUS", "START (UTC)", "DURATION", "JOB", "FILES", "STORED"], rows,
          right=["DURATION", "FILES", "STORED"], wide=wide,
          fit=[("STORED", None), ("START (UTC)", _minutes), ("DURATION", None), ("FILES", None)])


def _minutes(start: str) -> str:
    """'2024-05-01 13:04:05' -> '2024-05-01 13:04'."""
    return start[:16]


def _short_hash(value: str) -> str:
    """'md5:0123456789abcdef...' -> 'md5:0123456789ab' (as git abbreviates a commit)."""
    algorithm, _, digest = value.partition(":")
    return f"{algorithm}:{digest[:12]}" if digest else value


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _job_text(job: dict[str, Any]) -> str:
    what = job.get("function") or job.get("command") or job.get("notebook") or ""
    if job.get("module") and job.get("function"):
        what = f"{job['module']}.{job['function']}"
    return f"{job.get('kind', '?')} {job.get('name', '')}" + (f" ({what})" if what else "")


def _file_rows(files: list[FileEntry]) -> list[list[str]]:
    return [[f.path, human_bytes(f.size), f"{f.algorithm}:{f.digest}",
             ("yes" if f.stored else "hash only") + (", stale" if f.stale else "")] for f in files]


def _source_text(source: dict[str, Any] | None, path: str) -> str:
    if not source:
        return "- (no run stored this content)"
    others = int(source.get("others") or 0)
    more = f" (+{others} other run{'s' if others != 1 else ''})" if others else ""
    # The run alone when it stored the content under the same path (the common case): short enough
    # to sit beside the path on 80 columns.
    where = "" if source.get("path") == path else f":{source.get('path')}"
    return f"{source.get('run_id')}{where}{more}"


def _code_text(code: dict[str, Any]) -> str:
    """The record's code identity (``codeinfo.git_identity``: ``git_commit``, ``git_dirty``)."""
    commit = code.get("git_commit")
    if not commit:
        return "in a git repository without commits" if code.get("git_root") else "not in a git repository"
    return f"git {commit}" + (" (uncommitted changes)" if code.get("git_dirty") else "")


def show_record(record: RunRecord, wide: bool = False) -> None:
    """Print a record for people."""
    env = record.environment
    code = record.code
    lines = [
        ("run id", record.run_id),
        ("status", record.status),
        ("job", _job_text(record.job)),
        ("start", f"{short_time(record.start)} UTC"),
        ("end", f"{short_time(record.end)} UTC" if record.end else "-"),
        ("duration", human_duration(record.duration_seconds)),
        ("tags", ", ".join(record.tags) or "-"),
        ("code", _code_text(code)),
        ("runnable", record.runnable_version or "-"),
        ("ran on", f"{env.get('host', '?')} pid {env.get('pid', '?')}, python {env.get('python', '?')}"),
        ("working folder", str(env.get("working_folder", "-"))),
        ("catalog", f"{record.catalog.get('run_folder') or record.catalog.get('location', '-')} "
                    f"({record.catalog.get('algorithm', '?')})"),
    ]
    if record.error:
        lines.append(("error", f"{record.error.get('type')}: {record.error.get('message')}"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        echo_wrapped(f"{key.ljust(width)}  {value}", indent=width + 2)
    for title, values in (("parameters", record.parameters), ("returns", record.returns)):
        click.echo(f"\n{title}:" + ("" if values else " none"))
        for key, value in values.items():
            click.echo(f"  {key} = {_value(value)}")
    if record.metrics:
        click.echo("\nmetrics:")
        width = max(len(name) for name in record.metrics)
        for name, history in record.metrics.items():
            click.echo(f"  {name.ljust(width)}  {metric_line(history, is_terminal())}")
    if record.steps:
        from runnable.pipeline.record import tree

        click.echo("\nsteps:")
        for line in tree(record.steps, "  "):
            click.echo(line)
    if record.objects:
        click.echo("\npickled returns (load with runnable.get_run(id).load(name)):")
        for name, entry in record.objects.items():
            click.echo(f"  {name}  {human_bytes(entry.size)}  {entry.algorithm}:{entry.digest}")
    click.echo("")
    if record.files:
        table(["PATH", "SIZE", "HASH", "STORED"], _file_rows(record.files), title="files:", right=["SIZE"],
              wide=wide, fit=[("HASH", _short_hash), ("STORED", None), ("SIZE", None)])
        if (note := stale_message(record.files)) is not None:
            click.echo(note)
    else:
        click.echo("files: none")
    if record.inputs:
        rows = [[i.path, human_bytes(i.size), f"{i.algorithm}:{i.digest}", _source_text(i.source, i.path)]
                for i in record.inputs]
        click.echo("")
        table(["PATH", "SIZE", "HASH", "SOURCE"], rows, title="inputs:", right=["SIZE"], wide=wide,
              fit=[("HASH", _short_hash), ("SIZE", None), ("HASH", None)])
    if record.execution_log:
        log = record.execution_log
        echo_wrapped(f"\nexecution log: {log.location or log.path} ({human_bytes(log.size)})", indent=2)
    for skip in record.skipped:
        click.echo(f"skipped: {skip.get('path')}: {skip.get('reason')}")


@runs_group.command("show")
@click.argument("run_id")
@wide_option
@json_option
@config_option
def show(run_id: str, wide: bool, as_json: bool, config_file: str | None) -> None:
    """Show everything RUN_ID recorded: parameters, returns, code, every file with its hash."""
    with errors_to_exit():
        record = open_history(config_file).get(run_id).record
    if as_json:
        emit_json(record.to_dict())
    else:
        show_record(record, wide)


@runs_group.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@json_option
@config_option
def diff(run_a: str, run_b: str, as_json: bool, config_file: str | None) -> None:
    """Show what differs between RUN_A and RUN_B: parameters, returns, files (by hash)."""
    from dataclasses import asdict

    from runnable.history.diff import diff_records

    with errors_to_exit():
        history = open_history(config_file)
        result = diff_records(history.get(run_a).record, history.get(run_b).record)
    if as_json:
        emit_json(asdict(result))
        return
    marks = {"added": "+", "removed": "-", "changed": "~"}
    click.echo(f"--- {result.a}\n+++ {result.b}")
    for title, changes, as_value in (("parameters", result.parameters, True), ("returns", result.returns, True),
                                     ("files", result.files, False), ("inputs", result.inputs, False)):
        click.echo(f"{title}:" + ("" if changes else " same"))
        for change in changes:
            show = _value if as_value else str
            if change.kind == "changed":
                detail = f"{show(change.a)} -> {show(change.b)}"
            else:
                detail = show(change.b if change.kind == "added" else change.a)
            echo_wrapped(f"  {marks[change.kind]} {change.key}: {detail}", indent=4)
    # Identical only because a run did not write them (the same leftover file): "1 of them stale in b"
    stale = ", ".join(f"{len(paths)}{' of them stale' if n == 0 else ''} in {run}"
                      for n, (run, paths) in enumerate(result.same_stale.items()))
    hint = f"; {stale} (left in the working folder, not written by that run)" if stale else ""
    echo_wrapped(f"{result.same_files} file(s) identical{hint}")


@runs_group.command("which")
@click.argument("path_or_hash")
@click.option("--rehash", is_flag=True, help="Read the file even if the hash cache knows it unchanged.")
@wide_option
@json_option
@config_option
def which(path_or_hash: str, rehash: bool, wide: bool, as_json: bool, config_file: str | None) -> None:
    """List every run that stored the content of PATH_OR_HASH: a local file (hashed) or a hash, full
    or a unique prefix of at least 8 characters. Exits 1 when no run did."""
    with errors_to_exit():
        result = open_history(config_file).which(path_or_hash, rehash=rehash)
    if as_json:
        emit_json(result.to_dict())
    elif not result.holders:
        what = f" ({result.key})" if result.key else ""
        click.echo(f"no run stored the content of {path_or_hash!r}{what}")
    else:
        click.echo(f"{result.key} was stored by {len(result.holders)} run(s), oldest first:")
        table(["RUN ID", "STATUS", "START (UTC)", "JOB", "PATH"],
              [[h.run_id, h.status, short_time(h.start), h.job or "-", h.path + ("" if h.stored else " (hash only)")]
               for h in result.holders], wide=wide)
    if not result.holders:
        raise SystemExit(EXIT_PROBLEMS)


@runs_group.command("lineage")
@click.argument("run_id")
@click.option("--down", is_flag=True, help="Show the runs that read this run's outputs, instead of its sources.")
@click.option("--dot", "as_dot", is_flag=True, help="Print the graph in Graphviz's language.")
@json_option
@config_option
def lineage(run_id: str, down: bool, as_dot: bool, as_json: bool, config_file: str | None) -> None:
    """Show the runs upstream of RUN_ID (the sources of its inputs, recursively) or, with --down,
    downstream of it (the runs that read its outputs, recursively)."""
    from runnable.history.lineage import dot, json_text, render, tree

    with errors_to_exit():
        history = open_history(config_file)
        history.get(run_id)  # an unknown id fails here, with suggestions
        root = tree(history, run_id, down=down)
    if as_json:
        click.echo(json_text(root.to_dict()))  # as emit_json writes it, at any depth
    elif as_dot:
        click.echo(dot(root, down=down), nl=False)
    else:
        for line in render(root):
            # Wrapped at spaces on a narrow terminal, continuing under the run id: never inside one.
            echo_wrapped(line, indent=len(line) - len(line.lstrip("│├└─ ")) + 4)
        if not root.children:
            click.echo("no run downstream (none read its outputs)" if down
                       else "no run upstream (no input came from a run)")


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 24) -> str:
    """``values`` as a line of bar characters, at most ``width`` long (evenly sampled).

    >>> sparkline([0.0, 0.5, 1.0])
    '▁▅█'
    """
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    low, high = min(values), max(values)
    span = high - low
    return "".join(_BARS[round((v - low) / span * (len(_BARS) - 1))] if span else _BARS[0] for v in values)


def metric_line(history: list[list[float]], terminal: bool) -> str:
    """One metric history, compactly: ``last 0.91  min 0.5  max 0.91  (3 steps)`` (and a sparkline
    on a terminal)."""
    values = [float(v) for _, v in history]
    text = (f"last {values[-1]:.6g}  min {min(values):.6g}  max {max(values):.6g}  "
            f"({len(values)} step{'s' if len(values) != 1 else ''})")
    return f"{text}  {sparkline(values)}" if terminal and len(values) > 1 else text


@runs_group.command("compare")
@click.argument("run_ids", nargs=-1)
@click.option("--job", help="Only runs of the job with this name.")
@click.option("--tag", "tags", multiple=True, help="Only runs with this tag (repeatable: all must match).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES, case_sensitive=False),
              help="Only runs with this status (repeatable).")
@click.option("--last", type=click.IntRange(min=1), help="Only the newest N of the selected runs.")
@click.option("--where", metavar="EXPR", help="Comparisons joined by 'and', e.g. "
                                              "\"metrics.accuracy > 0.9 and params.lr == 0.01\".")
@click.option("--sort", metavar="[-]COLUMN", help="Order rows by COLUMN; '-' first for descending.")
@click.option("--all-columns", is_flag=True, help="Show every column, not only those that differ.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the rows as CSV.")
@wide_option
@config_option
def compare_runs(run_ids: tuple[str, ...], job: str | None, tags: tuple[str, ...], statuses: tuple[str, ...],
                 last: int | None, where: str | None, sort: str | None, all_columns: bool, as_json: bool,
                 as_csv: bool, wide: bool, config_file: str | None) -> None:
    """Compare runs side by side: the RUN_IDS given, or those --job/--tag/--status select.

    One row per run; columns params.*, metrics.* (last value), returns.* and files.* (short hash),
    only those whose values differ unless --all-columns.
    """
    from runnable.history.comparison import cell, compare_summaries, fill_from_record, select

    if as_json and as_csv:
        from runnable.cli.output import fail

        fail("--json and --csv cannot be used together; choose one")
    with errors_to_exit():
        history = open_history(config_file)
        summaries = select(history, run_ids, job=job, tag=tags, status=statuses)
        result = compare_summaries(summaries, where=where, sort=sort, all_columns=all_columns, last=last,
                                   fill=fill_from_record(history))
    if as_json:
        emit_json(result.rows)
        return
    if as_csv:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if row.get(c) is None else cell(row[c]) for c in result.columns])
        click.echo(out.getvalue(), nl=False)
        return
    if not result.rows:
        click.echo("no runs match" if (run_ids or job or tags or statuses or where) else
                   f"no runs in {history.store.location}")
        return
    right = [c for c in result.columns if any(isinstance(r.get(c), (int, float)) for r in result.rows)]
    # On a narrow terminal the columns every run shares go first: what differs is the point.
    table(result.columns, [[cell(row.get(c)) for c in result.columns] for row in result.rows], right=right,
          wide=wide, fit=[(c, None) for c in ("start", "job", "status") if c in result.columns])
