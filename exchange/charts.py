"""Bar charts of the consumer dashboard, drawn on the server as SVG: no script and no inline style (the
CSP forbids both), colours from the DSFR tokens in static/css/charts.css, so the dark theme works.

Only the geometry is computed here; templates/exchange/_bar_chart.html draws it. Each chart carries a
title and a description for assistive technologies, and the page gives the same figures in a table.
"""

import math

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 36  # margins: the y axis labels on the left, the x ones below


def nice_ceiling(value: int) -> int:
    """The axis maximum: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * power:
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def bar_chart(buckets: list[dict], *, label, every: int = 1) -> dict:
    """Two bars per bucket, calls and errors, side by side; ``label(bucket)`` names a bucket on the x
    axis, shown every ``every`` buckets (and for the last one)."""
    top = nice_ceiling(max((bucket["calls"] for bucket in buckets), default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(buckets), 1)
    bar = max(slot * 0.36, 1)

    def y(count: int) -> float:
        return TOP + plot_height - plot_height * count / top

    bars = []
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + (slot - 2 * bar) / 2
        text = label(bucket)
        bars.append({
            "calls": bucket["calls"], "errors": bucket["errors"], "label": text,
            "calls_x": round(x, 1), "calls_y": round(y(bucket["calls"]), 1),
            "calls_height": round(TOP + plot_height - y(bucket["calls"]), 1),
            "errors_x": round(x + bar, 1), "errors_y": round(y(bucket["errors"]), 1),
            "errors_height": round(TOP + plot_height - y(bucket["errors"]), 1),
            "width": round(bar, 1),
            "tick_x": round(LEFT + index * slot + slot / 2, 1),
            "show_tick": index % every == 0 or index == len(buckets) - 1,
        })  # fmt: skip
    ticks = [{"value": value, "y": round(y(value), 1)} for value in sorted({0, top // 2, top})]
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "bottom": TOP + plot_height, "label_y": TOP + plot_height + 22, "tick_label_x": LEFT - 6,
        "bars": bars, "ticks": ticks, "max": top,
    }  # fmt: skip
