"""Claim conditions: when a note phrase may be said, judged on the chart as it stood.

A phrase that claims something ("anion gap closed", "on NIV", "troponin rising") carries a
condition in its scenario YAML. A condition is a small tree: `all`, `any`, `at_least` n `of`
and `not` around terms that each read one thing the written files show (a vital, a lab
result, the oxygen device, a treatment, hours since admission, the diagnosis code, the
outcome, the disposition, the care unit). `compile_claim` turns the tree into a function of
(chart, encounters, times) that answers for many notes at once with numpy; the note engine and
the test that reads the files back both call it on a `ChartView` built from plain columns, so
the generator and its checker cannot disagree about what a condition means.

Times are epoch seconds. At time `t` the chart holds vitals charted at or before `t`, lab
results available at or before `t`, and treatments started at or before `t`.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_generator.timeutil import HOUR

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
O2_DEVICE = "o2_device"
CARE_UNIT = "care_unit"
TRANSFER = "transfer"  # the treatment kind of a move between units (claims name it beside the catalogue's)


def sort_key(group: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(group, time) as one sorted int64 key, and the order that sorts the rows (None: sorted)."""
    key = (group.astype(np.int64) << 32) + time.astype(np.int64)
    if key.size and np.any(key[1:] < key[:-1]):
        order = np.argsort(key, kind="stable")
        return key[order], order
    return key, None


class Series:
    """Values in groups (an encounter's vitals column; an encounter's results of one test),
    rows sorted by group then time, searchable by (group, time)."""

    def __init__(self, group: np.ndarray, time: np.ndarray, values: np.ndarray,
                 index: tuple[np.ndarray, np.ndarray | None] | None = None, windows: dict | None = None):
        """`index`: the sort key of (group, time) and its order, when known; `windows`: the answers
        of `rows`, shared by the series on the same index."""
        self._windows = windows
        key, order = index or sort_key(group, time)
        self.key, self._order = key, order
        self.values = self._sorted(values)
        present = ~np.isnan(self.values)
        self.count = np.zeros(present.size + 1, dtype=np.int64)
        np.cumsum(present, out=self.count[1:])                                   # present rows before each row
        self._present = present
        self._last: np.ndarray | None = None
        self._next: np.ndarray | None = None

    def _sorted(self, values: np.ndarray) -> np.ndarray:
        """`values` in the series' order, a nan sentinel row after them."""
        if self._order is not None:
            values = values[self._order]
        out = np.empty(values.size + 1)
        out[:-1] = values
        out[-1] = np.nan                                                         # a sentinel row ends the array
        return out

    def alike(self, values: np.ndarray) -> Series:
        """A series of the same rows with other `values`, present (not nan) on the same rows: it
        shares this one's index and counts."""
        twin = copy.copy(self)
        twin.values = self._sorted(values)
        return twin

    @property
    def last(self) -> np.ndarray:
        """The last present row at or before each row (-1 if none)."""
        if self._last is None:
            present = np.concatenate([[-1], np.flatnonzero(self._present)])       # -1: none before
            self._last = present[self.count[1:]]
        return self._last

    @property
    def next(self) -> np.ndarray:
        """The first present row at or after each row (the sentinel row if none)."""
        if self._next is None:
            present = np.append(np.flatnonzero(self._present), self.values.size)  # the size: none after
            self._next = present[self.count[:-1]]
        return self._next

    def rows(self, group: np.ndarray, t: np.ndarray, span: float) -> tuple[np.ndarray, np.ndarray]:
        """[a, k): the rows of `group` charted in (t - span, t]."""
        if self._windows is not None:
            known = self._windows.get((id(group), id(t), span))
            if known is not None and known[0] is group and known[1] is t:
                return known[2]
        base = group.astype(np.int64) << 32
        k = np.searchsorted(self.key, base + t, side="right")
        lo = np.searchsorted(self.key, base, side="left")
        if np.isinf(span):
            found = lo, k
        else:
            found = np.maximum(np.searchsorted(self.key, base + (t - int(span)), side="right"), lo), k
        if self._windows is not None:
            self._windows[id(group), id(t), span] = (group, t, found)
        return found

    def stat(self, stat: str, a: np.ndarray, k: np.ndarray) -> np.ndarray:
        """latest, first, min, max, change (latest - first), from_max (latest - max), from_min
        (latest - min), spread (max - min) or count of the present values in [a, k); nan where
        there are none (change, from_max, from_min and spread: where there are fewer than two)."""
        n = self.count[k] - self.count[a]
        if stat == "count":
            return n.astype(float)
        last = self.last[np.maximum(k - 1, 0)]
        latest = np.where(n > 0, self.values[last], np.nan)
        if stat == "latest":
            return latest
        first = np.where(n > 0, self.values[np.minimum(self.next[a], self.values.size - 1)], np.nan)
        if stat == "first":
            return first
        if stat == "change":
            return np.where(n > 1, latest - first, np.nan)
        if stat == "spread":
            return np.where(n > 1, self._reduce(np.fmax, a, k, n) - self._reduce(np.fmin, a, k, n), np.nan)
        extreme = self._reduce(np.fmax if stat in ("max", "from_max") else np.fmin, a, k, n)
        if stat in ("max", "min"):
            return extreme
        return np.where(n > 1, latest - extreme, np.nan)

    def _reduce(self, ufunc, a: np.ndarray, k: np.ndarray, n: np.ndarray) -> np.ndarray:
        if a.size == 0:
            return np.zeros(0)
        idx = np.column_stack([a, np.maximum(k, a + 1)]).ravel()
        out = ufunc.reduceat(self.values, np.minimum(idx, self.values.size - 1))[::2]
        return np.where(n > 0, out, np.nan)


class ChartView:
    """The chart of a set of encounters, indexed for "what was known at time t" questions."""

    def __init__(self, encounters: dict[str, np.ndarray], vitals: dict[str, np.ndarray], labs: dict[str, np.ndarray],
                 interventions: dict[str, np.ndarray] | None = None):
        self.admit = np.asarray(encounters["admit"], dtype=np.int64)
        self.fields = {k: np.asarray(v).astype(str) for k, v in encounters.items() if k != "admit"}
        self._v_enc = np.asarray(vitals["enc"], dtype=np.int64)
        self._v_time = np.asarray(vitals["time"], dtype=np.int64)
        self._v_cols = {k: np.asarray(c) for k, c in vitals.items() if k not in ("enc", "time")}
        self._v_index = sort_key(self._v_enc, self._v_time)  # shared by every vitals series
        self._v_windows: dict = {}                            # and so are their windows' rows
        code, names = (np.asarray(labs["code"], dtype=np.int64), labs["names"]) if "code" in labs else \
            _codes(np.asarray(labs["test"]))
        enc = np.asarray(labs["enc"], dtype=np.int64)
        _, order = sort_key(code * (int(enc.max()) + 1 if enc.size else 1) + enc, np.asarray(labs["resulted"]))
        order = np.arange(enc.size) if order is None else order                 # by test, encounter, result time
        self._labs = {k: np.asarray(labs[k])[order] for k in ("enc", "value", "flag", "collected", "resulted")}
        bounds = np.searchsorted(code[order], np.arange(len(names) + 1))
        self._lab_rows = {str(t): slice(a, b) for t, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)}
        none = {"enc": np.zeros(0, np.int64), "kind": np.zeros(0, str), "start": np.zeros(0, np.int64),
                "end": np.zeros(0, np.int64)}
        self._treat = {k: np.asarray(v) for k, v in (interventions or none).items()}
        self._series: dict[tuple, Series | np.ndarray] = {}  # by what is asked: a series, or a field's test
        self._codes: dict[str, tuple[list[str], np.ndarray]] = {}

    def field_in(self, column: str, wanted: tuple[str, ...], prefix: bool) -> np.ndarray:
        """Per encounter: whether the text field `column` is one of `wanted` (with `prefix`: starts
        with one of them)."""
        if ("field", column, wanted, prefix) not in self._series:
            values = self.fields[column]
            if prefix:
                held = np.logical_or.reduce([np.strings.startswith(values, w) for w in wanted])
            else:
                held = np.isin(values, list(wanted))
            self._series["field", column, wanted, prefix] = held
        return self._series["field", column, wanted, prefix]

    def vital(self, name: str) -> Series:
        if ("vital", name) not in self._series:
            self._series["vital", name] = Series(self._v_enc, self._v_time, self._v_cols[name].astype(float),
                                                 self._v_index, self._v_windows)
        return self._series["vital", name]

    def device(self, devices: tuple[str, ...]) -> Series:
        """1 where the charted device is one of `devices`, 0 where another, nan where not charted."""
        return self.category(O2_DEVICE, devices)

    def category(self, column: str, wanted: tuple[str, ...]) -> Series:
        """1 where a text vitals column (o2_device, care_unit) is one of `wanted`, 0 where another,
        nan where not charted."""
        if (column, wanted) not in self._series:
            if column not in self._codes:
                code, names = _codes(self._v_cols[column].astype(object))  # None or nan: not charted (-1)
                self._codes[column] = (names, code)
            names, code = self._codes[column]
            lookup = np.full(len(names) + 1, np.nan)  # the last: not charted (code -1)
            lookup[:-1] = [name in wanted for name in names]
            values = lookup[code]
            charted = self._series.get((column, None))  # the column's first series: its rows charted are the same
            if charted is None:
                charted = self._series[column, None] = Series(self._v_enc, self._v_time, values, self._v_index,
                                                              self._v_windows)
            self._series[column, wanted] = charted.alike(values)
        return self._series[column, wanted]

    def lab(self, test: str, column: str = "value") -> Series:
        """Results of one test; `column` is value, flag_in:<flags> (1/0) or collected (epoch s)."""
        if ("lab", test, column) not in self._series:
            lab = self._labs
            rows = self._lab_rows.get(test, slice(0, 0))
            if column == "value":
                values = lab["value"][rows].astype(float)
            elif column == "collected":
                values = lab["collected"][rows].astype(float)
            else:
                values = np.isin(lab["flag"][rows].astype(str), column.split(":")[1].split(",")).astype(float)
            self._series["lab", test, column] = Series(lab["enc"][rows], lab["resulted"][rows], values)
        return self._series["lab", test, column]

    def treatment(self, kind: str) -> Series:
        """Each treatment of `kind` by encounter and start; values are end times (epoch s)."""
        if ("treat", kind) not in self._series:
            rows = self._treat["kind"].astype(str) == kind
            self._series["treat", kind] = Series(self._treat["enc"][rows], self._treat["start"][rows],
                                                 self._treat["end"][rows].astype(float))
        return self._series["treat", kind]


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each text's number in order of first appearance (-1 where there is none: None or NaN), and
    the texts so numbered (pyarrow's dictionary encoding)."""
    encoded = pa.array(values, type=pa.string(), from_pandas=True).dictionary_encode()
    return encoded.indices.fill_null(-1).to_numpy().astype(np.int64), [str(x) for x in encoded.dictionary.to_pylist()]


def build_view(encounters: dict[str, np.ndarray], vitals: dict[str, np.ndarray], labs: dict[str, np.ndarray],
               interventions: dict[str, np.ndarray] | None = None) -> ChartView:
    """A view from columns. `encounters`: admit (epoch s) and the text fields by encounter row;
    `vitals`: enc (row), time (epoch s), then one array per vital column (numeric, or text for
    o2_device); `labs`: enc, test (or code and names: each result's test as its place in
    `names`), value, flag, collected, resulted; `interventions`: enc,
    start, end, kind (epoch s)."""
    return ChartView(encounters, vitals, labs, interventions)


Check = Callable[[ChartView, np.ndarray, np.ndarray], np.ndarray]


def compile_claim(cond: dict) -> Check:
    """A function (view, encounter rows, epoch seconds) -> whether the condition held for each."""
    if "all" in cond:
        parts = [compile_claim(c) for c in cond["all"]]
        return lambda v, e, t: np.logical_and.reduce([p(v, e, t) for p in parts])
    if "any" in cond:
        parts = [compile_claim(c) for c in cond["any"]]
        return lambda v, e, t: np.logical_or.reduce([p(v, e, t) for p in parts])
    if "at_least" in cond:
        parts, n = [compile_claim(c) for c in cond["of"]], cond["at_least"]
        return lambda v, e, t: np.sum([p(v, e, t) for p in parts], axis=0) >= n
    if "not" in cond:
        inner = compile_claim(cond["not"])
        return lambda v, e, t: ~inner(v, e, t)
    for key, make in _TERMS.items():
        if key in cond:
            return make(cond)
    raise ValueError(f"not a claim condition: {cond!r}")  # the schema rules this out


def _compare(cond: dict) -> Callable[[np.ndarray], np.ndarray]:
    op, value = OPS[cond["op"]], cond["value"]

    def test(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return ~np.isnan(x) & op(x, value)
    return test


def _span(cond: dict) -> float:
    return cond.get("window_hours", np.inf) * HOUR


def _vital_term(cond: dict) -> Check:
    name, stat, span, test = cond["vital"], cond["stat"], _span(cond), _compare(cond)

    def check(v: ChartView, e: np.ndarray, t: np.ndarray) -> np.ndarray:
        s = v.vital(name)
        return test(s.stat(stat, *s.rows(e, t, span)))
    return check


def _lab_term(cond: dict) -> Check:
    name, stat, span = cond["lab"], cond["stat"], _span(cond)
    if stat == "resulted":
        return lambda v, e, t: v.lab(name).stat("count", *v.lab(name).rows(e, t, np.inf)) > 0
    if stat == "pending":
        def pending(v: ChartView, e: np.ndarray, t: np.ndarray) -> np.ndarray:
            s = v.lab(name, "collected")
            k = s.rows(e, t, np.inf)[1]                    # results after t start at row k
            end = s.rows(e, np.full_like(t, 2**31 - 1), np.inf)[1]
            return s._reduce(np.fmin, k, end, end - k) <= t
        return pending
    if stat == "flag":
        column = "flag_in:" + ",".join(cond["in"])
        return lambda v, e, t: v.lab(name, column).stat("latest", *v.lab(name, column).rows(e, t, np.inf)) == 1
    test = _compare(cond)

    def check(v: ChartView, e: np.ndarray, t: np.ndarray) -> np.ndarray:
        s = v.lab(name)
        return test(s.stat(stat, *s.rows(e, t, span)))
    return check


def _device_term(cond: dict) -> Check:
    devices, stat, span = tuple(sorted(cond["o2_device"])), cond["stat"], _span(cond)
    reduce = "latest" if stat == "latest" else "max"
    return lambda v, e, t: v.device(devices).stat(reduce, *v.device(devices).rows(e, t, span)) == 1


def _treatment_term(cond: dict) -> Check:
    kind, stat = cond["intervention"], cond["stat"]

    def check(v: ChartView, e: np.ndarray, t: np.ndarray) -> np.ndarray:
        s = v.treatment(kind)
        a, k = s.rows(e, t, np.inf)
        if stat == "started":
            return k > a
        return s.stat("max", a, k) > t  # some treatment started by t ends after it
    return check


def _clock_term(cond: dict) -> Check:
    test = _compare(cond)
    return lambda v, e, t: test((t - v.admit[e]) / HOUR)


def _field_term(key: str, column: str, prefix: bool) -> Callable[[dict], Check]:
    def make(cond: dict) -> Check:
        wanted = tuple(cond[key])
        return lambda v, e, t: v.field_in(column, wanted, prefix)[e]
    return make


def _unit_term(cond: dict) -> Check:
    """The unit the patient is in at t: that of the latest charted vitals set (after transfers),
    else the admitting unit."""
    units = tuple(sorted(cond["care_unit"]))
    admitting = _field_term("care_unit", "care_unit", prefix=False)(cond)

    def check(v: ChartView, e: np.ndarray, t: np.ndarray) -> np.ndarray:
        if CARE_UNIT not in v._v_cols:
            return admitting(v, e, t)
        s = v.category(CARE_UNIT, units)
        latest = s.stat("latest", *s.rows(e, t, np.inf))
        return np.where(np.isnan(latest), admitting(v, e, t), latest == 1)
    return check


_TERMS: dict[str, Callable[[dict], Check]] = {
    "vital": _vital_term,
    "lab": _lab_term,
    "o2_device": _device_term,
    "intervention": _treatment_term,
    "clock": _clock_term,
    "dx_code": _field_term("dx_code", "primary_dx_code", prefix=True),
    "outcome": _field_term("outcome", "outcome", prefix=False),
    "disposition": _field_term("disposition", "discharge_disposition", prefix=False),
    "care_unit": _unit_term,
}


def names_used(cond: dict, path: str = "when"):
    """(key path, term kind, name) for every vital, lab, treatment, outcome, care unit, oxygen
    device and disposition a condition names."""
    for key in ("all", "any", "of"):
        for i, c in enumerate(cond.get(key, ())):
            yield from names_used(c, f"{path}.{key}.{i}")
    if "not" in cond:
        yield from names_used(cond["not"], f"{path}.not")
    for kind in ("vital", "lab", "intervention"):
        if kind in cond:
            yield f"{path}.{kind}", kind, cond[kind]
    for kind in ("outcome", "care_unit", "o2_device", "disposition"):
        for i, name in enumerate(cond.get(kind, ())):
            yield f"{path}.{kind}.{i}", kind, name


@dataclass(frozen=True)
class Phrase:
    text: str
    check: Check | None  # None: the phrase claims nothing checkable (a fallback)


def phrase_list(variants: list) -> list[Phrase]:
    """A phrase key's variants as YAML gives them: plain strings or {text, when}."""
    return [Phrase(v, None) if isinstance(v, str) else Phrase(v["text"], compile_claim(v["when"]))
            for v in variants]


def eligible(phrases: list[Phrase], view: ChartView, e: np.ndarray, t: np.ndarray) -> list[list[str]]:
    """For each (encounter, time): the guarded phrases whose condition holds, else the fallbacks."""
    pools, at = licensed_pools(phrases, view, e, t)
    return [pools[i] for i in at.tolist()]


def licensed_pools(phrases: list[Phrase], view: ChartView, e: np.ndarray,
                   t: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    """`eligible` as the distinct pools and, for each (encounter, time), the index of its pool."""
    fallback = [p.text for p in phrases if p.check is None]
    guarded = [p for p in phrases if p.check is not None]
    if not guarded:
        return [fallback], np.zeros(len(e), dtype=np.int64)
    held = np.column_stack([p.check(view, e, t) for p in guarded])
    pattern = held.astype(np.int64) @ (1 << np.arange(len(guarded), dtype=np.int64))  # which hold, as bits
    bits, at = np.unique(pattern, return_inverse=True)
    return [[p.text for j, p in enumerate(guarded) if b >> j & 1] or fallback for b in bits.tolist()], at
