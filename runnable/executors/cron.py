"""Cron schedules as Kubernetes CronJobs and Argo CronWorkflows read them (robfig/cron v3).

Checked here, with the parser's own rules, so that a typo fails when the configuration is loaded and
not when the cluster rejects the object.
"""

from __future__ import annotations

import re

from runnable.errors import ConfigurationError

# What a schedule takes. Kubernetes (and Argo's CronWorkflow controller) parses it with robfig/cron v3's standard parser
# (cron.ParseStandard): five fields, day of week 0-6 (Sunday is 0), one of these macros (lower case,
# exactly), or '@every <duration>' as Go's time.ParseDuration reads it ('48h', '1h30m', '1.5h').
CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
               ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
               ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_DURATION_UNITS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
                   "h": 3600 * 10**9}
_DURATION = re.compile(r"[-+]?(?:0|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)")
_DURATION_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")



def check_schedule(schedule: str, where: str = "job-executor (k8s-job): 'schedule'") -> str:
    """``schedule`` if Kubernetes takes it as a CronJob schedule, else ConfigurationError saying why.

    Checked as Kubernetes' parser checks it, so a typo fails here and not when the CronJob is
    submitted. The message says what is wrong without repeating the schedule; ``where`` names the
    setting in it.

    >>> check_schedule("*/15 2-4 * JAN-MAR mon"), check_schedule("@every 1h30m")
    ('*/15 2-4 * JAN-MAR mon', '@every 1h30m')
    """
    usage = ("give five fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *', one of "
             + ", ".join(CRON_MACROS) + ", or '@every' and a duration, e.g. '@every 6h'")

    def refuse(why: str) -> ConfigurationError:
        return ConfigurationError(f"{where} is not a cron expression: {why}; {usage}")

    if schedule in CRON_MACROS:
        return schedule
    if schedule.startswith("@every"):
        if not schedule.startswith("@every ") or not _duration_fits(schedule[len("@every "):]):
            raise refuse("'@every' needs a duration such as 48h, 90m or 1h30m (units h, m, s, ms, us, ns), "
                         "one space after it")
        return schedule
    if schedule.startswith("@"):
        raise refuse("it starts with '@' but is not one of the macros, which are lower case")
    fields = schedule.split()
    if len(fields) != 5:
        raise refuse(f"it has {len(fields)} field(s)")
    for text, (name, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for item in text.split(","):
            problem = _cron_item_problem(item, low, high, names)
            if problem:
                allowed = f"{low}-{high}" + (f" or {names[0].upper()}-{names[-1].upper()}" if names else "")
                raise refuse(f"the {name} field {problem} (it takes {allowed}, '*', ranges a-b, lists a,b and "
                             "steps /n)")
    return schedule


def _cron_item_problem(item: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """What is wrong with one comma-separated item of a cron field, as robfig/cron's getRange says."""
    range_and_step = item.split("/")
    if len(range_and_step) > 2:
        return "has more than one '/' in an item"
    bounds = range_and_step[0].split("-")
    if bounds[0] in ("*", "?"):  # the parser reads no further: '*-5' is all values
        start, end = low, high
    elif len(bounds) > 2:
        return "has more than one '-' in a range"
    else:
        values = [v for v in (_cron_value(b, low, names) for b in bounds) if v is not None]
        if len(values) != len(bounds):
            return "has something that is neither a number nor a name this field takes"
        start, end = values[0], values[-1]
    if len(range_and_step) == 2:
        step = range_and_step[1]
        if not (step.isascii() and step.isdigit()) or int(step) == 0:
            return "has a step that is not a whole number of 1 or more"
        if len(bounds) == 1:  # 'N/step' means N-max/step
            end = high
    if start < low or end > high:
        return "has a value out of range"
    if start > end:
        return "has a range whose start is after its end"
    return None


def _cron_value(text: str, low: int, names: tuple[str, ...]) -> int | None:
    if text.lower() in names:
        return names.index(text.lower()) + low
    return int(text) if text.isascii() and text.isdigit() else None


def _duration_fits(text: str) -> bool:
    """Whether Go's time.ParseDuration takes ``text``: numbers with units, within 292 years."""
    from fractions import Fraction

    if not _DURATION.fullmatch(text):
        return False
    total = sum(Fraction(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))
    return total <= 2**63 - 1  # nanoseconds in an int64, the most a Go duration holds
