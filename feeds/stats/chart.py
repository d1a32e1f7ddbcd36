"""A feed's subscribers over the last days as an SVG drawn on the server: stacked areas, no script.

Layers from the bottom: aggregators' reports, direct readers, fediverse
followers. Days without history are left out (the areas join the days on
either side); the y axis runs from 0 to a round number above the peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from html import escape

from feeds.stats.counts import Day

WIDTH, HEIGHT = 640, 170
#: Margins: left for the y labels, bottom for the dates.
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24
#: (group, label, fill colour), bottom layer first.
LAYERS = (
    ("aggregators", "Aggregators", "#c2410c"),
    ("direct", "Direct readers", "#2563eb"),
    ("fediverse", "Fediverse", "#7c3aed"),
)


def nice_ceiling(value: int) -> int:
    """The smallest whole 1, 2, 2.5 or 5 × 10ⁿ that is at least ``value`` (at least 1)."""
    scale = 1
    while True:
        for step in (1, 2, 2.5, 5):
            candidate = step * scale
            if candidate >= value and candidate == int(candidate):
                return int(candidate)
        scale *= 10


def svg(days: Sequence[Day], last: date, span: int, title: str) -> str:
    """Draw ``days`` (oldest first) on an axis of ``span`` days ending on ``last``."""
    first = last - timedelta(days=span - 1)
    points = [(day.day, day.groups()) for day in days if first <= day.day <= last]
    peak = max((sum(groups.values()) for _, groups in points), default=0)
    top = nice_ceiling(peak)
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + width * (day - first).days / max(1, span - 1)

    def y(value: int) -> float:
        return TOP + height * (1 - value / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<g font-family="system-ui, sans-serif" font-size="11" fill="currentColor">'
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{top}</text>'
        f'<text x="{LEFT - 6}" y="{TOP + height}" text-anchor="end">0</text>'
        f'<text x="{LEFT}" y="{HEIGHT - 6}">{first.isoformat()}</text>'
        f'<text x="{LEFT + width}" y="{HEIGHT - 6}" text-anchor="end">{last.isoformat()}</text></g>',
        f'<g stroke="currentColor" stroke-opacity=".25"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT + width}" y2="{TOP}"/>'
        f'<line x1="{LEFT}" y1="{TOP + height}" x2="{LEFT + width}" y2="{TOP + height}"/></g>',
    ]
    if points:
        below = [0] * len(points)
        for group, label, colour in LAYERS:
            above = [base + groups[group] for base, (_, groups) in zip(below, points, strict=True)]
            if any(a != b for a, b in zip(above, below, strict=True)):
                upper = [(x(day), y(value)) for (day, _), value in zip(points, above, strict=True)]
                lower = [(x(day), y(value)) for (day, _), value in reversed(list(zip(points, below, strict=True)))]
                if len(points) == 1:  # one day: a bar a few pixels wide
                    upper = [(upper[0][0] - 3, upper[0][1]), (upper[0][0] + 3, upper[0][1])]
                    lower = [(lower[0][0] + 3, lower[0][1]), (lower[0][0] - 3, lower[0][1])]
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in upper + lower)
                parts.append(f'<polygon points="{path}" fill="{colour}" fill-opacity=".75"><title>{escape(label)}</title></polygon>')
            below = above
    else:
        middle = f'x="{LEFT + width / 2:.1f}" y="{TOP + height / 2:.1f}"'
        parts.append(f'<text {middle} text-anchor="middle" font-size="12" fill="currentColor">no history yet</text>')
    parts.append("</svg>")
    return "".join(parts)
