"""Step 5: laboratory results, ordered by schedule and by triggers, valued from physiology.

Draws come from the scenario's schedule (on admission, every morning, every few hours) and
from triggers on charted vitals or on earlier results (a fever orders cultures and a
lactate; a high lactate orders a repeat). Each test's value is the patient's own baseline
pulled toward the scenario's `at` values by the latent states at collection time, plus
assay noise; derived tests (anion gap) are computed from the same draw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.physiology import Physiology, effect
from data_generator.generators.timeline import condition_mask, firings, row_ids
from data_generator.generators.vitals import Vitals
from data_generator.timeutil import HOUR, local_midnight

TRIGGER_ROUNDS = 6


@dataclass(frozen=True)
class Labs:
    table: dict[str, np.ndarray]
    enc: np.ndarray
    result_hours: np.ndarray  # hours since admission when each result was available
    test: np.ndarray          # catalogue test name per row


def _scheduled(cfg: Config, date: dt.date, enc: Encounters, first_vitals_h: np.ndarray,
               rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(encounter rows, collection hours, panel) for every scheduled draw."""
    draws = []
    timing = cfg.labs["timing"]
    midnight = local_midnight(date, cfg.tz)
    los = (enc.discharge - enc.admit) / HOUR
    for scenario in np.unique(enc.scenario):
        rows = np.flatnonzero(enc.scenario == scenario)
        for item in cfg.scenarios[scenario].get("labs", {}).get("schedule", []):
            if item.get("at") == "admission":
                hours = first_vitals_h[rows] + rng.uniform(*timing["admission_draw_minutes"], rows.size) / 60
                times = [(rows, hours)]
            elif "daily_at_hour" in item:
                admit_h = (enc.admit[rows] - midnight) / HOUR
                times = []
                for day in range(1, int(los[rows].max() // 24) + 2):
                    jitter = timing["daily_jitter_hours"]
                    at = day * 24 + item["daily_at_hour"] - admit_h + rng.uniform(-jitter, jitter, rows.size)
                    times.append((rows, at))
            else:
                every, until = item["every_hours"], item.get("until_hours", 1e9)
                jitter = timing["serial_jitter_hours"]
                times = [(rows, first_vitals_h[rows] + k * every + rng.uniform(-jitter, jitter, rows.size))
                         for k in range(1, int(min(until, los[rows].max()) // every) + 1)]
            for r, h in times:
                ok = (h > 0) & (h <= los[r]) & (h >= first_vitals_h[r])
                if "until_hours" in item:
                    ok &= h <= item["until_hours"] + 0.5
                for panel in item["panels"]:
                    draws.append((r[ok], h[ok], panel))
    return draws


def _vital_triggers(cfg: Config, enc: Encounters, vitals: Vitals, rng: np.random.Generator):
    draws = []
    los = (enc.discharge - enc.admit) / HOUR
    for scenario in np.unique(enc.scenario):
        for trig in cfg.scenarios[scenario].get("labs", {}).get("triggers", []):
            if not any("vital" in t for t in trig["when"].get("any", trig["when"].get("all", []))):
                continue
            rows = (enc.scenario[vitals.enc] == scenario) & (vitals.hours >= trig.get("after_hours", 0))
            rows &= condition_mask(trig["when"], vitals.table)
            e, fired_h = firings(vitals.enc, vitals.hours, rows, trig["max"], cfg.labs["timing"]["trigger_gap_hours"])
            h = fired_h + rng.uniform(*trig["delay_hours"], e.size)
            ok = h <= los[e]
            for panel in trig["order"]:
                draws.append((e[ok], h[ok], panel))
    return draws


def _values(cfg: Config, enc: Encounters, phys: Physiology, rows: np.ndarray, hours: np.ndarray,
            tests: list[str], offsets: dict[str, np.ndarray], rng: np.random.Generator):
    """Values of `tests` for draws (rows, hours): dict test -> array."""
    cat = cfg.labs["tests"]
    out = {}
    for name in tests:
        spec = cat[name]
        if "derive" in spec:
            continue
        if spec.get("categorical"):
            out[name] = np.full(rows.size, np.nan)
            continue
        value = np.zeros(rows.size)
        for scenario in np.unique(enc.scenario[rows]):
            sel = enc.scenario[rows] == scenario
            own = cfg.scenarios[scenario].get("labs", {}).get("values", {}).get(name, {})
            base = own.get("baseline", spec["baseline"])
            value[sel] = effect(base, own.get("at", {}), phys, rows[sel], hours[sel], spec["scale"])
        log = spec["scale"] == "log"
        value = np.exp(np.log(offsets[name][rows]) + value) if log else offsets[name][rows] + value
        value = value + rng.normal(0, spec["noise"], rows.size)
        out[name] = np.round(np.clip(value, *spec["clip"]), spec["decimals"])
    for name in tests:
        spec = cat[name]
        if "derive" in spec:
            out[name] = np.round(sum(w * out[t] for t, w in spec["derive"].items()), spec["decimals"])
    return out


def _culture(cfg: Config, enc: Encounters, rows: np.ndarray, rng: np.random.Generator):
    cult = cfg.labs["culture_results"]
    rate = np.array([cfg.scenarios[s].get("labs", {}).get("culture_positive_rate",
                                                            cult["positive_rate"])
                     for s in enc.scenario[rows]])
    positive = rng.random(rows.size) < rate
    u = rng.random(rows.size)
    grown = np.empty(rows.size, dtype=object)
    for scenario in np.unique(enc.scenario[rows]):
        sel = enc.scenario[rows] == scenario
        organisms = cfg.scenarios[scenario].get("labs", {}).get("culture_organisms", cult["positive"])
        cdf = np.cumsum([o["weight"] for o in organisms], dtype=float)
        pick = np.minimum(np.searchsorted(cdf / cdf[-1], u[sel], side="right"), len(organisms) - 1)
        grown[sel] = np.array([o["text"] for o in organisms], dtype=object)[pick]
    text = np.where(positive, grown, cult["negative"]["text"])
    flag = np.where(positive, "A", cult["negative"]["flag"])
    return text, flag


def _patient_baselines(cfg: Config, enc: Encounters, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each patient's own level of each measured test (a scenario may move the population's)."""
    out = {}
    for name, spec in cfg.labs["tests"].items():
        if "baseline" not in spec:
            continue
        base = np.array([cfg.scenarios[s].get("labs", {}).get("values", {}).get(name, {})
                         .get("baseline", spec["baseline"]) for s in enc.scenario], dtype=float)
        z = rng.normal(0, 1, len(enc))
        out[name] = base * np.exp(z * spec["sd"] / spec["baseline"]) if spec["scale"] == "log" \
            else base + z * spec["sd"]
    return out


def generate_labs(cfg: Config, date: dt.date, enc: Encounters, phys: Physiology, vitals: Vitals,
                  rng: np.random.Generator, first_id: int = 1) -> Labs:
    panels = cfg.labs["panels"]
    first_vitals = np.full(len(enc), np.inf)
    np.minimum.at(first_vitals, vitals.enc, vitals.hours)
    first_vitals[np.isinf(first_vitals)] = 0.0
    offsets = _patient_baselines(cfg, enc, rng)
    pending = _scheduled(cfg, date, enc, first_vitals, rng) + _vital_triggers(cfg, enc, vitals, rng)
    parts = []
    fired: dict[tuple[int, int], int] = {}
    for _ in range(TRIGGER_ROUNDS):
        new_parts = []
        for rows, hours, panel in pending:
            if rows.size == 0:
                continue
            tests = panels[panel]["tests"]
            vals = _values(cfg, enc, phys, rows, hours, tests, offsets, rng)
            lo, hi = panels[panel]["turnaround_minutes"]
            result_h = hours + rng.uniform(lo, hi, rows.size) / 60
            new_parts.append((rows, hours, result_h, panel, vals))
        parts.extend(new_parts)
        pending = _lab_triggers(cfg, enc, new_parts, fired, rng)
        if not pending:
            break
    return _assemble(cfg, date, enc, parts, rng, first_id)


def _lab_triggers(cfg: Config, enc: Encounters, parts, fired, rng) -> list:
    los = (enc.discharge - enc.admit) / HOUR
    out = []
    for t_index, (scenario, trig) in enumerate(
            (s, t) for s in sorted(cfg.scenarios)
            for t in cfg.scenarios[s].get("labs", {}).get("triggers", [])):
        terms = trig["when"].get("any", trig["when"].get("all", []))
        if not terms or not all("lab" in t for t in terms):
            continue
        for rows, _, result_h, _, vals in parts:
            if not all(t["lab"] in vals for t in terms):
                continue
            hit = condition_mask(trig["when"], vals) & (enc.scenario[rows] == scenario)
            keep = []
            for i in np.flatnonzero(hit):
                key = (t_index, int(rows[i]))
                if fired.get(key, 0) < trig["max"]:
                    fired[key] = fired.get(key, 0) + 1
                    keep.append(i)
            keep = np.asarray(keep, dtype=np.int64)
            h = result_h[keep] + rng.uniform(*trig["delay_hours"], keep.size)
            ok = h <= los[rows[keep]]
            for panel in trig["order"]:
                out.append((rows[keep][ok], h[ok], panel))
    return out


def _assemble(cfg: Config, date: dt.date, enc: Encounters, parts, rng, first_id: int) -> Labs:
    cat, panels = cfg.labs["tests"], cfg.labs["panels"]
    cols: dict[str, list] = {k: [] for k in ("enc", "hours", "result_h", "panel", "test", "value")}
    for rows, hours, result_h, panel, vals in parts:
        for name in panels[panel]["tests"]:
            cols["enc"].append(rows)
            cols["hours"].append(hours)
            cols["result_h"].append(result_h)
            cols["panel"].append(np.full(rows.size, panel, dtype=object))
            cols["test"].append(np.full(rows.size, name, dtype=object))
            cols["value"].append(vals[name])
    flat = {k: (np.concatenate(v) if v else np.array([])) for k, v in cols.items()}
    e = flat["enc"].astype(np.int64)
    collect = enc.admit[e] + np.round(flat["hours"] * HOUR).astype(np.int64)
    result = enc.admit[e] + np.round(flat["result_h"] * HOUR).astype(np.int64)
    result = np.maximum(result, collect + 60)
    test_order = {name: i for i, name in enumerate(cat)}
    order = np.lexsort((np.array([test_order[t] for t in flat["test"]], dtype=np.int64),
                        collect, e))
    e, collect, result = e[order], collect[order], result[order]
    test, panel, value = flat["test"][order], flat["panel"][order], flat["value"][order]
    spec = [cat[t] for t in test]
    ref = np.array([s.get("ref", [np.nan, np.nan]) for s in spec], dtype=float).reshape(-1, 2)
    crit = np.array([[np.nan if c is None else c for c in s.get("critical", [None, None])]
                     for s in spec], dtype=float).reshape(-1, 2)
    flag = np.full(e.size, "N", dtype=object)
    flag[value < ref[:, 0]] = "L"
    flag[value > ref[:, 1]] = "H"
    flag[value < crit[:, 0]] = "LL"
    flag[value > crit[:, 1]] = "HH"
    text = np.full(e.size, None, dtype=object)
    is_culture = np.array([bool(s.get("categorical")) for s in spec], dtype=bool)
    if is_culture.any():
        text[is_culture], flag[is_culture] = _culture(cfg, enc, e[is_culture], rng)
    n = e.size
    table = {
        "lab_id": row_ids("LAB", date, first_id, n, 7),
        "encounter_id": enc.table["encounter_id"][e],
        "patient_id": enc.table["patient_id"][e],
        "event_time": collect,
        "result_time": result,
        "panel": panel,
        "loinc_code": np.array([s["loinc"] for s in spec], dtype=object),
        "test_name": np.array([s["name"] for s in spec], dtype=object),
        "value": value,
        "value_text": text,
        "unit": np.array([s["unit"] for s in spec], dtype=object),
        "ref_low": ref[:, 0],
        "ref_high": ref[:, 1],
        "flag": flag,
    }
    return Labs(table, e, (result - enc.admit[e]) / HOUR, test)
