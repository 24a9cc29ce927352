"""Claim conditions: when a note phrase may be said, judged on the chart as it stood.

A phrase that claims something ("anion gap closed", "on NIV", "troponin rising") carries a
condition in its scenario YAML. A condition is a small tree: `all`, `any`, `at_least` n `of` and `not` around
terms that each read one thing the written files show (a vital, a lab result, the oxygen
device, a treatment, hours since admission, the diagnosis code, the outcome, the disposition,
the care unit). `compile_claim` turns the tree into a function of (chart, encounter, time)
once; the note engine and the test that reads the files back both call it on a `ChartView`,
built from plain columns, so the generator and its checker cannot disagree about what a
condition means.

Times are epoch seconds. At time `t` the chart holds vitals charted at or before `t`, lab
results available at or before `t`, and treatments started at or before `t`.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HOUR = 3600
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}


class ChartView:
    """The chart of a set of encounters, indexed for "what was known at time t" questions.

    Vitals are sorted by encounter then time; lab results by encounter, test, then result time.
    Columns become Python lists (fast to index one value at a time) the first time a condition
    reads them.
    """

    def __init__(self, encounters: dict[str, np.ndarray], vitals: dict[str, np.ndarray], labs: dict[str, np.ndarray],
                 interventions: dict[str, np.ndarray] | None = None):
        n = len(encounters["admit"])
        v_order = np.lexsort((vitals["time"], vitals["enc"]))
        self._v_enc = np.asarray(vitals["enc"], dtype=np.int64)[v_order]
        self._v_cols = {k: np.asarray(c)[v_order] for k, c in vitals.items() if k not in ("enc", "time")}
        self.admit = np.asarray(encounters["admit"], dtype=np.int64).tolist()
        self.fields = {k: [str(x) for x in v] for k, v in encounters.items() if k != "admit"}
        self.v_start = np.searchsorted(self._v_enc, np.arange(n + 1)).tolist()
        self.v_time = np.asarray(vitals["time"], dtype=np.int64)[v_order].tolist()
        names, code = np.unique(np.asarray(labs["test"]).astype(str), return_inverse=True)
        l_order = np.lexsort((labs["resulted"], code, labs["enc"]))
        l_enc, l_code = np.asarray(labs["enc"], dtype=np.int64)[l_order], code[l_order]
        new = np.ones(l_order.size, bool)
        new[1:] = (l_enc[1:] != l_enc[:-1]) | (l_code[1:] != l_code[:-1])
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], l_order.size)
        self.labs = {(e, names[c]): (a, b) for e, c, a, b in zip(
            l_enc[starts].tolist(), l_code[starts].tolist(), starts.tolist(), ends.tolist(), strict=True)}
        self.l_res = np.asarray(labs["resulted"], dtype=np.int64)[l_order].tolist()
        self.l_value = np.asarray(labs["value"], dtype=float)[l_order].tolist()
        self._l_cols = {"flag": np.asarray(labs["flag"])[l_order], "collected": np.asarray(labs["collected"])[l_order]}
        self.treatments: dict[int, list[tuple[int, int, str]]] = {}
        if interventions is not None:
            for e, a, b, kind in zip(*(np.asarray(interventions[k]).tolist() for k in ("enc", "start", "end", "kind")),
                                     strict=True):
                self.treatments.setdefault(int(e), []).append((int(a), int(b), str(kind)))
        self._lists: dict[tuple[str, str], list] = {}

    def vital(self, name: str) -> list:
        """One vitals column, nan (numbers) or None (text) where not charted."""
        if ("vital", name) not in self._lists:
            self._lists["vital", name] = _as_list(self._v_cols[name])
        return self._lists["vital", name]

    def running(self, name: str, stat: str) -> list[float]:
        """The maximum or minimum of a vital charted so far in each row's encounter; nan before any."""
        if (stat, name) not in self._lists:
            self._lists[stat, name] = _running(self._v_cols[name].astype(float), self._v_enc,
                                               1.0 if stat == "max" else -1.0)
        return self._lists[stat, name]

    def lab_column(self, name: str) -> list:
        """`flag` or `collected` of each lab row, in the view's order."""
        if ("lab", name) not in self._lists:
            self._lists["lab", name] = self._l_cols[name].tolist()
        return self._lists["lab", name]


def build_view(encounters: dict[str, np.ndarray], vitals: dict[str, np.ndarray], labs: dict[str, np.ndarray],
               interventions: dict[str, np.ndarray] | None = None) -> ChartView:
    """A view from columns. `encounters`: admit (epoch s) and the text fields by encounter row;
    `vitals`: enc (row), time (epoch s), then one array per vital column (numeric, or text for
    o2_device); `labs`: enc, test, value, flag, collected, resulted; `interventions`: enc,
    start, end, kind (epoch s)."""
    return ChartView(encounters, vitals, labs, interventions)


_SHIFT = 1e4  # above any vital's range: keeps a running extreme inside its encounter


def _running(col: np.ndarray, enc: np.ndarray, sign: float) -> list[float]:
    if col.size == 0:
        return []
    present = ~np.isnan(col)
    clean = np.where(present, sign * np.nan_to_num(col), -5000.0) + enc * _SHIFT
    run = np.maximum.accumulate(clean) - enc * _SHIFT
    return np.where(run > -4000, sign * run, np.nan).tolist()


def _as_list(a: np.ndarray) -> list:
    if a.dtype.kind == "f":
        return a.tolist()
    if a.dtype == object:
        return [None if (x is None or x != x) else x for x in a.tolist()]
    return a.tolist()


Check = Callable[[ChartView, int, int], bool]


def compile_claim(cond: dict) -> Check:
    """A function (view, encounter row, epoch seconds) -> whether the condition holds then."""
    if "all" in cond:
        parts = [compile_claim(c) for c in cond["all"]]
        return lambda v, e, t: all(p(v, e, t) for p in parts)
    if "any" in cond:
        parts = [compile_claim(c) for c in cond["any"]]
        return lambda v, e, t: any(p(v, e, t) for p in parts)
    if "at_least" in cond:
        parts, n = [compile_claim(c) for c in cond["of"]], cond["at_least"]
        return lambda v, e, t: sum(p(v, e, t) for p in parts) >= n
    if "not" in cond:
        inner = compile_claim(cond["not"])
        return lambda v, e, t: not inner(v, e, t)
    for key, make in _TERMS.items():
        if key in cond:
            return make(cond)
    raise ValueError(f"not a claim condition: {cond!r}")  # the schema rules this out


def _compare(cond: dict) -> Callable[[float], bool]:
    op, value = OPS[cond["op"]], cond["value"]
    return lambda x: x == x and op(x, value)


def _window(cond: dict) -> float:
    return cond.get("window_hours", math.inf) * HOUR


def _stat(values: list[float], stat: str) -> float:
    """latest, first, min, max, change (latest - first), from_max (latest - max), from_min
    (latest - min) or count of the values; nan if there are none (or one, for a change)."""
    if stat == "count":
        return float(len(values))
    if not values or (stat in ("change", "from_max", "from_min") and len(values) < 2):
        return math.nan
    if stat == "latest":
        return values[-1]
    if stat == "first":
        return values[0]
    if stat == "min":
        return min(values)
    if stat == "max":
        return max(values)
    if stat == "from_max":
        return values[-1] - max(values)
    if stat == "from_min":
        return values[-1] - min(values)
    return values[-1] - values[0]


def _vital_term(cond: dict) -> Check:
    name, stat, span, test = cond["vital"], cond["stat"], _window(cond), _compare(cond)

    def check(v: ChartView, e: int, t: int) -> bool:
        lo, hi = v.v_start[e], v.v_start[e + 1]
        k = bisect_right(v.v_time, t, lo, hi)
        a = bisect_right(v.v_time, t - span, lo, k) if span != math.inf else lo
        if k == lo:
            return False
        col = v.vital(name)
        if stat == "latest":
            for j in range(k - 1, a - 1, -1):
                if col[j] == col[j]:
                    return test(col[j])
            return False
        if stat in ("max", "min") and span == math.inf:
            return test(v.running(name, stat)[k - 1])
        return test(_stat([x for x in col[a:k] if x == x], stat))
    return check


def _lab_term(cond: dict) -> Check:
    name, stat = cond["lab"], cond["stat"]
    span = _window(cond)
    if stat in ("resulted", "pending"):
        def status(v: ChartView, e: int, t: int) -> bool:
            g = v.labs.get((e, name))
            if g is None:
                return False
            if stat == "resulted":
                return v.l_res[g[0]] <= t
            got = v.lab_column("collected")
            return any(got[j] <= t < v.l_res[j] for j in range(*g))
        return status
    if stat == "flag":
        allowed = set(cond["in"])

        def flag(v: ChartView, e: int, t: int) -> bool:
            g = v.labs.get((e, name))
            k = bisect_right(v.l_res, t, *g) if g else 0
            return g is not None and k > g[0] and v.lab_column("flag")[k - 1] in allowed
        return flag
    test = _compare(cond)

    def check(v: ChartView, e: int, t: int) -> bool:
        g = v.labs.get((e, name))
        if g is None:
            return test(0.0) if stat == "count" else False
        k = bisect_right(v.l_res, t, *g)
        a = bisect_right(v.l_res, t - span, g[0], k) if span != math.inf else g[0]
        return test(_stat(v.l_value[a:k], stat))
    return check


def _device_term(cond: dict) -> Check:
    devices, stat, span = set(cond["o2_device"]), cond["stat"], _window(cond)

    def check(v: ChartView, e: int, t: int) -> bool:
        lo, hi = v.v_start[e], v.v_start[e + 1]
        k = bisect_right(v.v_time, t, lo, hi)
        a = bisect_right(v.v_time, t - span, lo, k) if span != math.inf else lo
        col = v.vital("o2_device")
        if stat == "latest":
            for j in range(k - 1, a - 1, -1):
                if col[j] is not None:
                    return col[j] in devices
            return False
        return any(col[j] in devices for j in range(a, k))
    return check


def _treatment_term(cond: dict) -> Check:
    kind, stat = cond["intervention"], cond["stat"]

    def check(v: ChartView, e: int, t: int) -> bool:
        for a, b, k in v.treatments.get(e, ()):
            if k == kind and a <= t and (stat == "started" or t < b):
                return True
        return False
    return check


def _clock_term(cond: dict) -> Check:
    test = _compare(cond)
    return lambda v, e, t: test((t - v.admit[e]) / HOUR)


def _field_term(key: str, column: str, prefix: bool) -> Callable[[dict], Check]:
    def make(cond: dict) -> Check:
        wanted = tuple(cond[key])
        if prefix:
            return lambda v, e, t: v.fields[column][e].startswith(wanted)
        return lambda v, e, t: v.fields[column][e] in wanted
    return make


_TERMS: dict[str, Callable[[dict], Check]] = {
    "vital": _vital_term,
    "lab": _lab_term,
    "o2_device": _device_term,
    "intervention": _treatment_term,
    "clock": _clock_term,
    "dx_code": _field_term("dx_code", "primary_dx_code", prefix=True),
    "outcome": _field_term("outcome", "outcome", prefix=False),
    "disposition": _field_term("disposition", "discharge_disposition", prefix=False),
    "care_unit": _field_term("care_unit", "care_unit", prefix=False),
}


def names_used(cond: dict, path: str = "when"):
    """(key path, term kind, name) for every vital, lab and treatment a condition names."""
    for key in ("all", "any", "of"):
        for i, c in enumerate(cond.get(key, ())):
            yield from names_used(c, f"{path}.{key}.{i}")
    if "not" in cond:
        yield from names_used(cond["not"], f"{path}.not")
    for kind in ("vital", "lab", "intervention"):
        if kind in cond:
            yield f"{path}.{kind}", kind, cond[kind]


@dataclass(frozen=True)
class Phrase:
    text: str
    check: Check | None  # None: the phrase claims nothing checkable (a fallback)


def phrase_list(variants: list) -> list[Phrase]:
    """A phrase key's variants as YAML gives them: plain strings or {text, when}."""
    return [Phrase(v, None) if isinstance(v, str) else Phrase(v["text"], compile_claim(v["when"]))
            for v in variants]


def eligible(phrases: list[Phrase], view: ChartView, e: int, t: int) -> list[str]:
    """The guarded phrases whose condition holds at `t`; if none, the unguarded fallbacks."""
    held = [p.text for p in phrases if p.check is not None and p.check(view, e, t)]
    return held or [p.text for p in phrases if p.check is None]
