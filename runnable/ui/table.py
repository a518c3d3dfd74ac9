"""The runs table: filter, sort and page the runs' summaries on the server.

The summaries come from the listing index (``History.summaries()``), so 10,000 runs cost one index
read; only the page shown (50 rows by default) is rendered. Filters combine: a run must match all.

>>> q = RunsQuery.parse({"status": "fail", "sort": "-metric:loss", "page": "2"})
>>> (q.status, q.sort, q.descending, q.page)
('FAIL', 'metric:loss', True, 2)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runnable.history.index import RunSummary

PER_PAGE = 50
MAX_PER_PAGE = 500
#: Metric columns shown at most (the most common names first): a table stays readable.
MAX_METRIC_COLUMNS = 8
FIXED_COLUMNS = ("run_id", "status", "job", "start", "duration", "tags")


@dataclass
class RunsQuery:
    """What the user asked the table for (from the URL's query string)."""

    job: str = ""
    tag: str = ""
    status: str = ""
    text: str = ""
    sort: str = "start"
    descending: bool = True
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> RunsQuery:
        """From query parameters; values that do not parse fall back to the defaults (a bad page
        number in a hand-edited URL shows page 1, not an error page)."""
        sort = params.get("sort", "") or "-start"
        descending = sort.startswith("-")
        return cls(
            job=params.get("job", "").strip(),
            tag=params.get("tag", "").strip(),
            status=params.get("status", "").strip().upper(),
            text=params.get("q", "").strip(),
            sort=sort.lstrip("-+") or "start",
            descending=descending,
            page=_positive(params.get("page"), 1),
            per_page=min(_positive(params.get("per"), PER_PAGE), MAX_PER_PAGE),
        )

    def matches(self, summary: RunSummary) -> bool:
        if self.job and summary.job != self.job:
            return False
        if self.tag and self.tag not in summary.tags:
            return False
        if self.status and summary.status != self.status:
            return False
        if self.text:
            needle = self.text.lower()
            hay = " ".join([summary.run_id, summary.job, summary.status, " ".join(summary.tags), summary.error or "",
                            json.dumps(summary.parameters, default=str)]).lower()
            if needle not in hay:
                return False
        return True

    def link(self, **changes: Any) -> str:
        """This query as a URL query string, with ``changes`` (page, sort, ...) applied."""
        from urllib.parse import urlencode

        values: dict[str, Any] = {"job": self.job, "tag": self.tag, "status": self.status, "q": self.text,
                                  "sort": ("-" if self.descending else "") + self.sort, "page": self.page,
                                  "per": self.per_page}
        values.update(changes)
        defaults = {"sort": "-start", "page": 1, "per": PER_PAGE}
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None) and defaults.get(k) != v})

    def sort_link(self, column: str) -> str:
        """The link of a column's header: sort by it, or flip the order when it is the sort already."""
        if column == self.sort:
            return self.link(sort=("" if self.descending else "-") + column, page=1)
        return self.link(sort=("-" if column in ("start", "duration") or column.startswith("metric:") else "") + column,
                         page=1)


@dataclass
class RunsPage:
    """One page of the table."""

    query: RunsQuery
    rows: list[RunSummary]
    total: int  # runs matching the filters
    all_runs: int  # runs in the store
    metric_columns: list[str]
    jobs: list[str]
    tags: list[str]
    pages: int
    statuses: Sequence[str] = field(default=("RUNNING", "SUCCESS", "FAIL", "UNREADABLE"))


def _positive(text: str | None, default: int) -> int:
    try:
        value = int(text or "")
    except ValueError:
        return default
    return value if value >= 1 else default


def _sort_key(column: str) -> Any:
    def key(s: RunSummary) -> tuple[int, Any]:
        value: Any
        if column.startswith("metric:"):
            value = s.metrics.get(column[len("metric:"):])
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                return (1, 0.0)
            return (0, float(value))
        if column == "duration":
            return (0, s.duration_seconds) if s.duration_seconds is not None else (1, 0.0)
        if column == "tags":
            return (0, ",".join(s.tags))
        value = {"run_id": s.run_id, "status": s.status, "job": s.job}.get(column, s.start)
        return (0, value or "")
    return key


def page_of(summaries: Sequence[RunSummary], query: RunsQuery) -> RunsPage:
    """Filter, sort and cut one page out of ``summaries``. Runs without the sorted value go last
    in either order; ties keep the newest first."""
    matching = [s for s in summaries if query.matches(s)]
    counts: dict[str, int] = {}
    for s in matching:
        for name in s.metrics:
            counts[name] = counts.get(name, 0) + 1
    metric_columns = sorted(counts, key=lambda n: (-counts[n], n))[:MAX_METRIC_COLUMNS]
    metric_columns.sort()
    sort = query.sort
    if sort not in FIXED_COLUMNS and not (sort.startswith("metric:") and sort[len("metric:"):] in counts):
        query.sort, query.descending = "start", True
    key = _sort_key(query.sort)
    matching.sort(key=lambda s: (s.start, s.run_id), reverse=True)
    present = [s for s in matching if key(s)[0] == 0]
    absent = [s for s in matching if key(s)[0] != 0]
    ordered = sorted(present, key=key, reverse=query.descending) + absent
    pages = max(1, math.ceil(len(ordered) / query.per_page))
    query.page = min(query.page, pages)
    first = (query.page - 1) * query.per_page
    return RunsPage(
        query=query, rows=ordered[first:first + query.per_page], total=len(ordered), all_runs=len(summaries),
        metric_columns=metric_columns, jobs=sorted({s.job for s in summaries if s.job}),
        tags=sorted({t for s in summaries for t in s.tags}), pages=pages,
    )
