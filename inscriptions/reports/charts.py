"""Server-side SVG charts: geometry computed here, markup written by ``templates/reports/_charts.html``.

No JavaScript and nothing inline that a strict Content-Security-Policy blocks: sizes and colours
are SVG presentation attributes (``fill``, ``font-size``), never ``style``. Every chart is drawn
next to a table of the same figures (RGAA: a text equivalent for each chart), so the SVG itself is
a picture with a short title.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_text: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    """What the SVG template draws: bars, axis ticks and grid lines, in user units."""

    width: float
    height: float
    bars: list[Bar] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    grid: list[float] = field(default_factory=list)
    plot_left: float = 0.0
    plot_right: float = 0.0
    plot_top: float = 0.0
    plot_bottom: float = 0.0
    horizontal: bool = False


def nice_max(value: float) -> int:
    """A round axis maximum at least ``value`` (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power) if step * power >= 1 else 1
    return int(10 * power)  # pragma: no cover - the loop always returns


def column_chart(items: Sequence[tuple[str, int]], width: float = 720, height: float = 240,
                 label_every: int = 5) -> Chart:
    """Vertical bars, one per item (e.g. registrations per day); every ``label_every``-th label shown."""
    left, right, top, bottom = 40.0, width - 10.0, 10.0, height - 30.0
    chart = Chart(width, height, plot_left=left, plot_right=right, plot_top=top, plot_bottom=bottom)
    # Whole-number grid lines, four or five of them: a step of 1, 2, 5, 10, 20...
    highest = max((v for _l, v in items), default=0)
    step = nice_max(highest / 4) if highest > 4 else 1
    top_value = max(step * math.ceil(highest / step), 1)
    for value in range(0, top_value + 1, step):
        y = bottom - (bottom - top) * value / top_value
        chart.grid.append(y)
        chart.y_ticks.append(Tick(left - 6, y + 4, str(value)))
    if not items:
        return chart
    slot = (right - left) / len(items)
    bar_width = max(slot * 0.7, 1.0)
    for i, (label, value) in enumerate(items):
        h = (bottom - top) * value / top_value
        x = left + i * slot + (slot - bar_width) / 2
        chart.bars.append(Bar(x, bottom - h, bar_width, h, label, str(value)))
        if i % label_every == 0 or i == len(items) - 1:
            chart.x_ticks.append(Tick(x + bar_width / 2, bottom + 16, label))
    return chart


def bar_chart(items: Sequence[tuple[str, float, str]], scale: float | None = None,
              width: float = 720, row_height: float = 30, label_width: float = 260) -> Chart:
    """Horizontal bars: ``(label, value, value_text)``; ``scale`` is the value of a full bar.

    Without ``scale`` the longest bar is full. Values above the scale are drawn full (an
    overbooked session shows a full bar; its text says more than 100 %).
    """
    height = max(len(items), 1) * row_height + 10
    left, right = label_width, width - 70.0
    chart = Chart(width, height, plot_left=left, plot_right=right, plot_top=5, plot_bottom=height - 5,
                  horizontal=True)
    full = scale if scale else max((v for _l, v, _t in items), default=0) or 1
    for i, (label, value, text) in enumerate(items):
        y = 5 + i * row_height
        w = (right - left) * min(max(value, 0) / full, 1.0)
        chart.bars.append(Bar(left, y + 5, w, row_height - 10, label, text))
        chart.y_ticks.append(Tick(left - 8, y + row_height / 2 + 4, _shorten(label, 40)))
    return chart


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
