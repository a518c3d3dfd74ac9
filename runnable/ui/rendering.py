"""The Jinja2 environment shared by the server and the report: every value is escaped unless a
function here marks it safe (charts and previews build their markup with ``markupsafe.escape``)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import quote

import jinja2

from runnable.history.comparison import cell
from runnable.history.display import human_bytes, human_duration, short_time


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
