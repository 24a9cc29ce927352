"""Plotting helpers shared by `datagen preview` and `datagen report`: panel titles of the
charted vitals, the normal band drawn behind a vital, and a log axis for labs such as CRP."""

from __future__ import annotations

import math

from matplotlib.ticker import FuncFormatter, LogLocator

from data_generator.config import Config

VITALS = {  # charted column -> panel title (presentation only)
    "heart_rate": "Heart rate (beats/min)",
    "resp_rate": "Respiratory rate (/min)",
    "sbp": "Systolic BP (mmHg)",
    "map": "Mean arterial pressure (mmHg)",
    "spo2": "SpO2 (%)",
    "temp_c": "Temperature (°C)",
    "pain_score": "Pain score (0-10)",
}


def normal_band(cfg: Config, vital: str) -> tuple[float, float] | None:
    """The range NEWS2 scores 0 for `vital` (from the vitals catalogue), or None if unscored."""
    bands = cfg.vitals["news2"]["bands"].get(vital)
    if not bands:
        return None
    lower = cfg.vitals["vitals"][vital]["clip"][0]
    for upper, points in bands:
        if points == 0:
            return lower, upper if upper is not None else cfg.vitals["vitals"][vital]["clip"][1]
        lower = upper
    return None


def log_axis(ax) -> None:
    """Log scale with plain-number ticks: at 1, 2, 3 and 5 of each decade over a short range,
    fewer per decade as the range widens, so the labels never overlap."""
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_locator(_PlainLogLocator())
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


class _PlainLogLocator(LogLocator):
    """Log ticks whose multiples per decade depend on how many decades the axis spans."""

    SUBS = ((1.0, 2.0, 3.0, 5.0), (1.0, 2.0, 5.0), (1.0, 3.0), (1.0,))  # up to 2, 3, 4, more decades

    def tick_values(self, vmin, vmax):
        span = abs(math.log10(vmax / vmin)) if vmin > 0 and vmax > 0 else 0.0
        self.set_params(subs=self.SUBS[min(max(int(span) - 1, 0), len(self.SUBS) - 1)])
        return super().tick_values(vmin, vmax)
