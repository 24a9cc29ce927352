"""Step 2: the day's encounters (the anchor table).

Scenario first (weights modulated by weekday and season), then outcome branch, then the
patient: a handful of candidates drawn from the registry (returning patients by frailty, or
that day's new registrations) and the one whose age and sex best fit the scenario kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data_generator.config import Config
from data_generator.generators.registry import Registry
from data_generator.generators.timeline import row_ids
from data_generator.timeutil import DAY, HOUR, local_hour, local_midnight

CANDIDATES = 24
MAX_ROUNDS = 8
NEW_SHORTLIST = 4  # encounters considered per new patient


@dataclass(frozen=True)
class Encounters:
    table: dict[str, np.ndarray]
    patient_index: np.ndarray   # row in the registry
    admit: np.ndarray           # epoch seconds
    discharge: np.ndarray
    scenario: np.ndarray        # scenario names
    outcome: np.ndarray         # branch names
    sex: np.ndarray             # the patient's sex, "F" or "M" (sex-specific physiology and ranges)

    def __len__(self) -> int:
        return len(self.admit)

    def take(self, rows: np.ndarray) -> Encounters:
        """The encounters at `rows`, e.g. one chunk of a large day."""
        return Encounters({k: v[rows] for k, v in self.table.items()}, self.patient_index[rows],
                          self.admit[rows], self.discharge[rows], self.scenario[rows], self.outcome[rows],
                          self.sex[rows])


def _pick(rng: np.random.Generator, weights: dict, n: int) -> np.ndarray:
    if n == 0:
        return np.empty(0, dtype=object)
    keys = list(weights)
    p = np.array([float(weights[k]) for k in keys])
    return np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def scenario_weights(cfg: Config, date: dt.date) -> dict[str, float]:
    mix = cfg.generator["scenarios"]
    out = {}
    for name, w in mix["weights"].items():
        w = float(w) * mix.get("weekday", {}).get(name, [1.0] * 7)[date.weekday()]
        season = mix.get("seasonal", {}).get(name)
        if season:
            phase = 2 * np.pi * (date.month - season["peak_month"]) / 12
            w *= 1 + season["amplitude"] * np.cos(phase)
        out[name] = w
    return out


def day_volume(cfg: Config, date: dt.date, mode: str, rng: np.random.Generator) -> int:
    vol = cfg.generator["volume"]
    return int(rng.poisson(vol[mode] * vol["weekday_factor"][date.weekday()]))


def _admit_seconds(cfg: Config, routes: np.ndarray, rng: np.random.Generator,
                   day_length: int) -> np.ndarray:
    out = np.empty(len(routes), dtype=np.int64)
    for route, hours in cfg.generator["arrival_hours"].items():
        idx = np.flatnonzero(routes == route)
        p = np.asarray(hours, dtype=float)
        hour = rng.choice(24, size=idx.size, p=p / p.sum())
        out[idx] = hour * HOUR + rng.integers(0, HOUR, idx.size)
    return np.minimum(out, day_length - 60)  # a 23-hour DST day still admits on its own date


def _fit(cfg: Config, registry: Registry, scen: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """log(scenario density / registry density) of each candidate's age, plus its sex share:
    the best candidate's age then follows the scenario's distribution, not the registry's."""
    reg_age = cfg.generator["registry"]["age"]
    score = np.empty(cand.shape)
    for name in np.unique(scen):
        rows = scen == name
        pop = cfg.scenarios[name]["population"]
        a = pop["age"]
        age = registry.age_years[cand[rows]]
        ll = -0.5 * ((age - a["mean"]) / a["sd"]) ** 2 + 0.5 * ((age - reg_age["mean"]) / reg_age["sd"]) ** 2
        ll = np.where((age < a["min"]) | (age > a["max"]), ll - 50.0, ll)
        male = registry.table["sex"][cand[rows]] == "M"
        score[rows] = ll + np.log(np.where(male, pop["male_share"], 1 - pop["male_share"]) + 1e-9)
    return score


def _place_new_patients(cfg: Config, registry: Registry, scen: np.ndarray, new_idx: np.ndarray, n_new: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Give n_new of the day's new registrations the encounters that fit them best (greedy on
    fit + Gumbel noise over a random shortlist of encounters); -1 for encounters left over."""
    chosen = np.full(len(scen), -1, dtype=np.int64)
    if n_new == 0:
        return chosen
    rows = rng.permutation(len(scen))[: min(len(scen), NEW_SHORTLIST * n_new)]
    score = _fit(cfg, registry, scen[rows], np.broadcast_to(new_idx, (rows.size, new_idx.size)))
    score = score + rng.gumbel(size=score.shape)
    order = np.argsort(-score, axis=None, kind="stable")
    used_row = np.zeros(rows.size, bool)
    used_patient = np.zeros(new_idx.size, bool)
    placed = 0
    for flat in order.tolist():
        r, c = divmod(flat, new_idx.size)
        if used_row[r] or used_patient[c]:
            continue
        chosen[rows[r]] = new_idx[c]
        used_row[r] = used_patient[c] = True
        placed += 1
        if placed == n_new:
            break
    return chosen


def _choose_patients(cfg: Config, registry: Registry, date: dt.date, scen: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """One patient per encounter, no patient twice in a day: that day's new registrations take
    a share of encounters (those that fit them), returning patients (by frailty) the rest."""
    n = len(scen)
    is_new = registry.registered == np.datetime64(date, "D")
    new_idx = np.flatnonzero(is_new)
    share = cfg.generator["registry"]["new_patient_share"]
    n_new = min(int(rng.binomial(n, share)) if (~is_new).any() else n, new_idx.size)
    chosen = _place_new_patients(cfg, registry, scen, new_idx, n_new, rng)
    taken = np.zeros(len(registry), dtype=bool)
    taken[chosen[chosen >= 0]] = True
    members = np.flatnonzero(~is_new)
    w = registry.frailty[members]
    for _ in range(MAX_ROUNDS):
        rows = np.flatnonzero(chosen < 0)
        keep = ~taken[members]
        if rows.size == 0 or not keep.any():
            break
        cand = rng.choice(members[keep], size=(rows.size, CANDIDATES), p=w[keep] / w[keep].sum())
        score = _fit(cfg, registry, scen[rows], cand) + rng.gumbel(size=cand.shape)
        pick = cand[np.arange(rows.size), score.argmax(axis=1)]
        _, first = np.unique(pick, return_index=True)  # collisions wait for the next round
        chosen[rows[first]] = pick[first]
        taken[pick[first]] = True
    for row in np.flatnonzero(chosen < 0).tolist():  # the few left: best fit among everyone free
        free = np.flatnonzero(~taken)
        if free.size == 0:
            break
        score = _fit(cfg, registry, scen[[row]], free[None, :])[0] + rng.gumbel(size=free.size)
        chosen[row] = free[score.argmax()]
        taken[chosen[row]] = True
    rows = np.flatnonzero(chosen < 0)
    if rows.size:  # a day with more encounters than registered patients: some come twice
        cand = rng.choice(len(registry), size=(rows.size, CANDIDATES))
        score = _fit(cfg, registry, scen[rows], cand) + rng.gumbel(size=cand.shape)
        chosen[rows] = cand[np.arange(rows.size), score.argmax(axis=1)]
    return chosen


def generate_encounters(cfg: Config, date: dt.date, registry: Registry, n: int,
                        rng: np.random.Generator) -> Encounters:
    weights = scenario_weights(cfg, date)
    if sum(weights.values()) <= 0:  # e.g. only elective scenarios, on a day they are weighted 0
        n = 0
    scen = _pick(rng, weights, n)
    outcome = np.empty(n, dtype=object)
    los_h = np.empty(n)
    acuity = np.empty(n, dtype=np.int64)
    cols = {k: np.empty(n, dtype=object) for k in
            ("encounter_type", "care_unit", "primary_dx_code", "primary_dx_desc",
             "discharge_disposition")}
    routes = np.empty(n, dtype=object)
    for name in sorted(set(scen.tolist())):
        rows = np.flatnonzero(scen == name)
        sc = cfg.scenarios[name]
        routes[rows] = sc["arrival"]
        branches = sc["outcomes"]
        outcome[rows] = _pick(rng, {b: v["p"] for b, v in branches.items()}, rows.size)
        dx = sc["diagnoses"]
        pick = rng.choice(len(dx), size=rows.size, p=_norm([d["weight"] for d in dx]))
        cols["primary_dx_code"][rows] = [dx[i]["code"] for i in pick]
        cols["primary_dx_desc"][rows] = [dx[i]["desc"] for i in pick]
        for branch, spec in branches.items():
            sub = rows[outcome[rows] == branch]
            if not sub.size:
                continue
            los = spec["los_hours"]
            los_h[sub] = np.clip(los["median"] * np.exp(rng.normal(0, los["sigma"], sub.size)),
                                 los["min"], los["max"])
            acu = spec.get("acuity", sc["acuity"])
            acuity[sub] = _pick(rng, acu, sub.size).astype(np.int64)
            cols["encounter_type"][sub] = spec["encounter_type"]
            cols["care_unit"][sub] = spec["care_unit"]
            cols["discharge_disposition"][sub] = _pick(rng, spec["disposition"], sub.size)
    midnight = local_midnight(date, cfg.tz)
    day_length = local_midnight(date + dt.timedelta(days=1), cfg.tz) - midnight
    admit = midnight + _admit_seconds(cfg, routes, rng, min(day_length, DAY + HOUR))
    discharge = _daytime_discharge(cfg, admit, admit + np.round(los_h * HOUR).astype(np.int64),
                                   cols["discharge_disposition"], rng)
    patient = _choose_patients(cfg, registry, date, scen, rng)
    order = np.lexsort((patient, admit))
    ids = row_ids("ENC", date, 1, n, 5)
    table = {
        "encounter_id": ids,
        "patient_id": registry.table["patient_id"][patient[order]],
        "admit_time": admit[order],
        "discharge_time": discharge[order],
        "scenario": scen[order],
        "outcome": outcome[order],
        "acuity": acuity[order],
        **{k: v[order] for k, v in cols.items()},
    }
    return Encounters(table, patient[order], admit[order], discharge[order], scen[order],
                      outcome[order], registry.table["sex"][patient[order]])


def _daytime_discharge(cfg: Config, admit: np.ndarray, discharge: np.ndarray, disposition: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """Planned discharges of stays over a day happen in the daytime window, not at 03:00."""
    lo, hi = cfg.generator["discharge_local_hours"]
    planned = (disposition != "expired") & (discharge - admit >= DAY)
    clock = local_hour(discharge, cfg.tz)
    moved = discharge - np.round(clock * HOUR).astype(np.int64) + np.round(
        rng.uniform(lo, hi, discharge.size) * HOUR).astype(np.int64)
    return np.where(planned & (moved - admit >= DAY // 2), moved, discharge)


def _norm(w) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    return w / w.sum()
