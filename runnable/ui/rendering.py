"""The Jinja2 environment shared by the server and the report: every value is escaped unless a
function here marks it safe (charts and previews build their markup with ``markupsafe.escape``)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import jinja2

from runnable.history.comparison import cell


@cache
def environment() -> jinja2.Environment:
    """The templates in ``runnable/ui/templates``, autoescaped whatever their file name."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("runnable.ui", "templates"),
        autoescape=True,  # every template, not only *.html: one rule, no exceptions
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        bytes=human_bytes, duration=human_duration, when=short_time, cell=cell, urlpath=url_path,
        pretty=lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str),
    )
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def url_path(path: str) -> str:
    """A recorded path as URL path segments: every character but '/' that is not plain is quoted,
    so '%', '?', '#' and '..'-looking names reach the server as the name they are."""
    return quote(path, safe="/")


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # not reached


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def short_time(iso: str | None) -> str:
    """``2026-12-07T05:26:14.233+00:00`` as ``2026-12-07 05:26:14`` (UTC, as the records keep it)."""
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso[:19]
