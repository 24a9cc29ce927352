"""NEWS2 (National Early Warning Score 2) from charted vitals, with bands from the catalogue."""

from __future__ import annotations

import numpy as np


def score(table: dict[str, np.ndarray], news2: dict) -> np.ndarray:
    """NEWS2 total per row; an item not charted scores 0."""
    n = len(table["heart_rate"])
    total = np.zeros(n, dtype=np.int64)
    for col, bands in news2["bands"].items():
        x = np.asarray(table[col], dtype=float)
        points = np.zeros(n, dtype=np.int64)
        done = np.isnan(x)
        for upper, pts in bands:
            hit = ~done & ((x <= upper) if upper is not None else True)
            points[hit] = pts
            done |= hit
        total += points
    device = np.asarray(table["o2_device"], dtype=object)
    total += np.where((device != "room_air") & (device != None), news2["supplemental_oxygen"], 0)  # noqa: E711
    avpu = np.asarray(table["consciousness"], dtype=object)
    total += np.where((avpu != "A") & (avpu != None), news2["not_alert"], 0)  # noqa: E711
    return total
