"""Metric histories as line charts, written here as SVG.

Written by us rather than drawn by a chart library in the browser: the same markup works in the
served page and in the self-contained report (no script at all), and the page needs no code from
elsewhere. A history is ``[[step, value], ...]`` as the record keeps it.

>>> str(line_chart({"loss": [[0, 1.0], [1, 0.5]]})).startswith("<svg")
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

#: Line colours, one per run in an overlaid chart (readable on white, distinct in greyscale order).
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#cf222e", "#57606a")
#: At most this many points are drawn per line: a history of 100,000 steps becomes a path of 1,000
#: points (every k-th, and the last), which looks the same at this width and keeps the page small.
MAX_POINTS = 1000

_W, _H = 360, 160
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 10, 10, 24


def _finite(history: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    points = [(float(p[0]), float(p[1])) for p in history
              if len(p) == 2 and math.isfinite(float(p[0])) and math.isfinite(float(p[1]))]
    if len(points) > MAX_POINTS:
        step = math.ceil(len(points) / MAX_POINTS)
        points = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    return points


def _label(value: float) -> str:
    return f"{value:.4g}"


def line_chart(series: Mapping[str, Sequence[Sequence[float]]], title: str = "", width: int = _W,
               height: int = _H) -> Markup:
    """An SVG line chart of one or more histories (``{label: [[step, value], ...]}``), one colour each,
    with a legend when there are several. Labels are escaped: a metric or run name is user text."""
    lines = {name: _finite(history) for name, history in series.items()}
    points = [p for line in lines.values() for p in line]
    label = escape(title)
    if not points:
        return Markup(f'<svg class="chart" viewBox="0 0 {width} 40" width="{width}" height="40" role="img" '
                      f'aria-label="{label}"><text x="4" y="24" class="chart-empty">no finite values</text></svg>')
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) or 1) * 0.1, y1 + (abs(y1) or 1) * 0.1
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    legend_h = 16 * len(lines) if len(lines) > 1 else 0  # one line per series, under the plot
    full_h = height + legend_h

    def x(value: float) -> float:
        return _LEFT + (value - x0) / (x1 - x0) * plot_w

    def y(value: float) -> float:
        return _TOP + (1 - (value - y0) / (y1 - y0)) * plot_h

    parts = [f'<svg class="chart" viewBox="0 0 {width} {full_h}" width="{width}" height="{full_h}" '
             f'role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{label}</title>',
             f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="#fbfcfd" stroke="#d0d7de"/>']
    for value, anchor in ((y1, "hanging"), (y0, "auto")):
        parts.append(f'<text x="{_LEFT - 4}" y="{y(value):.1f}" text-anchor="end" dominant-baseline="{anchor}" '
                     f'class="tick">{escape(_label(value))}</text>')
    for value, anchor in ((x0, "start"), (x1, "end")):
        parts.append(f'<text x="{x(value):.1f}" y="{height - 8}" text-anchor="{anchor}" class="tick">'
                     f'{escape(_label(value))}</text>')
    for i, (name, line) in enumerate(lines.items()):
        colour = COLOURS[i % len(COLOURS)]
        if not line:
            continue
        if len(line) == 1:
            parts.append(f'<circle cx="{x(line[0][0]):.1f}" cy="{y(line[0][1]):.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(name)}</title></circle>')
            continue
        path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in line)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6">'
                     f'<title>{escape(name)}</title></polyline>')
    if len(lines) > 1:
        for i, name in enumerate(lines):
            colour = COLOURS[i % len(COLOURS)]
            ly = height + 4 + i * 16
            parts.append(f'<rect x="{_LEFT}" y="{ly}" width="14" height="3" fill="{colour}"/>'
                         f'<text x="{_LEFT + 20}" y="{ly + 5}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
