"""Moments and durations as people type them: ``2024-05-01``, ``2024-05-01T13:00``, ``7d``, ``12h``.

>>> parse_duration("1d12h").total_seconds()
129600.0
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from runnable.errors import UsageError

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([wdhms]))+?")


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w`` or combinations such as ``1d12h``.

    >>> parse_duration("90s")
    datetime.timedelta(seconds=90)
    """
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or not re.fullmatch(r"(?:\d+(?:\.\d+)?[wdhms])+", cleaned):
        raise UsageError(f"duration {text!r} is not understood; write e.g. '30d', '12h', '45m' or '1d12h'")
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(cleaned))
    return timedelta(seconds=seconds)


def parse_moment(value: str | date | datetime, now: datetime | None = None) -> datetime:
    """A timezone-aware moment from a datetime, a date, an ISO text, or a duration meaning "ago".

    Naive dates and times are taken as local time, as a person typing them means.

    >>> parse_moment("2024-05-01T12:00:00+00:00").isoformat()
    '2024-05-01T12:00:00+00:00'
    >>> ago = parse_moment("2h", now=datetime(2024, 5, 1, 12, tzinfo=UTC)); ago.hour
    10
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).astimezone()
    text = str(value).strip()
    if re.fullmatch(r"(?:\d+(?:\.\d+)?\s*[wdhmsWDHMS]\s*)+", text):
        return (now or datetime.now(UTC)) - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise UsageError(
            f"moment {text!r} is not understood; write a date (2024-05-01), a date and time "
            "(2024-05-01T13:00) or a time ago (7d, 12h)"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def parse_record_time(text: str | None) -> datetime | None:
    """A run record's ISO time (UTC) as an aware datetime; None if absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
