"""Inline SVG plots of a leaderboard table, written by hand (no plotting library, no script).

- :func:`scores_plot`: per entry (one line each, in rank order) the mean score on the original
  (circle), the perturbed twin (triangle) and the noise twin (diamond), each with its 95%
  bootstrap interval as a whisker.
- :func:`drop_plot`: per entry the drop (original - perturbed) as a bar from 0, with its interval.

Coordinates are rounded to 0.01 px and numbers printed with fixed formats, so the same table
gives the same bytes. Every label is escaped (:func:`escape_html`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from disentangle_bench.leaderboard.aggregate import Table
from disentangle_bench.leaderboard.escape import escape_html
from disentangle_bench.leaderboard.statistics import Estimate

WIDTH = 580
LABEL_WIDTH = 200
RIGHT = 24
TOP = 34
ROW_HEIGHT = 24
AXIS_HEIGHT = 40
LABEL_CHARS = 28
COLOURS = {"original": "#1f5fa8", "perturbed": "#c2410c", "noise": "#6b7280", "drop": "#7c3aed"}


def _n(value: float) -> str:
    """A coordinate with at most two decimals and no ``-0``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 x 10^k)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step + 1e-9)
    end = math.ceil(high / step - 1e-9)
    return [round(i * step, 12) + 0.0 for i in range(start, end + 1)]


def _bounds(values: Iterable[float], include: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)] + list(include)
    low, high = min(finite), max(finite)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    ticks = nice_ticks(low, high)
    return ticks[0], ticks[-1]


def _estimate_values(estimate: Estimate | None) -> list[float]:
    if estimate is None:
        return []
    return [v for v in (estimate.mean, estimate.low, estimate.high) if v is not None]


class _Frame:
    """The plotting area of one chart: x maps data to pixels."""

    def __init__(self, rows: int, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.height = TOP + rows * ROW_HEIGHT + AXIS_HEIGHT
        self.bottom = TOP + rows * ROW_HEIGHT

    def x(self, value: float) -> float:
        span = self.high - self.low
        return LABEL_WIDTH + (value - self.low) / span * (WIDTH - LABEL_WIDTH - RIGHT)

    def y(self, row: int) -> float:
        return TOP + row * ROW_HEIGHT + ROW_HEIGHT / 2


def _open(frame: _Frame, title: str, css_class: str) -> list[str]:
    label = escape_html(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" role="img" '
        f'width="{WIDTH}" height="{_n(frame.height)}" viewBox="0 0 {WIDTH} {_n(frame.height)}" '
        f'aria-label="{label}">',
        f"<title>{label}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{_n(frame.height)}" fill="#ffffff"/>',
    ]


def _axis(frame: _Frame, ticks: Sequence[float]) -> list[str]:
    parts = []
    for tick in ticks:
        x = _n(frame.x(tick))
        parts.append(
            f'<line x1="{x}" y1="{TOP - 4}" x2="{x}" y2="{_n(frame.bottom)}" stroke="#e5e7eb"/>'
        )
        parts.append(
            f'<text x="{x}" y="{_n(frame.bottom + 16)}" font-size="11" text-anchor="middle" '
            f'fill="#374151">{_tick_label(tick)}</text>'
        )
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{_n(frame.bottom)}" x2="{WIDTH - RIGHT}" '
        f'y2="{_n(frame.bottom)}" stroke="#6b7280"/>'
    )
    return parts


def _tick_label(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def _row_label(frame: _Frame, index: int, label: str) -> str:
    return (
        f'<text x="{LABEL_WIDTH - 8}" y="{_n(frame.y(index) + 4)}" font-size="12" '
        f'text-anchor="end" fill="#111827">{escape_html(label, LABEL_CHARS)}'
        f"<title>{escape_html(label)}</title></text>"
    )


def _whisker(frame: _Frame, y: float, estimate: Estimate, colour: str) -> list[str]:
    if estimate.low is None or estimate.high is None or estimate.low == estimate.high:
        return []
    x1, x2 = _n(frame.x(estimate.low)), _n(frame.x(estimate.high))
    return [
        f'<line x1="{x1}" y1="{_n(y)}" x2="{x2}" y2="{_n(y)}" stroke="{colour}" '
        'stroke-width="1.5"/>',
        f'<line x1="{x1}" y1="{_n(y - 4)}" x2="{x1}" y2="{_n(y + 4)}" stroke="{colour}"/>',
        f'<line x1="{x2}" y1="{_n(y - 4)}" x2="{x2}" y2="{_n(y + 4)}" stroke="{colour}"/>',
    ]


def _marker(shape: str, x: float, y: float, colour: str, css: str = "mark") -> str:
    if shape == "circle":
        return f'<circle class="{css}" cx="{_n(x)}" cy="{_n(y)}" r="4.5" fill="{colour}"/>'
    if shape == "triangle":
        points = f"{_n(x)},{_n(y - 5.5)} {_n(x - 5)},{_n(y + 4)} {_n(x + 5)},{_n(y + 4)}"
        return f'<polygon class="{css}" points="{points}" fill="{colour}"/>'
    points = f"{_n(x)},{_n(y - 5)} {_n(x + 5)},{_n(y)} {_n(x)},{_n(y + 5)} {_n(x - 5)},{_n(y)}"
    return (
        f'<polygon class="{css}" points="{points}" fill="none" stroke="{colour}" '
        'stroke-width="1.5"/>'
    )


def _legend(items: Sequence[tuple[str, str, str]]) -> list[str]:
    parts, x = [], LABEL_WIDTH
    for shape, colour, text in items:
        parts.append(_marker(shape, x + 5, 14, colour, "legend"))
        parts.append(
            f'<text x="{_n(x + 14)}" y="18" font-size="12" fill="#111827">'
            f"{escape_html(text)}</text>"
        )
        x += 24 + 7 * len(text)
    return parts


def scores_plot(table: Table) -> str:
    """Original vs perturbed (and noise) score per entry, with 95% intervals."""
    rows = table.rows
    values = [
        v
        for row in rows
        for e in (row.original, row.perturbed, row.noise)
        for v in _estimate_values(e)
    ]
    low, high = _bounds(values, [0.0])
    frame = _Frame(len(rows), low, high)
    series = [
        ("circle", COLOURS["original"], "original"),
        ("triangle", COLOURS["perturbed"], table.perturbed.label),
    ]
    if table.show_noise and any(row.noise is not None for row in rows):
        series.append(("diamond", COLOURS["noise"], "noise"))
    parts = _open(
        frame,
        f"{table.score} on {table.dataset}: original vs {table.perturbed.label}",
        "plot scores",
    )
    parts += _axis(frame, nice_ticks(low, high))
    parts += _legend(series)
    for index, row in enumerate(rows):
        y = frame.y(index)
        parts.append(_row_label(frame, index, row.entry.label))
        offsets = {"circle": -5.0, "triangle": 0.0, "diamond": 5.0}
        for (shape, colour, _), estimate in zip(series, (row.original, row.perturbed, row.noise)):
            if estimate is None:
                continue
            parts += _whisker(frame, y + offsets[shape], estimate, colour)
            parts.append(_marker(shape, frame.x(estimate.mean), y + offsets[shape], colour))
    parts.append("</svg>")
    return "\n".join(parts)


def drop_plot(table: Table) -> str:
    """Drop (original - perturbed) per entry as bars from 0, with 95% intervals."""
    rows = table.rows
    values = [v for row in rows for v in _estimate_values(row.drop)]
    low, high = _bounds(values, [0.0])
    frame = _Frame(len(rows), low, high)
    colour = COLOURS["drop"]
    parts = _open(
        frame,
        f"Drop of {table.score} on {table.dataset}: original - {table.perturbed.label}",
        "plot drops",
    )
    parts += _axis(frame, nice_ticks(low, high))
    legend = f"drop = original - {table.perturbed.label}; whisker: 95% CI"
    parts.append(f'<text x="8" y="18" font-size="12" fill="#111827">{escape_html(legend)}</text>')
    zero = frame.x(0.0)
    parts.append(
        f'<line x1="{_n(zero)}" y1="{TOP - 4}" x2="{_n(zero)}" y2="{_n(frame.bottom)}" '
        'stroke="#111827"/>'
    )
    for index, row in enumerate(rows):
        y = frame.y(index)
        parts.append(_row_label(frame, index, row.entry.label))
        if row.drop is None:
            continue
        x = frame.x(row.drop.mean)
        left, width = min(x, zero), max(abs(x - zero), 1.0)
        parts.append(
            f'<rect class="mark" x="{_n(left)}" y="{_n(y - 7)}" width="{_n(width)}" height="14" '
            f'fill="{colour}" fill-opacity="0.55"/>'
        )
        parts += _whisker(frame, y, row.drop, "#111827")
    parts.append("</svg>")
    return "\n".join(parts)
