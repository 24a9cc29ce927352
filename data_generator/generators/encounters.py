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
from data_generator.timeutil import DAY, HOUR, local_midnight

CANDIDATES = 12


@dataclass(frozen=True)
class Encounters:
    table: dict[str, np.ndarray]
    patient_index: np.ndarray   # row in the registry
    admit: np.ndarray           # epoch seconds
    discharge: np.ndarray
    scenario: np.ndarray        # scenario names
    outcome: np.ndarray         # branch names

    def __len__(self) -> int:
        return len(self.admit)


def _pick(rng: np.random.Generator, weights: dict, n: int) -> np.ndarray:
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


def _choose_patients(cfg: Config, registry: Registry, date: dt.date, scen: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    n = len(scen)
    is_new = registry.registered == np.datetime64(date, "D")
    new_idx, old_idx = np.flatnonzero(is_new), np.flatnonzero(~is_new)
    if old_idx.size == 0 and new_idx.size == 0:
        raise ValueError("empty registry")
    share = cfg.generator["registry"]["new_patient_share"]
    wants_new = (rng.random(n) < share) if old_idx.size else np.ones(n, bool)
    if new_idx.size == 0:
        wants_new[:] = False
    cand = np.empty((n, CANDIDATES), dtype=np.int64)
    if new_idx.size:
        cand[wants_new] = rng.choice(new_idx, size=(int(wants_new.sum()), CANDIDATES))
    if old_idx.size:
        w = registry.frailty[old_idx]
        cand[~wants_new] = rng.choice(old_idx, size=(int((~wants_new).sum()), CANDIDATES),
                                      p=w / w.sum())
    # Score each candidate by the scenario's age and sex likelihood, plus Gumbel noise.
    score = np.empty(cand.shape)
    for name in np.unique(scen):
        rows = scen == name
        pop = cfg.scenarios[name]["population"]
        age = registry.age_years[cand[rows]]
        a = pop["age"]
        ll = -0.5 * ((age - a["mean"]) / a["sd"]) ** 2
        ll = np.where((age < a["min"]) | (age > a["max"]), ll - 50.0, ll)
        male = registry.table["sex"][cand[rows]] == "M"
        ll += np.log(np.where(male, pop["male_share"], 1 - pop["male_share"]) + 1e-9)
        score[rows] = ll
    score += rng.gumbel(size=score.shape)
    chosen = cand[np.arange(n), score.argmax(axis=1)]
    # One encounter per patient per day: re-draw collisions from patients not yet used.
    _, first = np.unique(chosen, return_index=True)
    dup = np.setdiff1d(np.arange(n), first)
    if dup.size:
        free = np.setdiff1d(np.arange(len(registry)), chosen)
        if free.size >= dup.size:
            chosen[dup] = rng.choice(free, size=dup.size, replace=False)
    return chosen


def generate_encounters(cfg: Config, date: dt.date, registry: Registry, n: int,
                        rng: np.random.Generator) -> Encounters:
    scen = _pick(rng, scenario_weights(cfg, date), n)
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
    discharge = admit + np.round(los_h * HOUR).astype(np.int64)
    patient = _choose_patients(cfg, registry, date, scen, rng)
    order = np.lexsort((patient, admit))
    ids = np.strings.add(f"ENC-{date:%Y%m%d}-", np.strings.zfill(np.arange(1, n + 1).astype(str), 5))
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
                      outcome[order])


def _norm(w) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    return w / w.sum()
