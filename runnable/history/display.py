"""How sizes, durations and record times read to a person: one form for the command line and the run
browser alike, so a run shows the same figures in both."""

from __future__ import annotations

from datetime import datetime


def human_bytes(size: int | None) -> str:
    """1536 -> '1.5 KiB'; None (unknown) -> '-'."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def human_duration(seconds: float | None) -> str:
    """12.34 -> '12.3s', 125 -> '2m05s', 7300 -> '2h01m'; None -> '-'."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def short_time(iso: str | None) -> str:
    """A record's UTC time as 'YYYY-MM-DD HH:MM:SS' (UTC, as the records keep it), or '-'."""
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso
