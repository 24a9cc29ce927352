"""Shared helpers for per-encounter event series held as flat arrays."""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np

ID_FORMATS = {  # table -> (ID column, prefix, least digits); the contracts' patterns match these
    "encounters": ("encounter_id", "ENC", 5),
    "vitals": ("vital_id", "VIT", 7),
    "labs": ("lab_id", "LAB", 7),
    "notes": ("note_id", "NOTE", 6),
    "interventions": ("intervention_id", "INT", 7),
}


def table_ids(table: str, date: dt.date, first: int | None, n: int) -> np.ndarray:
    """The IDs of `n` rows of `table` numbered from `first`, in its format (ID_FORMATS); with
    `first` None, `n` Nones: rows numbered later (a day's chunks get their IDs in chunk order,
    once the rows of every earlier chunk are counted)."""
    if first is None:
        return np.full(n, None, dtype=object)
    _, prefix, width = ID_FORMATS[table]
    return row_ids(prefix, date, first, n, width)


def row_ids(prefix: str, date: dt.date, first: int, n: int, width: int) -> np.ndarray:
    """IDs unique across days: PREFIX-YYYYMMDD-000001 numbered from `first`."""
    head = f"{prefix}-{date:%Y%m%d}-"
    if n == 0:
        return np.zeros(0, dtype=f"<U{len(head) + width}")
    numbers = np.arange(first, first + n, dtype=np.int64)
    longest = max(width, len(str(first + n - 1)))
    chars = np.zeros((n, len(head) + longest), dtype=np.uint32)  # code points; a shorter ID ends in zeros
    chars[:, :len(head)] = np.frombuffer(head.encode("utf-32-le"), dtype=np.uint32)
    for size in range(width, longest + 1):  # numbers grow, so each length is one run of rows
        low = 10 ** (size - 1) if size > width else first  # the first number this long
        run = slice(min(max(low - first, 0), n), min(max(10 ** size - first, 0), n))
        if run.start < run.stop:
            write_digits(chars[run, len(head):len(head) + size], numbers[run])
    return chars.view(f"<U{len(head) + longest}").reshape(n)


_BLOCKS = (ord("0") + np.arange(10_000)[:, None] // 10 ** np.arange(3, -1, -1) % 10).astype(np.uint32)


def write_digits(out: np.ndarray, numbers: np.ndarray) -> None:
    """The decimal digits of `numbers` as code points, zero-padded to the width of `out`."""
    width = out.shape[1]
    for end in range(width, 0, -4):  # four digits at a time, from the right
        start = max(end - 4, 0)
        block = np.take(_BLOCKS, numbers // 10 ** (width - end) % 10_000, axis=0)
        out[:, start:end] = block[:, 4 - (end - start):]


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts [2, 3] return owner [0, 0, 1, 1, 1] and position [0, 1, 0, 1, 2]."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - starts[owner]


def lex_order(*keys: np.ndarray) -> np.ndarray:
    """The order `np.lexsort(keys)` gives integer keys (the last one sorts first): one stable
    sort of a combined key where the keys' ranges multiply to less than 2**62."""
    if not keys or keys[0].size == 0:
        return np.lexsort(keys)
    combined, room = np.zeros(keys[0].size, dtype=np.int64), 1
    for key in reversed(keys):
        low, high = int(key.min()), int(key.max())
        room *= high - low + 1
        if room >= 2 ** 62:
            return np.lexsort(keys)
        combined *= high - low + 1
        combined += key - low
    order = np.argsort(combined)  # any sort gives the one order of distinct keys; ties need a stable one
    ranked = combined[order]
    return order if (ranked[1:] > ranked[:-1]).all() else np.argsort(combined, kind="stable")


def ar1_noise(owner: np.ndarray, hours: np.ndarray, tau: np.ndarray, sd: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """Autocorrelated noise, one column per series: e_i = phi * e_(i-1) + innovation, where
    phi = exp(-dt / tau) for the gap since the previous event of the same owner.
    Events must be sorted by owner, then time."""
    n, m = owner.size, len(tau)
    z = rng.standard_normal((n, m))
    if np.any(sd != 1):
        z *= sd
    if n == 0:
        return z
    new_owner = np.ones(n, bool)
    new_owner[1:] = owner[1:] != owner[:-1]
    # Step k of every series at once: events laid out by step, and within a step by series,
    # longest series first, so that the series still running at step k are the first ones of
    # step k - 1 and each step reads and writes contiguous slices. Step 0 is each series' first
    # event (its draw as it is); later ones follow an earlier event of their own series.
    start = np.flatnonzero(new_owner)
    length = np.diff(np.append(start, n))
    series = np.argsort(-length, kind="stable")
    running = np.searchsorted(-length[series], -np.arange(1, length.max() + 1), side="right")
    offset = np.concatenate([[0], np.cumsum(running)])
    step_of, which = expand(running)
    layout = start[series[which]] + step_of  # event at each place of the layout
    later = layout[running[0]:]
    gap = hours[later] - hours[later - 1]
    # phi and the innovation's scale an hour after the previous event (most events of an hourly
    # series), then those of the other gaps
    hourly = np.exp(-np.ones((1, 1)) / tau)
    phi = np.repeat(hourly, gap.size, axis=0)
    other = np.flatnonzero(gap != 1.0)
    phi[other] = np.exp(-gap[other, None] / tau)
    out = np.take(z, layout, axis=0)
    innovation = out[running[0]:]
    drawn = innovation[other]
    innovation *= np.sqrt(1 - hourly ** 2)
    innovation[other] = drawn * np.sqrt(1 - phi[other] ** 2)
    for k in range(1, running.size):
        here, before = slice(offset[k], offset[k + 1]), slice(offset[k - 1], offset[k - 1] + running[k])
        out[here] += phi[here.start - running[0]:here.stop - running[0]] * out[before]
    place = np.empty_like(layout)
    place[layout] = np.arange(n)
    return np.take(out, place, axis=0, out=z)  # the draws are all in `out`: their memory holds the result


def condition_mask(cond: dict, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate {any|all: [{vital|lab: name, op, value}, ...]} against named columns."""
    ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal,
           "==": np.equal}
    kind = "any" if "any" in cond else "all"
    largest = np.finfo(float).max
    masks = []
    for term in cond[kind]:
        name = term.get("vital") or term.get("lab")
        values = np.asarray(columns[name], dtype=float)
        if not -largest < term["value"] < largest:  # infinities compare as the largest finite numbers
            values = np.nan_to_num(values, nan=np.nan)
        masks.append(ops[term["op"]](values, term["value"]))
    if not masks:
        return np.zeros(0, bool)
    return functools.reduce(np.logical_or if kind == "any" else np.logical_and, masks)


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
