"""What a note may quote: the chart as it stood at the note's second, and how notes write it.

`Chart` indexes a chunk's vitals and lab results once, so that for every note at once it answers
what was charted first, latest and worst by then and which results were available (a culture
not yet resulted reads as pending). `formatters` gives the `vitals_line` and `labs_line`
helpers templates call, writing values at their catalogue precision and units.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Callable
from itertools import islice, repeat

import numpy as np

from data_generator.config import Config
from data_generator.generators.labs import Labs
from data_generator.generators.note_text import groups, objects, records
from data_generator.generators.timeline import expand
from data_generator.generators.vitals import Vitals
from data_generator.note_context import VITAL_KEYS, WORST_HIGH, WORST_LOW, helper
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

    def __init__(self, cfg: Config, vitals: Vitals, labs: Labs, n_enc: int, prose: Prose):
        self.cfg, self.prose = cfg, prose
        self.window = int(round(cfg.notes["window_hours"] * HOUR))
        v = vitals
        self.v_start = np.searchsorted(v.enc, np.arange(n_enc + 1))
        self.v_key = v.enc * _KEY + v.table["event_time"]
        self._table, self._decimals, self._rows = v.table, _decimals(cfg), np.arange(v.enc.size)
        self._group_start = self.v_start[v.enc] if v.enc.size else self._rows
        self._columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # by column, as `column` gives them
        self._extremes: dict[str, tuple[float, np.ndarray, bool]] = {}
        self._index_labs(cfg, labs, n_enc)

    def column(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """A vitals column's values at its precision, and the last row of the encounter charting
        it at or before each row (-1: none yet)."""
        if key not in self._columns:
            col, rows = self._table[key], self._rows
            present = _present(col)
            last = np.maximum.accumulate(np.where(present, rows, -1)) if rows.size else rows
            self._columns[key] = (_at_precision(col, present, self._decimals.get(key)),
                                  np.where(last >= self._group_start, last, -1))
        return self._columns[key]

    def _extreme(self, key: str) -> tuple[float, np.ndarray, bool]:
        """A worst column (WORST_HIGH or WORST_LOW) for a maximum over rows: its sign, the signed
        values at the column's precision (-inf where not charted, and after the last row), and
        whether it is charted as ints."""
        if key not in self._extremes:
            col, decimals = self._table[key], self._decimals.get(key)
            present = _present(col)
            sign = 1.0 if key in WORST_HIGH else -1.0
            rounded = np.round(np.where(present, col, np.nan).astype(float), decimals or 0)
            self._extremes[key] = (sign, np.append(np.where(present, sign * rounded, -np.inf), -np.inf),
                                   decimals == 0)  # charted as ints, as _at_precision gives them
        return self._extremes[key]

    def _index_labs(self, cfg: Config, labs: Labs, n_enc: int) -> None:
        """Results sorted by encounter, test, then result time, in segments of one encounter's
        results of one test; searchable by (segment, result time) and, for cultures, by
        (segment, collection time)."""
        tests, units = cfg.labs["tests"], cfg.notes["display_units"]
        t = labs.table
        rank = labs.code.astype(np.int64)  # the test's place in the catalogue
        result = np.asarray(t["result_time"], dtype=np.int64)
        segment = labs.enc.astype(np.int64) * len(tests) + rank
        since = result - (result.min() if result.size else 0)                  # a chunk's results span < 2**32 s
        order = np.argsort((segment << 32) + since, kind="stable")
        enc, rank, result = labs.enc[order], rank[order], result[order]
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

        self.l_rank, self.l_row, self.l_drawn = rank, order, collected  # each result's test, table row, draw time
        self.l_raw = np.asarray(t["value"], dtype=float)
        self.l_text, self.l_flag = np.asarray(t["value_text"], dtype=object), np.asarray(t["flag"], dtype=object)
        self.t_test = np.array(list(tests), dtype=object)                     # by test: its name and how it is written
        self.t_name = np.array([s["name"] for s in spec], dtype=object)
        self.t_unit = np.array([units[s["unit"]] for s in spec], dtype=object)
        self.t_decimals = np.array([s.get("decimals", 0) for s in spec], dtype=np.int64)
        self.l_said = np.full(order.size, None, dtype=object)  # each result as a note writes it when current
        self.l_written = np.zeros(order.size, dtype=bool)       # (those written so far)
        self.pending_said = np.array([self.prose.pending(s["name"]) for s in spec], dtype=object)

    def _said(self, rows: np.ndarray) -> np.ndarray:
        """Results `rows` as a note writes them when current (written once per chunk)."""
        wanted = np.zeros(self.l_said.size, dtype=bool)
        wanted[rows] = True
        new = np.flatnonzero(wanted & ~self.l_written)
        self.l_written[new] = True
        rank = self.l_rank[new]
        for r in np.unique(rank).tolist():  # one test at a time: its name, unit and precision are fixed
            at = new[rank == r]
            raw = self.l_raw[self.l_row[at]]
            number = ~np.isnan(raw)
            if number.any():  # each distinct value written once
                values, which = _distinct(np.round(raw[number], self.t_decimals[r]))
                written = self.prose.results(self.t_test[r], self.t_name[r], self.t_unit[r],
                                             values.astype(np.int64).tolist() if self.t_decimals[r] == 0
                                             else values.tolist(), [None] * values.size)
                self.l_said[at[number]] = objects(written)[which]
            if not number.all():
                other = at[~number]
                self.l_said[other] = self.prose.results(self.t_test[r], self.t_name[r], self.t_unit[r],
                                                        [None] * other.size, self.l_text[self.l_row[other]].tolist())
        return self.l_said

    def _values(self, rows: np.ndarray) -> np.ndarray:
        """Results `rows`' values as Python numbers at their test's precision (ints at 0 decimals),
        None where there is none (a categorical result)."""
        raw, decimals = self.l_raw[self.l_row[rows]], self.t_decimals[self.l_rank[rows]]
        value = np.full(rows.size, None, dtype=object)
        for d in np.unique(decimals).tolist():  # one rounding per precision
            at = (decimals == d) & ~np.isnan(raw)
            rounded = np.round(raw[at], d)
            value[at] = rounded.astype(np.int64).tolist() if d == 0 else rounded.tolist()
        return value

    def vitals(self, e: np.ndarray, epoch: np.ndarray, worst: np.ndarray, read: frozenset[str],
               worst_read: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each note (encounter row, epoch second): the first set, the latest value of each
        column and the worst of the window, as charted by then (empty where nothing was); worst
        only where `worst` (the notes whose text may read it), of the columns of `worst_read`.
        First and latest hold the columns of `read` (those any note's text may read), and each
        has its vitals line. Notes reading the same set share its dict. Notes in (encounter, time)
        order keep the window reductions linear in the number of sets."""
        empty: dict = {}
        if not self.v_key.size:
            return tuple(np.full(e.size, empty, dtype=object) for _ in range(3))
        start = self.v_start[e]
        key = e * _KEY + epoch
        last = np.searchsorted(self.v_key, key, side="right") - 1                      # last set by then
        window = np.maximum(np.searchsorted(self.v_key, key - self.window, side="left"), start)
        charted = last >= start
        sets, at = np.unique(np.concatenate([start[charted], last[charted]]), return_inverse=True)
        said = np.empty(sets.size + 1, dtype=object)                                   # the last: nothing charted
        said[:-1] = self._latest(sets, read)
        said[-1] = empty
        first, latest = np.full(e.size, sets.size), np.full(e.size, sets.size)
        first[charted], latest[charted] = np.split(at, 2)
        reading = np.flatnonzero(charted & worst)
        worst_of = np.full(e.size, empty, dtype=object)
        worst_of[reading] = self._worst(window[reading], last[reading], worst_read)
        return said[first], said[latest], worst_of

    def _latest(self, rows: np.ndarray, read: frozenset[str]) -> np.ndarray:
        """Each column's last value charted in the encounter up to each set (`rows`: rows of the
        vitals), in a dict of the columns of `read` charted by then, with its vitals line. Sets
        charting the same columns are written together."""
        told = tuple(k for k in VITAL_KEYS if k in read or k in _LINE)  # what a dict or a line may hold
        at = {k: self.column(k)[1][rows] for k in told}
        charted = np.zeros(rows.size, dtype=np.int64)
        for bit, k in enumerate(told):
            charted |= (at[k] >= 0).astype(np.int64) << bit
        patterns, which = np.unique(charted, return_inverse=True)
        out, lines = np.empty(rows.size, dtype=object), np.empty(rows.size, dtype=object)
        words = {}  # each set's values of the line's columns, written
        for k in _LINE:
            some = at[k] >= 0
            words[k] = np.empty(rows.size, dtype=object)
            words[k][some] = self.prose.written(k, self.column(k)[0][at[k][some]])
        for p, sets in zip(patterns.tolist(), groups(which, patterns.size), strict=True):
            charts = {k for bit, k in enumerate(told) if p >> bit & 1}
            kept = tuple(k for k in told if k in charts and k in read)
            cols = [self.column(k)[0][at[k][sets]].tolist() for k in kept]
            out[sets] = objects(records(kept, cols, sets.size))
            lines[sets] = self.prose.charted_lines({k: words[k][sets].tolist() for k in _LINE if k in charts},
                                                   sets.size)
        self.prose.remember(out.tolist(), lines.tolist())
        return out

    def _worst(self, window: np.ndarray, last: np.ndarray, read: frozenset[str]) -> list[dict]:
        """Each column's (of those in `read`) most extreme value over the sets [window, last]."""
        cols, keys = [], tuple(k for k in VITAL_KEYS if k in read and (k in WORST_HIGH or k in WORST_LOW))
        for sign, col, whole in map(self._extreme, keys):
            end = col.size - 1                                                         # the -inf sentinel
            bounds = np.minimum(np.column_stack([window, np.maximum(last + 1, window + 1)]).ravel(), end)
            m = np.maximum.reduceat(col, bounds)[::2]
            some = (window <= last) & (m != -np.inf)
            value = sign * m
            worst = np.full(m.size, None, dtype=object)
            worst[some] = value[some].astype(np.int64) if whole else value[some]
            cols.append(worst.tolist())
        out: list[dict] = [{} for _ in range(last.size)]
        for key, col in zip(keys, cols, strict=True):  # each column's value where there is one
            for d, value in zip(out, col, strict=True):
                if value is not None:
                    d[key] = value
        return out

    def labs(self, e: np.ndarray, epoch: np.ndarray, entries: np.ndarray) -> list[dict]:
        """For each note (encounter row, epoch second): each test's last result available by then,
        with its labs line; a culture collected but not resulted is pending, and one collected last
        is the one read. A result is an entry (note_context.LAB_RESULT) where the note's texts may
        read it (`entries`), else as the labs line writes it."""
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
        note, row, late, now = note[found], row[found], pending[found], current[found]
        said = self._said(row[~late])[row]
        said[late] = self.pending_said[self.l_rank[row[late]]]
        old, which = np.unique(row[~now], return_inverse=True)  # results older than the window, each written once
        said[~now] = objects(self.prose.drawn_at(self.l_said[old].tolist(), self.l_drawn[old].tolist()))[which]
        result = said.copy()
        read = np.flatnonzero(entries[note])
        if read.size:
            result[read] = objects(self._entries(row[read], late[read], now[read]))
        counts = np.bincount(note, minlength=e.size).tolist()                 # each note's results, by test
        pairs = zip(self.t_test[self.l_rank[row]].tolist(), result.tolist(), strict=True)
        out = [dict(islice(pairs, n)) for n in counts]
        written = iter(said.tolist())
        self.prose.remember(out, ["; ".join(islice(written, n)) for n in counts])
        return out

    def _entries(self, row: np.ndarray, late: np.ndarray, now: np.ndarray) -> list[dict]:
        """Results `row` as entries a template reads (note_context.LAB_RESULT): pending ones
        without flag, value or text."""
        rank, source = self.l_rank[row], self.l_row[row]
        name, unit, drawn = self.t_name[rank].tolist(), self.t_unit[rank].tolist(), self.l_drawn[row].tolist()
        flag, value, text = (np.where(late, None, column).tolist()
                             for column in (self.l_flag[source], self._values(row), self.l_text[source]))
        return [{"name": n, "unit": u, "flag": f, "value": v, "text": t, "pending": p, "drawn": d, "current": r}
                for n, u, f, v, t, p, d, r in zip(name, unit, flag, value, text, late.tolist(), drawn, now.tolist(),
                                                  strict=True)]


def _decimals(cfg: Config) -> dict[str, int]:
    decimals = {k: v["decimals"] for k, v in cfg.vitals["vitals"].items()}
    decimals.update(cfg.notes["formats"]["decimals"])
    return decimals


def _at_precision(col: np.ndarray, present: np.ndarray, decimals: int | None) -> np.ndarray:
    """Charted values at the column's precision: a numeric column rounded (ints at 0 decimals),
    others as they are. Only rows where the column was charted are read."""
    if col.dtype != object and decimals is not None:
        col = np.round(np.where(present, col, 0).astype(float), decimals)
        return col.astype(np.int64) if decimals == 0 else col
    return col


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct numbers of `values` and each value's place among them; floats compared by
    their bits, so that -0.0 stays apart from 0.0 and each is written as it is."""
    if values.dtype.kind != "f":
        return np.unique(values, return_inverse=True)
    bits, which = np.unique(np.ascontiguousarray(values, dtype=np.float64).view(np.int64), return_inverse=True)
    return bits.view(np.float64), which


def filler(text: str, fields: tuple[str, ...], specs: dict[str, str] | None = None) -> Callable[..., str]:
    """`text.format(**dict(zip(fields, values)))` as a function of the values in that order; where
    every replacement field is a plain name, a %-template (some times faster, same text), kept
    as the function's `pattern` when the fields come in order. `specs` puts a %-conversion in
    the pattern for a field (e.g. "%.1f" where the value is to be formatted with ".1f")."""
    template, order = [], []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        template.append(literal.replace("%", "%%"))
        if name is None:
            continue
        if spec or conversion or name not in fields:
            return lambda *values: text.format(**dict(zip(fields, values, strict=True)))
        template.append((specs or {}).get(name, "%s"))
        order.append(fields.index(name))
    pattern = "".join(template)
    if order == list(range(len(fields))):
        def fill(*values):
            return pattern % values
        fill.pattern = pattern
        return fill
    return lambda *values: pattern % tuple([values[i] for i in order])


_LINE = ("heart_rate", "sbp", "dbp", "resp_rate", "spo2", "o2_device", "temp_c")  # what a vitals line quotes


class Prose:
    """How notes write charted values: the `vitals_line` and `labs_line` helpers templates call,
    values at their catalogue precision and units. The chart writes the lines of many notes at
    once, column by column, and remembers each by the dict it belongs to, so a template's call
    returns it; a dict the chart did not write is written when asked."""

    def __init__(self, cfg: Config):
        fmt = cfg.notes["formats"]
        self.tz, self.drawn_time = cfg.tz, fmt["drawn_time"]
        self.number = {k: f".{d}f" for k, d in _decimals(cfg).items()}  # format specs, values at their precision
        self.lab_number = {k: f".{t.get('decimals', 0)}f" for k, t in cfg.labs["tests"].items()}
        self.vital = {k: filler(text, ("sbp", "dbp") if k == "bp" else ("v",)) for k, text in fmt["vitals"].items()}
        self._full = self._full_line(fmt["vitals"])
        self.on_device = {k: " " + fmt["vitals"]["o2"].format(device=name)
                          for k, name in cfg.notes["o2_devices"].items()}
        self.lab, self.lab_named = filler(fmt["lab"], ("name", "value", "unit")), filler(fmt["lab_text"],
                                                                                         ("name", "text"))
        self.pending, self.drawn = filler(fmt["culture_pending"], ("name",)), filler(fmt["lab_drawn"],
                                                                                     ("lab", "when"))
        self._lines: dict[int, tuple[dict, str]] = {}  # id(dict) -> (the dict, its line)
        self._drawn: dict[int, str] = {}

    def _full_line(self, vitals: dict[str, str]) -> str | None:
        """One %-pattern for a line quoting every value written (the parts joined as `_written_line`
        joins them); None where a part is not a plain template."""
        parts = [self.vital[k] for k in ("heart_rate", "bp", "resp_rate", "spo2", "temp_c")]
        if not all(hasattr(p, "pattern") for p in parts):
            return None
        hr, bp, rr, spo2, temp = (p.pattern for p in parts)
        return f"{hr}, {bp}, {rr}, {spo2}%s, {temp}"  # %s: on the oxygen device, or nothing

    def remember(self, charted: list[dict], lines: list[str]) -> None:
        """The line each dict of `charted` reads as (kept while this object lives)."""
        self._lines.update(zip(map(id, charted), zip(charted, lines, strict=True), strict=True))

    @helper
    def vitals_line(self, v: dict) -> str:
        known = self._lines.get(id(v))
        if known is not None and known[0] is v:
            return known[1]
        return self.vitals_lines({k: [v.get(k)] for k in VITAL_KEYS})[0]

    def vitals_lines(self, cols: dict[str, list]) -> list[str]:
        """The vitals line of each row of `cols` (a list per vital, None where not charted)."""
        return [self.charted_lines({k: [self._word(k, v)] for k, v in zip(_LINE, row, strict=True)
                                    if v is not None}, 1)[0]
                for row in zip(*(cols[k] for k in _LINE), strict=True)]

    def _word(self, key: str, value) -> str:
        """A charted value as a vitals line writes it: a number at its column's precision, the
        oxygen device as the words appended to SpO2."""
        if key == "o2_device":
            return self.on_device[value]
        return format(value, self.number.get(key, ".0f"))

    def written(self, key: str, values: np.ndarray) -> np.ndarray:
        """Charted values of one column as a vitals line writes them (`_word`), each distinct
        number, and each device, written once."""
        if key == "o2_device":
            devices = values.tolist()
            words = {device: self._word(key, device) for device in set(devices)}
            return objects(list(map(words.__getitem__, devices)))
        if values.dtype.kind not in "iuf":
            return objects([self._word(key, v) for v in values.tolist()])
        distinct, which = _distinct(values)
        return objects([self._word(key, v) for v in distinct.tolist()])[which]

    def charted_lines(self, cols: dict[str, list], n: int) -> list[str]:
        """The vitals lines of `n` sets that chart the same columns (`cols`: the values of each
        column they chart, as `written`): sets quoting every value fill one pattern; others are
        written part by part."""
        if self._full is not None and all(k in cols for k in _LINE if k != "o2_device"):
            device = cols["o2_device"] if "o2_device" in cols else repeat("", n)
            return list(map(self._full.__mod__, zip(cols["heart_rate"], cols["sbp"], cols["dbp"], cols["resp_rate"],
                                                    cols["spo2"], device, cols["temp_c"], strict=True)))
        return list(map(self._written_line, *(cols[k] if k in cols else repeat(None, n) for k in _LINE)))

    def _written_line(self, hr, sbp, dbp, rr, spo2, o2, temp) -> str:
        """The vitals line of one set's values as `_word` writes them (None where not charted)."""
        vital = self.vital
        parts = [vital["heart_rate"](hr) if hr is not None else None,
                 vital["bp"](sbp, dbp) if sbp is not None and dbp is not None else None,
                 vital["resp_rate"](rr) if rr is not None else None,
                 vital["spo2"](spo2) + ("" if o2 is None else o2) if spo2 is not None else None,
                 vital["temp_c"](temp) if temp is not None else None]
        return ", ".join([p for p in parts if p is not None]) or "not yet charted"

    def results(self, test: str, name: str, unit: str, values: list, texts: list[str | None]) -> list[str]:
        """Results of one test as written when current: value and unit, or a categorical result's
        text."""
        spec, named = self.lab_number[test], self.lab_named
        if hasattr(self.lab, "pattern") and re.fullmatch(r"\.\d+f", spec):  # one pattern for the test's values
            text = (self.lab.pattern % (name.replace("%", "%%"), "%" + spec, unit.replace("%", "%%"))).strip()
            if None not in values:  # (a number written so has no space at either end to strip)
                return list(map(text.__mod__, values))
            return [named(name, t) if v is None else text % v for v, t in zip(values, texts, strict=True)]
        return [named(name, t) if v is None else self.lab(name, format(v, spec), unit).strip()
                for v, t in zip(values, texts, strict=True)]

    def drawn_at(self, said: list[str], epochs: list[int]) -> list[str]:
        """Results older than the window, with the local time they were drawn."""
        drawn = self._drawn
        for epoch in set(epochs).difference(drawn):
            drawn[epoch] = dt.datetime.fromtimestamp(epoch, self.tz).strftime(self.drawn_time)
        return list(map(self.drawn, said, map(drawn.__getitem__, epochs)))

    def lab_text(self, test: str, r: dict) -> str:
        """One result entry as written: pending, or as resulted (with its draw time when older
        than the window)."""
        if r["pending"]:
            return self.pending(r["name"])
        s = self.results(test, r["name"], r["unit"], [r["value"]], [r["text"]])
        return s[0] if r["current"] else self.drawn_at(s, [r["drawn"]])[0]

    @helper
    def labs_line(self, labs: dict) -> str:
        known = self._lines.get(id(labs))
        if known is not None and known[0] is labs:
            return known[1]
        return "; ".join([r if isinstance(r, str) else self.lab_text(t, r) for t, r in labs.items()])  # str: as written
