"""Step 2: the day's encounters (the anchor table).

A day's encounters are the stays the patients' timelines admit that day (`lifetimes.py`): each
stay's scenario, outcome, diagnosis, length and discharge were drawn at its admission, so any
run that computes the day gets the same rows. `--encounters N` overrides the day's size: fewer
keeps a random subset of the day's stays, more adds stays for registered patients who are
alive and not in hospital that day, chosen by how likely they are to come in.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

from data_generator.config import Config
from data_generator.generators.catalogue import catalogue
from data_generator.generators.lifetimes import (
    N_UNIFORM,
    Lives,
    Patients,
    Stays,
    calendar,
    day_index,
    day_lives,
    derive_lives,
    draw_stays,
    patients,
)
from data_generator.generators.registry import Registry
from data_generator.generators.timeline import table_ids
from data_generator.rng import stream


@dataclass(frozen=True)
class Encounters:
    table: dict[str, np.ndarray]
    patient_index: np.ndarray   # row in the registry
    admit: np.ndarray           # epoch seconds
    discharge: np.ndarray
    scenario: np.ndarray        # scenario names
    outcome: np.ndarray         # branch names
    sex: np.ndarray             # the patient's sex, "F" or "M" (sex-specific physiology and ranges)
    history: np.ndarray         # the patient's chronic conditions (a list each)
    previous_stay: np.ndarray   # {"date", "scenario"} of the patient's previous stay, or None

    def __len__(self) -> int:
        return len(self.admit)

    @functools.cached_property
    def scenario_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct scenario names, sorted, and each encounter's place among them, as
        `np.unique(scenario, return_inverse=True)` gives them: worked out once, shared (read-only)
        by every step that looks up a rule per scenario."""
        names, code = np.unique(self.scenario, return_inverse=True)
        names.flags.writeable = code.flags.writeable = False
        return names, code

    def take(self, rows: np.ndarray) -> Encounters:
        """The encounters at `rows`, e.g. one chunk of a large day."""
        return Encounters({k: v[rows] for k, v in self.table.items()}, self.patient_index[rows],
                          self.admit[rows], self.discharge[rows], self.scenario[rows], self.outcome[rows],
                          self.sex[rows], self.history[rows], self.previous_stay[rows])


def day_encounters(cfg: Config, date: dt.date, mode: str, registry: Registry, n: int | None = None) -> Encounters:
    """The stays admitted on `date` by the timelines of every registered patient (`n` overrides the count)."""
    d = day_index(cfg, date)
    lives = day_lives(cfg, mode, registry, date, at_least=n or 0)
    today = np.flatnonzero(lives.stays.day == d)
    if n is not None and n > today.size and not lives.everyone:  # who else is free needs everyone's timeline
        lives = derive_lives(cfg, mode, registry, date)
        today = np.flatnonzero(lives.stays.day == d)
    stays = lives.stays.take(today)
    prev = _previous(cfg, lives.stays, stays.prev)
    if n is not None and n != today.size:
        rng = stream(cfg.seed, date.isoformat(), "override")
        if n < today.size:
            keep = np.sort(rng.choice(today.size, size=n, replace=False))
            stays, prev = stays.take(keep), prev[keep]
        else:
            extra = _extra(cfg, lives, d, n - today.size, rng)
            more = _previous(cfg, lives.stays, lives.last_stay[extra.patient])
            stays = _concat(stays, extra)
            prev = np.concatenate([prev, more])
    return _encounters(cfg, date, registry, lives.patients, stays, prev)


def generate_encounters(cfg: Config, date: dt.date, registry: Registry, n: int,
                        rng: np.random.Generator) -> Encounters:
    """`n` stays admitted on `date` for registered patients chosen by how likely they are to come
    in, outside any timeline (first stays; used by the scenario preview)."""
    pats = patients(cfg, registry)
    d = day_index(cfg, date)
    cal = calendar(cfg, "sample", d + 1)
    free = np.flatnonzero(pats.reg_day <= d)
    m = len(pats)
    stays = _admit_chosen(cfg, cal, pats, free, d, n, np.zeros(m, dtype=np.int64),
                          np.full(m, -(10**6)), rng)
    return _encounters(cfg, date, registry, pats, stays, np.full(len(stays.patient), None, dtype=object))


def _extra(cfg: Config, lives: Lives, d: int, n: int, rng: np.random.Generator) -> Stays:
    """Stays for up to `n` patients who are registered, alive and out of hospital on day `d`."""
    s, cal = lives.stays, lives.calendar
    busy = np.zeros(len(lives.patients), dtype=bool)
    busy[s.patient[(s.admit < cal.midnight[d + 1]) & (s.discharge > cal.midnight[d])]] = True
    free = np.flatnonzero((lives.patients.reg_day <= d) & lives.alive & ~busy)
    return _admit_chosen(cfg, cal, lives.patients, free, d, n, lives.sides, lives.last_once, rng)


def _admit_chosen(cfg: Config, cal, pats: Patients, free: np.ndarray, d: int, n: int, sides: np.ndarray,
                  last_once: np.ndarray, rng: np.random.Generator) -> Stays:
    """Admit up to `n` of `free`, each at most once: the stays' scenarios follow the day's mix, and
    each scenario's stays go to the patients most likely to come with it (propensity times return
    rate, with Gumbel noise),
    so an override day keeps `scenarios.weights` however many patients it takes."""
    cat = catalogue(cfg)
    w = cal.weights[d]
    n = min(n, free.size)  # nobody is in two beds: an absurd --encounters costs no more than the free patients
    scen = rng.choice(w.size, size=n, p=w / w.sum()) if n > 0 and w.sum() > 0 else np.zeros(0, np.int64)
    fit = pats.fit[free].copy()
    if cat.once >= 0:  # an elective joint once per side, the second side months later
        fit[:, cat.once] *= (sides[free] != 3) & ((sides[free] == 0) | (d - last_once[free] >= cat.once_min_days))
    like = fit * pats.rate[free, None]  # within a scenario, patients who come back often come first
    key = np.where(like > 0, np.log(np.maximum(like, 1e-300)) + rng.gumbel(size=fit.shape), -np.inf)
    taken = np.zeros(free.size, dtype=bool)
    picked, forced = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for s in np.unique(scen).tolist():
        top = _top(np.where(taken, -np.inf, key[:, s]), int(np.sum(scen == s)))
        taken[top] = True
        picked.append(top)
        forced.append(np.full(top.size, s, dtype=np.int64))
    idx, forced_scen = np.concatenate(picked), np.concatenate(forced)
    order = np.argsort(free[idx], kind="stable")
    chosen, forced_scen = free[idx][order], forced_scen[order]
    m = chosen.size
    u = rng.random((N_UNIFORM, m))
    stays = draw_stays(cfg, cal, pats, chosen, np.full(m, d), forced_scen, sides[chosen], last_once[chosen],
                       u, rng.standard_normal(m))
    return stays.take(np.flatnonzero(stays.scen >= 0))


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` largest finite `values`, largest first, equal values by lower index (as a
    stable sort orders them): everything above the k-th largest value, then its ties in index order."""
    k = min(k, values.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    neg = -values
    kth = np.partition(neg, k - 1)[k - 1]
    above = np.flatnonzero(neg < kth)
    chosen = np.sort(np.concatenate([above, np.flatnonzero(neg == kth)[: k - above.size]]))
    chosen = chosen[np.argsort(neg[chosen], kind="stable")]
    return chosen[np.isfinite(values[chosen])]


def _previous(cfg: Config, stays: Stays, prev: np.ndarray) -> np.ndarray:
    """The previous stay of each encounter as {"date", "scenario"} (None for a first stay)."""
    cat = catalogue(cfg)
    out = np.full(prev.size, None, dtype=object)
    rows = np.flatnonzero(prev >= 0)
    p = prev[rows]
    days, at = np.unique(stays.day[p], return_inverse=True)  # each date written once
    dates = (np.datetime64(cfg.start_date, "D") + days).astype(str).astype(object)[at].tolist()
    out[rows] = [{"date": d, "scenario": t} for d, t in zip(dates, cat.titles[stays.scen[p]].tolist(), strict=True)]
    return out


def _concat(a: Stays, b: Stays) -> Stays:
    return Stays(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in Stays.__dataclass_fields__))


def _encounters(cfg: Config, date: dt.date, registry: Registry, pats: Patients, stays: Stays,
                prev: np.ndarray) -> Encounters:
    cat = catalogue(cfg)
    order = np.lexsort((stays.patient, stays.admit))
    st, prev = stays.take(order), prev[order]
    n = len(st.patient)
    s, b = st.scen, st.branch
    scen = np.asarray(cat.names, dtype=object)[s] if n else np.empty(0, dtype=object)
    patient = st.patient
    rows, conditions = np.nonzero(pats.has[patient])  # row by row, conditions in order
    names = np.asarray(cat.conditions, dtype=object)[conditions].tolist()
    bounds = np.searchsorted(rows, np.arange(n + 1)).tolist()
    history = np.fromiter((names[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)), dtype=object, count=n)
    table = {
        "encounter_id": table_ids("encounters", date, 1, n),
        "patient_id": registry.table["patient_id"][patient],
        "admit_time": st.admit,
        "discharge_time": st.discharge,
        "scenario": scen,
        "outcome": cat.branch[s, b],
        "acuity": st.acuity.astype(np.int64),
        "encounter_type": cat.enc_type[s, b],
        "care_unit": cat.care_unit[s, b],
        "primary_dx_code": cat.dx_code[s, st.dx],
        "primary_dx_desc": cat.dx_desc[s, st.dx],
        "discharge_disposition": cat.dispo_vals[st.dispo],
    }
    return Encounters(table, patient, st.admit, st.discharge, scen, table["outcome"],
                      registry.table["sex"][patient], history, prev)
