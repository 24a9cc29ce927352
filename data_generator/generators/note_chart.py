"""What a note may quote: the chart as it stood at the note's second, and how notes write it.

`Chart` indexes a chunk's vitals and lab results once, so that for every note at once it answers
what was charted first, latest and worst by then and which results were available (a culture
not yet resulted reads as pending). `formatters` gives the `vitals_line` and `labs_line`
helpers templates call, writing values at their catalogue precision and units.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np

from data_generator.config import Config
from data_generator.generators.labs import Labs
from data_generator.generators.timeline import expand
from data_generator.generators.vitals import Vitals
from data_generator.note_context import VITAL_KEYS, WORST_HIGH, WORST_LOW
from data_generator.timeutil import HOUR

_KEY = 10 ** 10  # encounter * _KEY + epoch second: one sorted key for every vitals set


def _present(col: np.ndarray) -> np.ndarray:
    if col.dtype == object:
        return np.not_equal(col, None).astype(bool)
    return ~np.isnan(col)


class Chart:
    """What had been charted or resulted by a given second, precomputed once for all notes.

    Vitals are sorted by encounter then time: a forward-filled index of each column's last
    charted value answers "latest" with one lookup, and a window of the last `window_hours`
    answers "worst". Values are held at their column's precision. Lab results are grouped by
    encounter and test, sorted by the time they became available; cultures also know when
    they were collected, so one not yet resulted reads as pending.
    """

    def __init__(self, cfg: Config, vitals: Vitals, labs: Labs, n_enc: int):
        self.cfg = cfg
        self.window = int(round(cfg.notes["window_hours"] * HOUR))
        v = vitals
        self.v_start = np.searchsorted(v.enc, np.arange(n_enc + 1))
        self.v_key = v.enc * _KEY + v.table["event_time"]
        rows = np.arange(v.enc.size)
        group_start = self.v_start[v.enc] if rows.size else rows
        decimals = _decimals(cfg)
        self.values, self.last, self.extreme = {}, {}, {}
        for key in VITAL_KEYS:
            col = v.table[key]
            present = _present(col)
            self.values[key] = _at_precision(col, present, decimals.get(key))
            last = np.maximum.accumulate(np.where(present, rows, -1)) if rows.size else rows
            self.last[key] = np.where(last >= group_start, last, -1)
            if key in WORST_HIGH or key in WORST_LOW:
                sign = 1.0 if key in WORST_HIGH else -1.0
                rounded = np.round(np.where(present, col, np.nan).astype(float), decimals.get(key, 0))
                whole = decimals.get(key) == 0  # charted as ints, as _at_precision gives them
                self.extreme[key] = (sign, np.append(np.where(present, sign * rounded, -np.inf), -np.inf), whole)
        self._index_labs(cfg, labs, n_enc)

    def _index_labs(self, cfg: Config, labs: Labs, n_enc: int) -> None:
        """Results sorted by encounter, test, then result time, in segments of one encounter's
        results of one test; searchable by (segment, result time) and, for cultures, by
        (segment, collection time)."""
        tests, units = cfg.labs["tests"], cfg.notes["display_units"]
        t = labs.table
        rank = _test_rank(cfg, labs.test)
        order = np.lexsort((t["result_time"], rank, labs.enc))
        enc, rank = labs.enc[order], rank[order]
        result = np.asarray(t["result_time"], dtype=np.int64)[order]
        collected = np.asarray(t["event_time"], dtype=np.int64)[order]
        new = np.ones(order.size, dtype=bool)
        new[1:] = (enc[1:] != enc[:-1]) | (rank[1:] != rank[:-1])
        seg = np.cumsum(new) - 1                                          # segment of each row
        self.seg_start = np.flatnonzero(new)
        self.enc_segs = np.searchsorted(enc[self.seg_start], np.arange(n_enc + 1))  # an encounter's segments
        spec = list(tests.values())
        self.seg_culture = np.array([bool(s.get("categorical")) for s in spec], dtype=bool)[rank[self.seg_start]]
        self.l_result = result
        self.result_key = (seg << 32) + result
        culture = np.flatnonzero(self.seg_culture[seg])
        by_collection = culture[np.lexsort((culture, collected[culture], seg[culture]))]
        self.collect_rows = by_collection
        self.collect_key = (seg[by_collection] << 32) + collected[by_collection]

        def col(per_test: list) -> np.ndarray:
            return np.asarray(per_test, dtype=object)[rank]
        decimals = np.array([s.get("decimals", 0) for s in spec])[rank]
        raw = np.asarray(t["value"], dtype=float)[order]
        value = np.empty(order.size, dtype=object)
        for d in np.unique(decimals).tolist():  # one rounding per precision, ints at 0 decimals
            at = (decimals == d) & ~np.isnan(raw)
            rounded = np.round(raw[at], d)
            value[at] = rounded.astype(np.int64).tolist() if d == 0 else rounded.tolist()
        self.l_info = list(zip(labs.test[order].tolist(), col([s["name"] for s in spec]).tolist(),
                               col([units[s["unit"]] for s in spec]).tolist(), value.tolist(),
                               np.asarray(t["value_text"], dtype=object)[order].tolist(),
                               np.asarray(t["flag"], dtype=object)[order].tolist(),
                               collected.tolist(), result.tolist(), strict=True))

    def vitals(self, e: np.ndarray, epoch: np.ndarray) -> list[tuple[dict, dict, dict]]:
        """For each note (encounter row, epoch second): (first set, latest value of each column,
        worst of the window) as charted by then. Notes in (encounter, time) order keep the
        window reductions linear in the number of sets."""
        if not self.v_key.size:
            return [({}, {}, {})] * e.size
        start = self.v_start[e]
        key = e * _KEY + epoch
        last = np.searchsorted(self.v_key, key, side="right") - 1                      # last set by then
        window = np.maximum(np.searchsorted(self.v_key, key - self.window, side="left"), start)
        charted = last >= start
        latest = self._latest(np.where(charted, last, -1))
        worst = self._worst(window, last)
        stays = np.unique(e[charted])
        first = dict(zip(stays.tolist(), self._latest(self.v_start[stays]), strict=True))
        return [(first[i], lat, w) if ok else ({}, {}, {})
                for i, ok, lat, w in zip(e.tolist(), charted.tolist(), latest, worst, strict=True)]

    def _latest(self, rows: np.ndarray) -> list[dict]:
        """Each column's last value charted in the encounter up to each set row (-1: none yet)."""
        cols = [self.values[k][np.where(rows >= 0, self.last[k][rows], -1)].tolist() for k in VITAL_KEYS]
        return [_charted(VITAL_KEYS, row) for row in zip(*cols, strict=True)]

    def _worst(self, window: np.ndarray, last: np.ndarray) -> list[dict]:
        """Each column's most extreme value over the sets [window, last]."""
        cols = []
        for sign, col, whole in self.extreme.values():
            end = col.size - 1                                                         # the -inf sentinel
            bounds = np.minimum(np.column_stack([window, np.maximum(last + 1, window + 1)]).ravel(), end)
            m = np.maximum.reduceat(col, bounds)[::2]
            some = (window <= last) & (m != -np.inf)
            value = sign * m
            worst = np.full(m.size, None, dtype=object)
            worst[some] = value[some].astype(np.int64) if whole else value[some]
            cols.append(worst.tolist())
        return [_charted(tuple(self.extreme), row) for row in zip(*cols, strict=True)]

    def labs(self, e: np.ndarray, epoch: np.ndarray) -> list[dict]:
        """For each note (encounter row, epoch second): each test's last result available by then;
        a culture collected but not resulted is pending, and one collected last is the one read."""
        out: list[dict] = [{} for _ in range(e.size)]
        note, pos = expand(self.enc_segs[e + 1] - self.enc_segs[e])
        seg = self.enc_segs[e][note] + pos
        at = epoch[note]
        query = (seg << 32) + at
        row = np.searchsorted(self.result_key, query, side="right") - 1     # last resulted by then
        found = row >= self.seg_start[seg]
        pending = np.zeros(seg.size, dtype=bool)
        culture = np.flatnonzero(self.seg_culture[seg])
        if culture.size:
            last = np.searchsorted(self.collect_key, query[culture], side="right") - 1  # last collected by then
            first = np.searchsorted(self.collect_key, seg[culture] << 32, side="left")
            found[culture] = last >= first
            row[culture] = self.collect_rows[np.maximum(last, 0)]
            pending[culture] = found[culture] & (self.l_result[row[culture]] > at[culture])
        current = pending | (at - self.l_result[row] <= self.window)
        for i, r, late, now in zip(note[found].tolist(), row[found].tolist(), pending[found].tolist(),
                                   current[found].tolist(), strict=True):
            test, name, unit, value, text, flag, drawn, _ = self.l_info[r]
            out[i][test] = {"name": name, "unit": unit, "flag": None if late else flag,
                            "value": None if late else value, "text": None if late else text,
                            "pending": late, "drawn": drawn, "current": now}
        return out


def _decimals(cfg: Config) -> dict[str, int]:
    decimals = {k: v["decimals"] for k, v in cfg.vitals["vitals"].items()}
    decimals.update(cfg.notes["formats"]["decimals"])
    return decimals


def _at_precision(col: np.ndarray, present: np.ndarray, decimals: int | None) -> np.ndarray:
    """Charted values as Python numbers at the column's precision (ints at 0 decimals) in an
    object array, None where not charted, and one more None at the end (row -1 reads it)."""
    if col.dtype != object and decimals is not None:
        col = np.round(np.where(present, col, 0).astype(float), decimals)
        col = col.astype(np.int64) if decimals == 0 else col
    out = np.full(col.size + 1, None, dtype=object)
    out[:-1][present] = col[present]
    return out


def _charted(keys: tuple[str, ...], values: tuple) -> dict:
    return {k: x for k, x in zip(keys, values, strict=True) if x is not None}


def _test_rank(cfg: Config, tests: np.ndarray) -> np.ndarray:
    rank = {name: i for i, name in enumerate(cfg.labs["tests"])}
    return np.array([rank[t] for t in tests.tolist()], dtype=np.int64)


def formatters(cfg: Config):
    fmt = cfg.notes["formats"]
    dev = cfg.notes["o2_devices"]
    number = {k: f".{d}f" for k, d in _decimals(cfg).items()}  # format specs, values at their precision
    lab_number = {k: f".{t.get('decimals', 0)}f" for k, t in cfg.labs["tests"].items()}
    vital = {k: text.format for k, text in fmt["vitals"].items()}
    lab, lab_named, pending, drawn = (fmt[k].format for k in ("lab", "lab_text", "culture_pending", "lab_drawn"))

    def num(key, value):
        return format(value, number.get(key, ".0f"))

    @cache
    def drawn_at(epoch: int) -> str:
        return dt.datetime.fromtimestamp(epoch, cfg.tz).strftime(fmt["drawn_time"])

    def vitals_line(v: dict) -> str:
        parts = []
        if "heart_rate" in v:
            parts.append(vital["heart_rate"](v=num("heart_rate", v["heart_rate"])))
        if "sbp" in v and "dbp" in v:
            parts.append(vital["bp"](sbp=num("sbp", v["sbp"]), dbp=num("dbp", v["dbp"])))
        if "resp_rate" in v:
            parts.append(vital["resp_rate"](v=num("resp_rate", v["resp_rate"])))
        if "spo2" in v:
            s = vital["spo2"](v=num("spo2", v["spo2"]))
            if "o2_device" in v:
                s += " " + vital["o2"](device=dev[v["o2_device"]])
            parts.append(s)
        if "temp_c" in v:
            parts.append(vital["temp_c"](v=num("temp_c", v["temp_c"])))
        return ", ".join(parts) if parts else "not yet charted"

    def lab_text(test: str, r: dict) -> str:
        if r["pending"]:
            return pending(name=r["name"])
        if r["value"] is None:
            return lab_named(name=r["name"], text=r["text"])
        return lab(name=r["name"], value=format(r["value"], lab_number[test]), unit=r["unit"]).strip()

    def labs_line(labs: dict) -> str:
        out = []
        for test, r in labs.items():
            s = lab_text(test, r)
            out.append(s if r["current"] else drawn(lab=s, when=drawn_at(r["drawn"])))
        return "; ".join(out)

    return vitals_line, labs_line
