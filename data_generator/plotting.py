"""Plotting helpers shared by `datagen preview` and `datagen report`: panel titles of the
charted vitals, the normal band drawn behind a vital, and a log axis for labs such as CRP."""

from __future__ import annotations

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
    """Log scale with plain-number ticks at 1, 2, 3 and 5 of each decade."""
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
