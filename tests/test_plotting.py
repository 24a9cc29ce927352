"""Plotting helpers shared by preview and report: a log axis keeps plain, non-overlapping labels."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from data_generator.plotting import log_axis
from data_generator.report import DPI, FONTS, PANEL_PX, WIDTH_PX


def _drawn_log_axis(low: float, high: float):
    """One report-sized panel with a log y axis from `low` to `high`, drawn: its renderer and axes."""
    fig = Figure(figsize=(WIDTH_PX / 3 / DPI, PANEL_PX / DPI), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    log_axis(ax)
    ax.set_ylim(low, high)
    ax.tick_params(labelsize=FONTS["ytick.labelsize"])
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer(), ax


@pytest.mark.parametrize("low, high, expected", [
    (70, 500, ["100", "200", "300", "500"]),         # under two decades: 1, 2, 3 and 5 of each
    (0.05, 10, ["0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"]),
    (1, 20000, ["1", "10", "100", "1000", "10000"]),  # four decades and more: powers of ten only
])
def test_log_ticks_thin_out_as_the_range_widens(low, high, expected):
    """The multiples per decade depend on the span, each label a plain number."""
    _, ax = _drawn_log_axis(low, high)
    shown = [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True) if low <= v <= high]
    assert shown == expected


@pytest.mark.parametrize("low, high", [(70, 500), (5, 300), (0.05, 10), (1, 20000), (0.01, 1e6)])
def test_log_tick_labels_never_overlap(low, high):
    """On a report-sized panel, no two tick labels of a log axis overlap, whatever the span."""
    renderer, ax = _drawn_log_axis(low, high)
    boxes = sorted((t.get_window_extent(renderer) for t, v in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)
                    if low <= v <= high and t.get_text()), key=lambda b: b.y0)
    assert len(boxes) >= 2
    assert all(a.y1 <= b.y0 for a, b in zip(boxes, boxes[1:], strict=False)), [(b.y0, b.y1) for b in boxes]
