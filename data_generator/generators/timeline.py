"""Shared helpers for per-encounter event series held as flat arrays."""

from __future__ import annotations

import datetime as dt

import numpy as np

ID_FORMATS = {  # table -> (ID column, prefix, least digits); the contracts' patterns match these
    "encounters": ("encounter_id", "ENC", 5),
    "vitals": ("vital_id", "VIT", 7),
    "labs": ("lab_id", "LAB", 7),
    "notes": ("note_id", "NOTE", 6),
    "interventions": ("intervention_id", "INT", 7),
}


def table_ids(table: str, date: dt.date, first: int, n: int) -> np.ndarray:
    """The IDs of `n` rows of `table` numbered from `first`, in its format (ID_FORMATS)."""
    _, prefix, width = ID_FORMATS[table]
    return row_ids(prefix, date, first, n, width)


def row_ids(prefix: str, date: dt.date, first: int, n: int, width: int) -> np.ndarray:
    """IDs unique across days: PREFIX-YYYYMMDD-000001 numbered from `first`."""
    if n == 0:
        return np.zeros(0, dtype=f"<U{len(prefix) + 10 + width}")
    return np.strings.add(f"{prefix}-{date:%Y%m%d}-", np.strings.zfill(np.arange(first, first + n).astype(str), width))


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts [2, 3] return owner [0, 0, 1, 1, 1] and position [0, 1, 0, 1, 2]."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - starts[owner]


def ar1_noise(owner: np.ndarray, hours: np.ndarray, tau: np.ndarray, sd: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """Autocorrelated noise, one column per series: e_i = phi * e_(i-1) + innovation, where
    phi = exp(-dt / tau) for the gap since the previous event of the same owner.
    Events must be sorted by owner, then time."""
    n, m = owner.size, len(tau)
    z = rng.standard_normal((n, m)) * sd
    if n == 0:
        return z
    new_owner = np.ones(n, bool)
    new_owner[1:] = owner[1:] != owner[:-1]
    gap = np.zeros(n)
    gap[1:] = hours[1:] - hours[:-1]
    phi = np.where(new_owner[:, None], 0.0, np.exp(-gap[:, None] / tau))
    innovation = np.sqrt(1 - phi ** 2) * z
    rank = np.arange(n) - np.maximum.accumulate(np.where(new_owner, np.arange(n), 0))
    order = np.argsort(rank, kind="stable")
    splits = np.searchsorted(rank[order], np.arange(1, rank.max() + 1))
    out = z.copy()
    for idx in np.split(order, splits)[1:]:  # one step of every series at a time
        out[idx] = phi[idx] * out[idx - 1] + innovation[idx]
    return out


def condition_mask(cond: dict, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate {any|all: [{vital|lab: name, op, value}, ...]} against named columns."""
    ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal,
           "==": np.equal}
    kind = "any" if "any" in cond else "all"
    masks = []
    for term in cond[kind]:
        name = term.get("vital") or term.get("lab")
        values = np.asarray(columns[name], dtype=float)
        masks.append(ops[term["op"]](np.nan_to_num(values, nan=np.nan), term["value"]))
    stacked = np.stack(masks) if masks else np.zeros((1, 0), bool)
    return stacked.any(axis=0) if kind == "any" else stacked.all(axis=0)


def firings(owner: np.ndarray, hours: np.ndarray, hit: np.ndarray, most: int,
            min_gap_hours: float) -> tuple[np.ndarray, np.ndarray]:
    """Events where a condition fires: the first hit per owner, then later hits at least
    `min_gap_hours` apart, at most `most` per owner. Events sorted by owner, then time."""
    fired_owner, fired_hours = [], []
    count: dict[int, int] = {}
    last: dict[int, float] = {}
    for i in np.flatnonzero(hit).tolist():
        e, h = int(owner[i]), float(hours[i])
        if count.get(e, 0) >= most or h - last.get(e, -np.inf) < min_gap_hours:
            continue
        count[e], last[e] = count.get(e, 0) + 1, h
        fired_owner.append(e)
        fired_hours.append(h)
    return np.asarray(fired_owner, dtype=np.int64), np.asarray(fired_hours, dtype=float)
