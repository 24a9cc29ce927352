"""NEWS2 (National Early Warning Score 2) from charted vitals, with bands from the catalogue."""

from __future__ import annotations

import numpy as np


def _points(x: np.ndarray, bands: list) -> np.ndarray:
    """Points of the first band whose inclusive upper bound holds `x` (null: no bound); 0 beyond
    every bound and where `x` is NaN (not charted)."""
    uppers, points = [], []
    for upper, pts in bands:
        upper = np.inf if upper is None else upper
        if not uppers or upper > uppers[-1]:  # a band within an earlier one's bound is never reached
            uppers.append(upper)
            points.append(pts)
    band = np.zeros(x.size, dtype=np.uint8)  # how many bounds x is above (all where x is NaN)
    above = np.empty(x.size, dtype=bool)
    for upper in uppers:
        np.greater(x, upper, out=above)
        band += above.view(np.uint8)
    band[np.isnan(x)] = len(uppers)
    return np.take(np.array([*points, 0], dtype=np.int64), band)


def score(table: dict[str, np.ndarray], news2: dict, scale2: np.ndarray | None = None,
          on_oxygen: np.ndarray | None = None, not_alert: np.ndarray | None = None) -> np.ndarray:
    """NEWS2 total per row; an item not charted scores 0. `scale2` marks rows scored on SpO2
    scale 2 (hypercapnic respiratory failure). `on_oxygen` and `not_alert`, where the caller
    has them, are what the o2_device and consciousness columns say (a device other than room
    air; a level charted other than A)."""
    n = len(table["heart_rate"])
    total = np.zeros(n, dtype=np.int64)
    if on_oxygen is None:
        on_oxygen = oxygen_given(np.asarray(table["o2_device"], dtype=object))
    for col, bands in news2["bands"].items():
        x = np.asarray(table[col], dtype=float)
        points = _points(x, bands)
        if col == "spo2" and scale2 is not None and scale2.any():
            alt = np.where(on_oxygen, _points(x, news2["spo2_scale2"]["oxygen"]),
                           _points(x, news2["spo2_scale2"]["air"]))
            points = np.where(scale2, alt, points)
        total += points
    total += np.where(on_oxygen, news2["supplemental_oxygen"], 0)
    if not_alert is None:
        not_alert = less_than_alert(np.asarray(table["consciousness"], dtype=object))
    total += np.where(not_alert, news2["not_alert"], 0)
    return total


def oxygen_given(device: np.ndarray) -> np.ndarray:
    """Charted devices that score as supplemental oxygen (any but room air)."""
    return (device != "room_air") & (device != None)  # noqa: E711


def less_than_alert(avpu: np.ndarray) -> np.ndarray:
    """Charted consciousness levels that score as not alert (C, V, P or U)."""
    return (avpu != "A") & (avpu != None)  # noqa: E711


def uses_scale2(scenarios: dict[str, dict], names: np.ndarray) -> np.ndarray:
    """Rows whose scenario scores SpO2 on scale 2 (`news2_spo2_scale: 2`, hypercapnic failure)."""
    flags = {name: sc.get("news2_spo2_scale", 1) == 2 for name, sc in scenarios.items()}
    return np.array([flags.get(n, False) for n in np.asarray(names, dtype=object).tolist()], dtype=bool)
