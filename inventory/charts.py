"""A stock-history chart as a small SVG, built on the server.

The admin may run on a machine with no internet access, and a chart should
not need a JavaScript library to say "the import set it to 20, two orders
took 3, the warehouse pull corrected it".  So the item page draws the ledger
as plain SVG: a step line of the stock after each change, a dot per change
coloured by its source, a legend, and a tooltip per dot (an SVG ``<title>``,
which every browser shows on hover) naming when, what and why.

Pure: it takes plain records and returns markup, so it is tested without a
database and the admin decides which ledger entries to hand in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

MINUS = "\u2212"

# One colour per ledger source (colour-blind-safe hues; readable on light and dark).
SOURCE_COLOURS = {
    "admin": "#0072b2",
    "api": "#56b4e9",
    "import": "#009e73",
    "pull": "#e69f00",
    "order": "#d55e00",
    "cancel": "#cc79a7",
    "refund": "#a6761d",
    "store-sync": "#7f7f7f",
    "undo": "#6a3d9a",
}
OTHER_COLOUR = "#999999"
LINE_COLOUR = "currentColor"
OVERSOLD_FILL = "#d55e00"


@dataclass(frozen=True)
class Change:
    """One ledger entry as the chart needs it."""

    at: datetime
    delta: int
    stock_after: int
    source: str
    label: str = ""  # the source as people read it ("Import"); defaults to ``source``
    detail: str = ""  # reference, who, note: shown in the tooltip

    @property
    def stock_before(self) -> int:
        return self.stock_after - self.delta


def signed(delta: int) -> str:
    return f"+{delta}" if delta > 0 else (f"{MINUS}{-delta}" if delta < 0 else "±0")


def number(value: int) -> str:
    """A count with a real minus sign, as the rest of the admin writes it."""
    return f"{MINUS}{-value}" if value < 0 else str(value)


def nice_step(span: float, ticks: int = 5) -> int:
    """A round step (1, 2, 5 × 10ⁿ, at least 1) that cuts ``span`` into about ``ticks`` parts."""
    if span <= 0:
        return 1
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return max(1, int(factor * power))
    return max(1, int(10 * power))  # pragma: no cover - the loop always returns


def y_ticks(low: int, high: int) -> list[int]:
    """Round values from at or below ``low`` to at or above ``high`` (zero included)."""
    step = nice_step(high - low)
    start = math.floor(low / step) * step
    end = math.ceil(high / step) * step
    if end == start:
        end = start + step
    return list(range(start, end + 1, step))


def _date(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def tooltip(change: Change) -> str:
    """The text shown on hover: when, which source, the change and the result, and why."""
    parts = [
        _when(change.at),
        change.label or change.source,
        f"{signed(change.delta)} → {number(change.stock_after)}",
    ]
    if change.detail:
        parts.append(change.detail)
    return " · ".join(parts)


def stock_history_svg(
    changes: Sequence[Change],
    *,
    now: datetime,
    width: int = 720,
    height: int = 240,
    caption: str = "Stock history",
) -> str:
    """The chart for ``changes`` (any order) up to ``now``, as an ``<svg>`` element.

    Returns an empty string when there is nothing to draw.  All text is
    escaped, so the result may be marked safe.
    """
    if not changes:
        return ""
    changes = sorted(changes, key=lambda change: change.at)
    first, last = changes[0], changes[-1]
    start = first.at
    end = max(now, last.at)
    if end - start < timedelta(hours=1):
        start = end - timedelta(hours=1)
    levels = [first.stock_before, *(change.stock_after for change in changes)]
    ticks = y_ticks(min(0, *levels), max(1, *levels))
    low, high = ticks[0], ticks[-1]

    left, right, top = 52, 12, 12
    legend_height = 22
    bottom = 28 + legend_height
    plot_w = width - left - right
    plot_h = height - top - bottom
    span = (end - start).total_seconds()

    def x(at: datetime) -> float:
        return round(left + plot_w * (at - start).total_seconds() / span, 1)

    def y(value: int) -> float:
        return round(top + plot_h * (high - value) / (high - low), 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="hub-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="hub-chart-title hub-chart-desc" '
        'font-family="sans-serif" font-size="11">',
        f'<title id="hub-chart-title">{escape(caption)}</title>',
        f'<desc id="hub-chart-desc">{escape(_summary(changes, start, end))}</desc>',
    ]
    # Oversold band: everything below zero.
    if low < 0:
        out.append(
            f'<rect class="hub-chart-oversold" x="{left}" y="{y(0)}" width="{plot_w}" '
            f'height="{round(y(low) - y(0), 1)}" fill="{OVERSOLD_FILL}" fill-opacity="0.08"/>'
        )
    # Grid and the y axis labels.
    for tick in ticks:
        strong = tick == 0
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick)}" y2="{y(tick)}" stroke="currentColor" '
            f'stroke-opacity="{0.45 if strong else 0.12}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y(tick) + 4}" text-anchor="end" fill="currentColor" '
            f'fill-opacity="0.7">{number(tick)}</text>'
        )
    # Dates along the bottom: start, middle, end (with the time when it all fits in two days).
    axis_y = top + plot_h + 16
    middle = start + (end - start) / 2
    label = _when if end - start < timedelta(days=2) else _date
    for at, anchor in ((start, "start"), (middle, "middle"), (end, "end")):
        out.append(
            f'<text x="{x(at)}" y="{axis_y}" text-anchor="{anchor}" fill="currentColor" '
            f'fill-opacity="0.7">{label(at)}</text>'
        )
    # The stock as a step line: flat until a change, then straight to its result.
    points = [f"M{left},{y(first.stock_before)}"]
    for change in changes:
        points.append(f"H{x(change.at)}V{y(change.stock_after)}")
    points.append(f"H{x(end)}")
    out.append(
        f'<path class="hub-chart-line" d="{"".join(points)}" fill="none" stroke="{LINE_COLOUR}" '
        'stroke-width="1.5" stroke-linejoin="round"/>'
    )
    # A dot per change, with its tooltip.
    for change in changes:
        colour = SOURCE_COLOURS.get(change.source, OTHER_COLOUR)
        out.append(
            f'<circle class="hub-chart-point" data-source="{escape(change.source)}" cx="{x(change.at)}" '
            f'cy="{y(change.stock_after)}" r="4" fill="{colour}" stroke="#fff" stroke-width="1">'
            f"<title>{escape(tooltip(change))}</title></circle>"
        )
    # Legend: the sources that appear, in the order of SOURCE_COLOURS.
    present = list(dict.fromkeys(change.source for change in changes))
    labels = {change.source: change.label or change.source for change in changes}
    ordered = [s for s in SOURCE_COLOURS if s in present] + [s for s in present if s not in SOURCE_COLOURS]
    legend_x, legend_y = left, height - 8
    out.append('<g class="hub-chart-legend">')
    for source in ordered:
        colour = SOURCE_COLOURS.get(source, OTHER_COLOUR)
        text = labels[source]
        out.append(
            f'<g data-source="{escape(source)}"><circle cx="{legend_x + 5}" cy="{legend_y - 4}" r="5" '
            f'fill="{colour}"/><text x="{legend_x + 14}" y="{legend_y}" fill="currentColor">'
            f"{escape(text)}</text></g>"
        )
        legend_x += 26 + 7 * len(text)
    out.append("</g></svg>")
    return "".join(out)


def _summary(changes: Sequence[Change], start: datetime, end: datetime) -> str:
    first, last = changes[0], changes[-1]
    count = len(changes)
    return (
        f"From {_date(start)} to {_date(end)}: {count} change{'s' if count != 1 else ''}, "
        f"stock {number(first.stock_before)} before the first and {number(last.stock_after)} after the last."
    )
