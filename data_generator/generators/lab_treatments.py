"""Treatments that follow resulted labs: red cells after a haemoglobin below the scenario's
threshold (each unit raising every later haemoglobin by the catalogue's effect), and courses
started and stopped by resulted draws (insulin, furosemide, potassium) or by a collection
(antibiotics after blood cultures). They run after the labs step on its arrays.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.interventions import (
    Interventions,
    first_hours,
    row_bounds,
    rule_array,
    rules,
    uniform_rows,
    with_ramps,
)
from data_generator.generators.labs import Labs, flags
from data_generator.generators.physiology import Physiology
from data_generator.generators.timeline import condition_mask
from data_generator.timeutil import HOUR


def transfuse(cfg: Config, enc: Encounters, phys: Physiology, lab_enc: np.ndarray, test: np.ndarray,
              by_test: _ByTest, collect_h: np.ndarray, result_h: np.ndarray, value: np.ndarray,
              rng: np.random.Generator) -> tuple[Physiology, Interventions, np.ndarray]:
    """Red cells after each resulted haemoglobin below the scenario's threshold (A3): enough
    units to reach `target_hb`, one after another; every later draw of the tests the catalogue
    names rises by its effect per unit. Returns the physiology with `red_cells`, the units given
    and the new lab values (rows sorted by encounter, then collection)."""
    spec = cfg.interventions["treatments"]["red_cells"]
    value = value.astype(float).copy()
    threshold = rule_array(cfg, enc, "transfusion", "hb_below").astype(float)
    if np.isnan(threshold).all():
        return phys, Interventions.none(), value
    target = rule_array(cfg, enc, "transfusion", "target_hb").astype(float)
    max_units = rule_array(cfg, enc, "transfusion", "max_units", 0).astype(int)
    episodes = rule_array(cfg, enc, "transfusion", "max_episodes", 0).astype(int)
    delays = row_bounds(rule_array(cfg, enc, "transfusion", "delay_hours", None))
    rise = spec["labs"]
    hb = by_test(spec["trigger_test"])
    affected = np.flatnonzero(np.isin(by_test.code, [by_test.number.get(name, -1) for name in rise]))
    charted = [(name, by_test(name)) for name in sorted(rise)]
    n, los = len(enc), phys.los_hours
    done_until = np.full(n, -np.inf)
    units: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for episode in range(int(episodes.max())):
        e = lab_enc[hb]
        low = (value[hb] < threshold[e]) & (collect_h[hb] > done_until[e]) & (episode < episodes[e])
        t_trigger = first_hours(e, result_h[hb], low, n)
        hb_at = np.full(n, np.nan)
        pick = np.flatnonzero(low)
        if pick.size:
            owners, first = np.unique(e[pick], return_index=True)
            hb_at[owners] = value[hb][pick[first]]
        start = t_trigger + uniform_rows(rng, *delays)
        go = np.flatnonzero(~np.isnan(start) & (start < los))
        if go.size == 0:
            break
        count = np.clip(np.ceil((target[go] - hb_at[go]) / rise[spec["trigger_test"]] - 1e-9), 1, max_units[go])
        t = start[go]
        for u in range(int(count.max())):
            dur = rng.uniform(*spec["duration_hours"], go.size)
            now = (u < count) & (t < los[go])
            end = np.minimum(t + dur, los[go])
            units.append((go[now], t[now], end[now]))
            _apply_unit(value, lab_enc, collect_h, affected, test, rise, go[now], t[now], end[now], n)
            _round_as_charted(cfg, value, charted)
            t = np.where(now, end, t)
        done_until[go] = t
    if not units:
        return phys, Interventions.none(), value
    u_enc, u_start, u_end = (np.concatenate([u[i] for u in units]) for i in range(3))
    treated = with_ramps(phys, "red_cells", u_enc, u_start, u_end, np.ones(u_enc.size))
    events = Interventions(u_enc.astype(np.int64), u_start, u_end, np.full(u_enc.size, "red_cells", dtype=object),
                           np.full(u_enc.size, spec["detail"], dtype=object))
    return treated, Interventions.join([events]), value


def _as_charted(cfg: Config, value: np.ndarray, test: np.ndarray, affected: np.ndarray) -> None:
    """Clip and round the affected tests as the labs step reports them."""
    _round_as_charted(cfg, value, [(name, affected[test[affected] == name])
                                   for name in np.unique(test[affected]).tolist()])


def _round_as_charted(cfg: Config, value: np.ndarray, groups: list[tuple[str, np.ndarray]]) -> None:
    """Clip and round the rows of each (test, rows) group as the labs step reports them."""
    cat = cfg.labs["tests"]
    for name, rows in groups:
        value[rows] = np.round(np.clip(value[rows], *cat[name]["clip"]), cat[name]["decimals"])


class _ByTest:
    """The rows of each test in a labs table (`code`: each row's place in the `catalogue`), found
    once per test."""

    def __init__(self, catalogue: dict, code: np.ndarray):
        self.number, self.code, self._rows = {name: i for i, name in enumerate(catalogue)}, code, {}

    def __call__(self, name: str) -> np.ndarray:
        if name not in self._rows:
            self._rows[name] = np.flatnonzero(self.code == self.number[name])
        return self._rows[name]


def _apply_unit(value, lab_enc, collect_h, affected, test, rise, enc_rows, t0, t1, n) -> None:
    """Raise every later draw of the affected tests by one unit's effect (ramped over the unit)."""
    at0, at1 = np.full(n, np.inf), np.full(n, np.inf)
    at0[enc_rows], at1[enc_rows] = t0, t1
    rows = affected[np.isfinite(at0[lab_enc[affected]])]
    e = lab_enc[rows]
    frac = np.clip((collect_h[rows] - at0[e]) / np.maximum(at1[e] - at0[e], 1e-9), 0.0, 1.0)
    value[rows] += frac * np.array([rise[t] for t in test[rows].tolist()])


def reflag(cfg: Config, test: np.ndarray, value: np.ndarray, ref_low: np.ndarray, ref_high: np.ndarray,
           flag: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Flags of `rows` recomputed after their values changed (the labs step's rule)."""
    flag = flag.copy()
    flag[rows] = flags(cfg.labs["tests"], test[rows], value[rows], ref_low[rows], ref_high[rows])
    return flag



def from_results(cfg: Config, enc: Encounters, los: np.ndarray, lab_enc: np.ndarray, by_test: _ByTest,
                 panel: np.ndarray, collect_h: np.ndarray, result_h: np.ndarray, value: np.ndarray,
                 rng: np.random.Generator) -> tuple[Interventions, np.ndarray]:
    """Infusions (insulin, furosemide, potassium) started by the first resulted draw meeting
    `start_when` and stopped by the first later one meeting `stop_when` (or the end of the
    stay); an infusion with `labs_per_hour` moves the tests drawn while it runs (and holds the
    change after), so the draw that stops it is one it changed. Antibiotics after the first
    collection of `after_panel` (cultures before antibiotics, S4). Returns the events and the
    lab values (rows sorted by encounter, then collection)."""
    treat = cfg.interventions["treatments"]
    value = value.astype(float).copy()
    n, parts, in_panel = len(enc), [], {}
    d_enc, d_seconds, first = _draws(lab_enc, np.round(collect_h * 3600).astype(np.int64))
    d_collect = d_seconds / 3600.0
    d_result = np.full(d_enc.size, -np.inf)
    np.maximum.at(d_result, first, result_h)
    for scenario in enc.scenario_codes[0].tolist():
        spec = rules(cfg, scenario)
        mine = enc.scenario == scenario
        for rule in spec.get("infusions", []):
            names = {t["lab"] for key in ("start_when", "stop_when") for t in next(iter(rule[key].values()))}
            effect = treat[rule["kind"]].get("labs_per_hour", {})
            ok = mine[d_enc]
            cols = _per_draw(names, by_test, first, d_enc.size, value)
            start = first_hours(d_enc, d_result, ok & condition_mask(rule["start_when"], cols), n)
            start = start + rng.uniform(*rule["delay_hours"], n)
            start = np.where(start < los, start, np.nan)
            running = _infused(value, effect, by_test, lab_enc, collect_h, start, np.full(n, np.inf))
            cols = _per_draw(names, by_test, first, d_enc.size, running)
            after = np.nan_to_num(start, nan=np.inf)[d_enc]
            stop = first_hours(d_enc, d_result, ok & (d_collect > after) & condition_mask(rule["stop_when"], cols), n)
            stop = np.minimum(np.where(np.isnan(stop), los, stop + rng.uniform(*rule["delay_hours"], n)), los)
            value = _infused(value, effect, by_test, lab_enc, collect_h, start, stop)
            go = np.flatnonzero(~np.isnan(start))
            parts.append(Interventions(go.astype(np.int64), start[go], np.maximum(stop[go], start[go]),
                                       np.full(go.size, rule["kind"], dtype=object),
                                       np.full(go.size, treat[rule["kind"]]["detail"], dtype=object)))
        if "antibiotics" in spec:
            rule = spec["antibiotics"]
            if rule["after_panel"] not in in_panel:
                in_panel[rule["after_panel"]] = panel == rule["after_panel"]
            drawn = first_hours(lab_enc, collect_h, in_panel[rule["after_panel"]] & mine[lab_enc], n)
            start = drawn + rng.uniform(*rule["delay_hours"], n)
            stop = np.minimum(start + rng.uniform(*rule["course_hours"], n), los)
            go = np.flatnonzero(start < los)
            parts.append(Interventions(go.astype(np.int64), start[go], stop[go],
                                       np.full(go.size, "antibiotics", dtype=object),
                                       np.full(go.size, treat["antibiotics"]["detail"], dtype=object)))
    return Interventions.join(parts), value


def _per_draw(names: set[str], by_test: _ByTest, first: np.ndarray, size: int, value: np.ndarray) -> dict:
    """Each named test's value per draw (NaN where the draw has none)."""
    cols = {name: np.full(size, np.nan) for name in names}
    for name in names:
        rows = by_test(name)
        cols[name][first[rows]] = value[rows]
    return cols


def _infused(value: np.ndarray, effect: dict, by_test: _ByTest, lab_enc: np.ndarray, collect_h: np.ndarray,
             start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """`value` with each affected test moved by `rate` per hour the infusion has run by its
    collection (from `start` to `stop`, per encounter; none where start is NaN), at most `max`."""
    out = value.copy()
    for name, spec in effect.items():
        rows = by_test(name)
        rows = rows[~np.isnan(start[lab_enc[rows]])]
        e = lab_enc[rows]
        ran = np.clip(np.minimum(collect_h[rows], stop[e]) - start[e], 0.0, None)
        out[rows] += np.clip(spec["rate"] * ran, -spec["max"], spec["max"])
    return out


def _draws(enc: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (encounter, collection second) pairs in that order, and each row's pair."""
    low = int(seconds.min()) if seconds.size else 0
    span = int(seconds.max()) - low + 1 if seconds.size else 1
    key = enc.astype(np.int64) * span + (seconds - low)
    if key.size and (key[1:] >= key[:-1]).all():  # rows sorted by encounter, then collection
        first = np.zeros(key.size, dtype=np.intp)
        np.cumsum(key[1:] != key[:-1], out=first[1:])
        pairs = key[np.flatnonzero(np.diff(first, prepend=-1))]
    else:
        pairs, first = np.unique(key, return_inverse=True)
    return pairs // span, pairs % span + low, first


def treat_results(cfg: Config, enc: Encounters, phys: Physiology, labs: Labs,
                rng: np.random.Generator) -> tuple[Physiology, Labs, Interventions]:
    """Red cells given for the resulted haemoglobin, and the labs drawn after them raised; then
    the infusions and antibiotics that resulted draws call for."""
    t = labs.table
    collect_h = (t["event_time"] - enc.admit[labs.enc]) / HOUR
    by_test = _ByTest(cfg.labs["tests"], labs.code)
    phys, blood, value = transfuse(cfg, enc, phys, labs.enc, labs.test, by_test, collect_h, labs.result_hours,
                                   t["value"], rng)
    infused, value = from_results(cfg, enc, phys.los_hours, labs.enc, by_test, t["panel"], collect_h,
                                  labs.result_hours, value, rng)
    _as_charted(cfg, value, labs.test, np.flatnonzero(~_same(value, t["value"])))
    blood = Interventions.join([blood, infused])
    changed = np.flatnonzero(~_same(value, t["value"]))
    if changed.size == 0:
        return phys, labs, blood
    flag = reflag(cfg, labs.test, value, t["ref_low"], t["ref_high"], t["flag"], changed)
    return phys, dataclasses.replace(labs, table={**t, "value": value, "flag": flag}), blood


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two value columns agree (both NaN included)."""
    return (a == b) | (np.isnan(a) & np.isnan(b))
