"""Moments and durations as people type them: ``2024-05-01``, ``2024-05-01T13:00``, ``7d``, ``12h``.

They are limits on when runs started, so a value beyond the clock only widens the limit, never is an
error: a moment before 1970-01-01 (when no run can have started) selects every run "since"; a time
ago longer than a date can hold (``99999999999999d``) is ``BEGINNING``; a duration longer than a
``timedelta`` holds is ``timedelta.max`` (2.7 million years: no run is "older than" it); a naive moment
that cannot be converted from local time (year 1, or 9999-12-31 outside UTC) is ``BEGINNING`` or
``END``. Only text that is neither a date Python reads nor a duration is a ``UsageError``, naming it.

>>> parse_duration("1d12h").total_seconds()
129600.0
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from runnable.errors import UsageError

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# One part of a duration, "12h" or "1.5d"; a duration is one or more of them, blanks between allowed.
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")

BEGINNING = datetime.min.replace(tzinfo=UTC)
END = datetime.max.replace(tzinfo=UTC)


def _parts(text: str) -> list[tuple[str, str]] | None:
    """The (number, unit) parts of a duration text; None if ``text`` is not a duration."""
    cleaned = "".join(text.split()).lower()
    if not cleaned or _PART.sub("", cleaned):  # anything left over is not a part
        return None
    return _PART.findall(cleaned)


def _length(parts: list[tuple[str, str]]) -> timedelta:
    """The parts added up; ``timedelta.max`` when longer than a timedelta holds (or a float: ``9``*400)."""
    try:
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    except OverflowError:
        return timedelta.max


def parse_duration(text: str, name: str = "duration") -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w`` or combinations such as ``1d12h``.

    ``name`` is how errors call the value (``--older-than`` on the command line). A length longer
    than a ``timedelta`` holds is ``timedelta.max``: as an age, older than any run.

    >>> parse_duration("90s")
    datetime.timedelta(seconds=90)
    >>> parse_duration("99999999999999d") == timedelta.max
    True
    """
    parts = _parts(text)
    if parts is None:
        raise UsageError(f"{name} {text!r} is not understood; write e.g. '30d', '12h', '45m' or '1d12h'")
    return _length(parts)


def parse_moment(value: str | date | datetime, now: datetime | None = None, name: str = "moment") -> datetime:
    """A timezone-aware moment from a datetime, a date, an ISO text, or a duration meaning "ago".

    Naive dates and times are taken as local time, as a person typing them means. A time ago from
    ``now`` (default: the current time) reaching back past what a date holds is ``BEGINNING``; a
    naive moment that cannot be converted from local time is ``BEGINNING`` or ``END``. ``name`` is how
    errors call the value (``--since`` on the command line).

    >>> parse_moment("2024-05-01T12:00:00+00:00").isoformat()
    '2024-05-01T12:00:00+00:00'
    >>> ago = parse_moment("2h", now=datetime(2024, 5, 1, 12, tzinfo=UTC)); ago.hour
    10
    >>> parse_moment("99999999999999d") == BEGINNING
    True
    """
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        return _aware(datetime(value.year, value.month, value.day))
    text = str(value).strip()
    parts = _parts(text)
    if parts is not None:
        try:
            return (now or datetime.now(UTC)) - _length(parts)
        except OverflowError:  # before the year 1: before any run all the same
            return BEGINNING
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise UsageError(
            f"{name} {text!r} is not understood; write a date (2024-05-01), a date and time "
            "(2024-05-01T13:00) or a time ago (7d, 12h)"
        ) from None
    return _aware(moment)


def _aware(moment: datetime) -> datetime:
    """``moment`` with its timezone: local time when it has none.

    Converting from local time fails for the first and last days a ``datetime`` holds (ValueError
    "year 0 is out of range", OverflowError) and, on some platforms, for any moment before 1970
    (OSError from mktime); such a moment is before or after every run, so it becomes the beginning
    or the end. An aware moment needs no conversion: aware datetimes compare without overflowing.
    """
    if moment.tzinfo is not None:
        return moment
    try:
        return moment.astimezone()
    except (OverflowError, ValueError, OSError):
        return BEGINNING if moment.year < 1970 else END


def parse_record_time(text: str | None) -> datetime | None:
    """A run record's ISO time (UTC) as an aware datetime; None if absent or unreadable.

    >>> parse_record_time("2024-05-01T12:00:00").isoformat()
    '2024-05-01T12:00:00+00:00'
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
