"""Moments and durations as people type them: ``2024-05-01``, ``2024-05-01T13:00``, ``7d``, ``12h``.

Moments are accepted from 1970-01-01, the start of the clock run records are written with (no run
can have started before it), to 9999-12-30, the last day whose end Python's ``datetime`` can still
hold in every timezone; a time ago may reach back no further than 1970-01-01. Anything beyond is a
``UsageError`` that names the value and the range, never an ``OverflowError`` from the calendar.

>>> parse_duration("1d12h").total_seconds()
129600.0
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from runnable.errors import UsageError

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([wdhms]))+?")

EARLIEST = date(1970, 1, 1)
LATEST = date(9999, 12, 30)
_EPOCH = datetime(EARLIEST.year, EARLIEST.month, EARLIEST.day, tzinfo=UTC)
_RANGE = f"give a date from {EARLIEST} to {LATEST}, or a time ago (7d, 12h)"


def _seconds(text: str, name: str) -> float:
    """The length of a duration text in seconds (``inf`` when it is too long for a float)."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or not re.fullmatch(r"(?:\d+(?:\.\d+)?[wdhms])+", cleaned):
        raise UsageError(f"{name} {text!r} is not understood; write e.g. '30d', '12h', '45m' or '1d12h'")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(cleaned))


def parse_duration(text: str, name: str = "duration") -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w`` or combinations such as ``1d12h``.

    ``name`` is how errors call the value (``--older-than`` on the command line).

    >>> parse_duration("90s")
    datetime.timedelta(seconds=90)
    """
    seconds = _seconds(text, name)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise UsageError(f"{name} {text!r} is too long; write at most {timedelta.max.days}d") from None


def parse_age(text: str, name: str = "age", now: datetime | None = None) -> timedelta:
    """A duration meaning "this long ago": like ``parse_duration``, but reaching back no further
    than 1970-01-01 from ``now`` (default: the current time), so ``now - age`` is always a date.

    >>> parse_age("2w", now=datetime(2024, 5, 1, tzinfo=UTC)).days
    14
    """
    seconds = _seconds(text, name)
    reach = ((now or datetime.now(UTC)) - _EPOCH).total_seconds()
    if seconds > reach:
        raise UsageError(f"{name} {text!r} reaches back before {EARLIEST}, when no run can have started; "
                         f"give at most {int(reach // 86400)}d")
    return timedelta(seconds=seconds)


def parse_moment(value: str | date | datetime, now: datetime | None = None, name: str = "moment") -> datetime:
    """A timezone-aware moment from a datetime, a date, an ISO text, or a duration meaning "ago".

    Naive dates and times are taken as local time, as a person typing them means. ``name`` is how
    errors call the value (``--since`` on the command line).

    >>> parse_moment("2024-05-01T12:00:00+00:00").isoformat()
    '2024-05-01T12:00:00+00:00'
    >>> ago = parse_moment("2h", now=datetime(2024, 5, 1, 12, tzinfo=UTC)); ago.hour
    10
    """
    if isinstance(value, datetime):
        return _in_range(value, str(value), name)
    if isinstance(value, date):
        return _in_range(datetime(value.year, value.month, value.day), str(value), name)
    text = str(value).strip()
    if re.fullmatch(r"(?:\d+(?:\.\d+)?\s*[wdhmsWDHMS]\s*)+", text):
        now = now or datetime.now(UTC)
        return now - parse_age(text, name, now)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise UsageError(
            f"{name} {text!r} is not understood; write a date (2024-05-01), a date and time "
            "(2024-05-01T13:00) or a time ago (7d, 12h)"
        ) from None
    return _in_range(moment, text, name)


def _in_range(moment: datetime, shown: str, name: str) -> datetime:
    """``moment`` made aware, if its date (as written, before any timezone shift) is in range.

    Checking the written date first keeps the conversion safe: within the range, no timezone offset
    (under a day) can carry it past year 1 or 9999, which is what raised OverflowError before.
    """
    if moment.date() < EARLIEST:
        raise UsageError(f"{name} {shown!r} is before {EARLIEST}, when no run can have started; {_RANGE}")
    if moment.date() > LATEST:
        raise UsageError(f"{name} {shown!r} is after {LATEST}, the last date runnable can compare; {_RANGE}")
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
