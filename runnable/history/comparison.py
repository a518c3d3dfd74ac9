"""Compare many runs at once: one row per run, a column per parameter, metric, return and file.

``runnable runs compare`` and ``runnable.compare()`` share this module (not named ``compare``:
that name on the package is the function)::

    import runnable

    table = runnable.compare(job="train", where="metrics.accuracy > 0.9", sort="-metrics.accuracy")
    for row in table.rows:                 # dicts: {"run_id": ..., "params.lr": ..., ...}
        print(row)
    table.to_pandas()                      # when pandas is installed

Columns are ``run_id``, ``status``, ``job``, ``start``, ``params.NAME``, ``metrics.NAME`` (the last
value of its history), ``returns.NAME`` and ``files.PATH`` (a short hash of the file's content). By
default only the columns whose values differ between the selected runs are shown (and ``run_id``).

Everything comes from the listing index (``runnable.history.index``), which carries parameters, metrics,
returns and file hashes: comparing 10,000 runs reads one index, not 10,000 records.

``where`` is comparisons joined by ``and``: ``COLUMN OP VALUE`` with OP one of ``== != < <= > >=``
and VALUE a number, a quoted string, ``true``/``false``/``null``, or a bare word (a string). It is
parsed by hand, never evaluated as Python.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runnable.errors import MissingExtraError, UsageError
from runnable.history.index import SHORT_HASH, SUMMARY_FILES, RunSummary

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.history.runs import History

FIXED = ("run_id", "status", "job", "start")
GROUPS = ("params", "metrics", "returns", "files")
_MISSING = object()


@dataclass
class Comparison:
    """The rows of a comparison; ``columns`` are the shown ones, in order."""

    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas, which runnable does not install)."""
        import importlib

        try:
            pandas = importlib.import_module("pandas")  # optional, and untyped: Any is all we need
        except ImportError as exc:
            raise MissingExtraError("Comparison.to_pandas() needs pandas; install it with: pip install pandas") from exc
        return pandas.DataFrame(self.rows, columns=self.columns)


def row_of(summary: RunSummary) -> dict[str, Any]:
    """Every column of one run (missing values are absent)."""
    row: dict[str, Any] = {"run_id": summary.run_id, "status": summary.status, "job": summary.job,
                           "start": summary.start}
    for group, values in (("params", summary.parameters), ("metrics", summary.metrics),
                          ("returns", summary.returns), ("files", summary.file_hashes)):
        for key, value in values.items():
            row[f"{group}.{key}"] = value
    return row


# -- --where ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|<=|>=|<|>|=)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<word>[^\s=!<>'\"]+))")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b), "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b), ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
}


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: Any

    def holds(self, row: dict[str, Any]) -> bool:
        have = row.get(self.column, _MISSING)
        if have is _MISSING:
            return False
        a, b = have, self.value
        if _is_number(a) and _is_number(b):
            return _OPS[self.op](a, b)  # int and float compare exactly: float(10**400) would overflow
        if self.op in ("==", "!="):
            if isinstance(b, str) and not isinstance(a, str):
                a = json.dumps(a)  # a list or object parameter compared with its JSON text
            return _OPS[self.op](a, b)
        if isinstance(a, str) and isinstance(b, str):
            return _OPS[self.op](a, b)
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _literal(token: str, quoted: bool) -> Any:
    if quoted:
        return token[1:-1]
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    try:
        number = float(token)
    except ValueError:
        return token
    if math.isfinite(number) and re.fullmatch(r"[+-]?\d+", token):
        return int(token)
    return number


def parse_where(text: str) -> list[Condition]:
    """``metrics.accuracy > 0.9 and params.lr == 0.01`` as conditions, or UsageError naming the spot.

    >>> parse_where("metrics.accuracy >= 0.9 and params.opt == 'adam'")
    [Condition(column='metrics.accuracy', op='>=', value=0.9), Condition(column='params.opt', op='==', value='adam')]
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            raise UsageError(f"--where {text!r}: cannot read it from {stripped[position:].strip()!r}; "
                             "write comparisons such as: metrics.accuracy > 0.9 and params.lr == 0.01")
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        position = match.end()
    conditions: list[Condition] = []
    i = 0
    while True:
        part = tokens[i:i + 3]
        shown = " ".join(t for _, t in part) or "(nothing)"
        if len(part) < 3 or part[0][0] != "word" or part[1][0] != "op" or part[2][0] == "op":
            raise UsageError(
                f"--where {text!r}: {shown!r} is not a comparison; write COLUMN OP VALUE with OP one of "
                "== != < <= > >=, joined by 'and' (e.g. metrics.accuracy > 0.9 and params.lr == 0.01)"
            )
        op = "==" if part[1][1] == "=" else part[1][1]
        conditions.append(Condition(part[0][1], op, _literal(part[2][1], part[2][0] == "str")))
        i += 3
        if i == len(tokens):
            return conditions
        if tokens[i] != ("word", tokens[i][1]) or tokens[i][1].lower() != "and" or i + 1 == len(tokens):
            raise UsageError(
                f"--where {text!r}: expected 'and' and another comparison after {shown!r}, found "
                f"{' '.join(t for _, t in tokens[i:i + 3])!r}; only 'and' joins comparisons"
            )
        i += 1


def unknown_column(column: str, known: Iterable[str], option: str) -> UsageError:
    names = sorted(set(known))
    if not names:  # nothing to name: the selection is what to change
        return UsageError(f"{option}: no runs were selected, so there is no column {column!r}; "
                          "check the run ids, --job, --tag and --status given")
    close = difflib.get_close_matches(column, names, n=4, cutoff=0.5)
    hint = f"close names: {', '.join(close)}" if close else \
        f"columns are: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}"
    return UsageError(f"{option}: no column {column!r} in the selected runs; {hint}")


# -- the comparison ------------------------------------------------------------------------


def _sort_key(column: str) -> Callable[[dict[str, Any]], tuple[int, float, str]]:
    def key(row: dict[str, Any]) -> tuple[int, float, str]:
        value = row.get(column, _MISSING)
        if value is _MISSING or value is None:
            return (2, 0.0, "")
        if _is_number(value):
            try:
                return (0, float(value), "")
            except OverflowError:  # an integer past float's range (10**400): after or before all others
                return (0, math.inf if value > 0 else -math.inf, "")
        return (1, 0.0, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
    return key


def _differs(rows: Sequence[dict[str, Any]], column: str) -> bool:
    """True if two rows hold different values (a missing value differs from any). Compared with
    the first row, stopping at the first difference: a JSON text of every cell took 0.2 s for
    5,000 rows and 10 columns."""
    if not rows:
        return False
    first = rows[0].get(column, _MISSING)
    kind = type(first)
    for row in rows:
        value = row.get(column, _MISSING)
        if value is not first and (type(value) is not kind or value != first):  # 1 and True differ
            return True
    return False


def _group_order(column: str) -> tuple[int, str]:
    group = column.split(".", 1)[0]
    return (GROUPS.index(group) if group in GROUPS else -1, column)


def compare_summaries(
    summaries: Sequence[RunSummary],
    where: str | None = None,
    sort: str | None = None,
    all_columns: bool = False,
    last: int | None = None,
    fill: Callable[[RunSummary], RunSummary] | None = None,
) -> Comparison:
    """The comparison of ``summaries`` (newest first); ``fill`` completes a summary that had too many
    files for the index to keep their hashes (it reads the record)."""
    if fill is not None:
        summaries = [fill(s) if s.files > SUMMARY_FILES and not s.file_hashes else s for s in summaries]
    rows = [row_of(s) for s in summaries]
    known = {c for row in rows for c in row}
    if where:
        conditions = parse_where(where)
        for condition in conditions:
            if condition.column not in known:
                raise unknown_column(condition.column, known, "--where")
        rows = [row for row in rows if all(c.holds(row) for c in conditions)]
    if last is not None:
        rows = rows[:last]
    if sort is not None:
        column = sort[1:] if sort.startswith(("-", "+")) else sort
        if not column.strip():
            raise UsageError(f"--sort {sort!r} names no column; give one, such as --sort metrics.loss "
                             "(a '-' first sorts descending)")
        if column not in known:
            raise unknown_column(column, known, "--sort")
        descending = sort.startswith("-")
        present = [r for r in rows if r.get(column) is not None]
        absent = [r for r in rows if r.get(column) is None]  # missing values last, either way
        rows = sorted(present, key=_sort_key(column), reverse=descending) + absent
    variable = sorted((c for c in known if c not in FIXED), key=_group_order)
    if all_columns:
        columns = ["run_id", "status", "job", "start", *variable]
    else:
        chosen = [c for c in variable if _differs(rows, c)]
        if sort:
            sorted_by = sort.lstrip("+-")
            if sorted_by not in chosen and sorted_by != "run_id":
                chosen.append(sorted_by)  # the column the rows are ordered by is always shown
        status = ["status"] if _differs(rows, "status") else []
        columns = ["run_id", *status, *sorted(chosen, key=_group_order)]
    return Comparison(columns, [{c: row[c] for c in columns if c in row} for row in rows])


def select(
    history: History,
    run_ids: Sequence[str] = (),
    job: str | None = None,
    tag: str | Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
) -> list[RunSummary]:
    """The runs to compare: the ones named, else every run matching job, tags and status, newest first."""
    if run_ids:
        return [history.get(run_id).summary for run_id in run_ids]
    tags = {tag} if isinstance(tag, str) else set(tag or ())
    statuses = {status.upper()} if isinstance(status, str) else {s.upper() for s in status or ()}
    found = []
    for summary in history.summaries():
        if job is not None and summary.job != job:
            continue
        if statuses and summary.status not in statuses:
            continue
        if tags and not tags.issubset(summary.tags):
            continue
        found.append(summary)
    return found


def fill_from_record(history: History) -> Callable[[RunSummary], RunSummary]:
    def fill(summary: RunSummary) -> RunSummary:
        record = history.record(summary.run_id)
        summary.file_hashes = {f.path: f.digest[:SHORT_HASH] for f in record.files}
        return summary
    return fill


def compare(
    *run_ids: str,
    job: str | None = None,
    tag: str | Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
    last: int | None = None,
    where: str | None = None,
    sort: str | None = None,
    all_columns: bool = False,
    config: str | os.PathLike[str] | Configuration | None = None,
) -> Comparison:
    """Compare runs: the ones named, or those of ``job`` / ``tag`` / ``status`` (the newest ``last``).

    ``where``: comparisons joined by 'and' (``"metrics.accuracy > 0.9 and params.lr == 0.01"``);
    ``sort``: a column, ``-`` first for descending; ``all_columns``: also the columns that are the
    same in every run. Returns a Comparison (``.columns``, ``.rows``, ``.to_pandas()``).

    >>> # runnable.compare(job="train", sort="-metrics.accuracy").rows[0]["params.lr"]
    """
    from runnable.history.runs import History

    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
        raise UsageError(f"compare(last=...) takes a positive number of runs, not {last!r}")
    history = History.from_config(config)
    summaries = select(history, run_ids, job=job, tag=tag, status=status)
    return compare_summaries(summaries, where=where, sort=sort, all_columns=all_columns, last=last,
                             fill=fill_from_record(history))


def cell(value: Any) -> str:
    """A value as a table shows it: numbers short, strings as they are, the rest as JSON."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
