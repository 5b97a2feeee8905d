"""Geometry of the overview's server-rendered SVG charts (no script, no inline style: CSP holds)."""

from __future__ import annotations

from typing import Any

from .selectors import Chart

LABEL_WIDTH = 200
BAR_SPACE = 260
ROW = 22
COLUMN_CHARTS = {"daily"}


def chart_geometry(chart: Chart) -> dict[str, Any]:
    """Coordinates for a horizontal bar chart (one row per bar, with an optional limit mark) or, for a
    time series, a column chart. Values are rounded to whole pixels."""
    top = chart.max_value
    if chart.key in COLUMN_CHARTS:
        width, height, gap, left = 520, 160, 2, 36
        step = (width - left) / max(1, len(chart.bars))
        columns = []
        for i, bar in enumerate(chart.bars):
            h = round(bar.value / top * (height - 20))
            columns.append(
                {
                    "x": left + round(i * step),
                    "y": height - h,
                    "w": max(1, round(step) - gap),
                    "h": h,
                    "label": bar.label,
                    "value": bar.value,
                    "show_label": i % 5 == 0,
                }
            )
        # The count axis: zero, half and the top, with their values.
        ticks = [{"y": height - round(f * (height - 20)), "label": f"{top * f:g}"} for f in (0, 0.5, 1)]
        return {
            "chart": chart,
            "columns": columns,
            "width": width,
            "height": height + 16,
            "base": height,
            "left": left,
            "top": 20,
            "yticks": ticks,
        }
    rows = []
    for i, bar in enumerate(chart.bars):
        rows.append(
            {
                "y": i * ROW,
                "text_y": i * ROW + 15,
                "w": round(bar.value / top * BAR_SPACE),
                "limit_x": None if bar.limit is None else LABEL_WIDTH + round(bar.limit / top * BAR_SPACE),
                "value_x": LABEL_WIDTH + round(bar.value / top * BAR_SPACE) + 6,
                "label": bar.label,
                "value": bar.value,
                "note": bar.note,
                "warn": bar.warn,
            }
        )
    return {
        "chart": chart,
        "rows": rows,
        "width": LABEL_WIDTH + BAR_SPACE + 80,
        "height": max(ROW, len(rows) * ROW),
        "bar_x": LABEL_WIDTH,
    }
