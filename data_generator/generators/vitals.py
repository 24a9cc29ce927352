"""Step 4: charted vital signs, derived from each encounter's physiology.

Charting times follow the cadence of the unit the patient is in at that hour (the admitting
unit until a transfer), moving to the escalated cadence while the patient is sick enough;
values are baseline + state effects + day/night rhythm + autocorrelated noise (DBP correlated
with SBP), then coupled (fever raises heart and breathing rate, MAP from SBP and DBP, oxygen
titrated to the SpO2 target up the scenario's device ladder), kept inside their bounds
smoothly (no clamp) and rounded as charted.
Treatments given (interventions.py) add their effects from the hour they start.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from data_generator import news2
from data_generator.config import Config
from data_generator.generators import blood_gas
from data_generator.generators.encounters import Encounters
from data_generator.generators.interventions import (
    Interventions,
    care_units_at,
    oxygen_ladders,
    oxygen_levels,
    vital_effects,
)
from data_generator.generators.physiology import (
    Moments,
    Physiology,
    effect,
    lab_pull,
    soft_bound,
    soft_floor,
    variant_at,
)
from data_generator.generators.timeline import ar1_noise, expand, table_ids
from data_generator.timeutil import DAY, HOUR, utc_offsets

LATENT = ("heart_rate", "resp_rate", "sbp", "dbp", "spo2", "temp_c", "pain_score", "mentation")
ROOM_AIR_FIO2 = 0.21  # the fraction of oxygen in air: physics, where the device ladder and the FiO2 column start


@dataclass(frozen=True)
class Grid:
    """Every hour a set could be charted, with the untreated latent values there (before
    coupling and clipping) and the charting draws (time jitter, missed items) of every hour, so
    that a set charted in both the untreated and the treated chart (interventions.py) is charted
    the same in both."""

    owner: np.ndarray
    pos: np.ndarray
    hours: np.ndarray
    epoch: np.ndarray
    raw: np.ndarray          # (LATENT, rows)
    base_temp: np.ndarray    # per encounter
    noise_spo2: np.ndarray
    jitter: np.ndarray       # hours
    missed: dict[str, np.ndarray]
    charts: list = field(default_factory=list)  # the first chart made from the grid, for later ones


@dataclass(frozen=True)
class _GridChart:
    """A chart on every grid hour, before missed items are blanked: what it was made from (the
    physiology and transfers), its columns (the text ones as codes into `labels`) and which
    hours are charted."""

    physiology: Physiology
    transfers: Interventions | None
    table: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    keep: np.ndarray

    def columns(self, at: np.ndarray) -> dict[str, np.ndarray]:
        """The columns at grid hours `at`, text as text."""
        return _labelled({k: np.take(v, at) for k, v in self.table.items()}, self.labels)


@dataclass(frozen=True)
class Vitals:
    table: dict[str, np.ndarray]
    enc: np.ndarray      # encounter row of each vitals set
    hours: np.ndarray    # hours since admission
    grid: Grid | None = None  # what the sets were charted from (reused by the treated chart)


def charting_grid(cfg: Config, enc: Encounters, phys: Physiology,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every hour a set could be charted: (encounter, position, hours since admission)."""
    lo, hi = cfg.generator["charting"]["first_vitals_minutes"]
    first_h = rng.uniform(lo, hi, len(enc)) / 60.0
    slots = np.floor(np.maximum(phys.los_hours - first_h, 0)).astype(np.int64) + 1
    owner, pos = expand(slots)
    return owner, pos, first_h[owner] + pos


def charted(cfg: Config, unit: np.ndarray, pos: np.ndarray, news2_score: np.ndarray) -> np.ndarray:
    """Which grid hours are charted: the cadence of the unit the patient is in at that hour
    (`unit`: index into the sorted care_units), hourly-ish while NEWS2 is high (F1, F3)."""
    units = cfg.generator["care_units"]
    names = sorted(units)
    every = np.array([units[u]["vitals_every_hours"] for u in names])[unit]
    escalated = np.array([units[u]["escalated_every_hours"] for u in names])[unit]
    sick = news2_score >= cfg.generator["charting"]["escalate_at_news2"]
    return (pos % every == 0) | (sick & (pos % escalated == 0))


def _params(cfg: Config, scenario: str, name: str) -> dict:
    base = cfg.vitals["vitals"][name]
    return {**base, **cfg.scenarios[scenario].get("vitals", {}).get(name, {})}


def generate_vitals(cfg: Config, date: dt.date, enc: Encounters, phys: Physiology,
                    rng: np.random.Generator, first_id: int | None = 1,
                    transfers: Interventions | None = None, grid: Grid | None = None) -> Vitals:
    """The charted sets; `transfers` (kind "transfer", detail = destination) move the unit.
    Given the `grid` of an earlier chart of the same encounters, only the treatments in
    `phys` and the transfers are added to it."""
    grid = grid or latent_grid(cfg, enc, phys, rng)
    return _charted_sets(cfg, date, enc, phys, grid, first_id, transfers)


def latent_grid(cfg: Config, enc: Encounters, phys: Physiology, rng: np.random.Generator) -> Grid:
    owner, pos, hours = charting_grid(cfg, enc, phys, rng)
    cat = cfg.vitals
    defaults = [cat["vitals"][v] for v in LATENT]
    tau = np.array([d["autocorr_hours"] for d in defaults])
    noise = _correlated(cat, ar1_noise(owner, hours, tau, np.ones(len(LATENT)), rng).T)  # scaled below
    limit = cat["person_sd_limit"]
    person_z = np.clip(_correlated(cat, rng.normal(0, 1, (len(enc), len(LATENT))).T), -limit, limit)
    epoch = enc.admit[owner] + np.round(hours * HOUR).astype(np.int64)
    second = (epoch + utc_offsets(epoch, cfg.tz)) % DAY  # of the local day
    scenarios, code = enc.scenario_codes
    row_code = np.take(code, owner)
    by_scenario = np.argsort(row_code, kind="stable")
    bounds = np.searchsorted(row_code[by_scenario], np.arange(scenarios.size + 1))
    params = [[_params(cfg, scenario, name) for name in LATENT] for scenario in scenarios.tolist()]
    pull = np.zeros((len(LATENT), owner.size))
    for i, scenario in enumerate(scenarios.tolist()):
        rows = by_scenario[bounds[i]:bounds[i + 1]]  # the scenario's grid rows, in order
        moments = Moments(phys, owner[rows], hours[rows])
        for j, name in enumerate(LATENT):
            pulled = _pull(cfg, scenario, name, params[i][j], phys, moments)
            if pulled is not None:
                pull[j, rows] = pulled
    raw = np.empty((len(LATENT), owner.size))
    base_temp = noise_spo2 = None
    waves: dict[float, np.ndarray] = {}  # the day/night wave of each peak hour the vitals share
    for j, name in enumerate(LATENT):
        def per_row(key: str, j: int = j) -> np.ndarray | float:
            """The scenarios' `key` of this vital at each grid row (one number where they agree)."""
            values = np.array([p[j][key] for p in params], dtype=float)
            return float(values[0]) if (values == values[0]).all() else np.take(values, row_code)
        baseline, sd = (np.array([p[j][key] for p in params], dtype=float) for key in ("baseline", "sd"))
        person = baseline[code] + person_z[j] * sd[code]
        noisy = noise[j] * per_row("noise")
        amplitude, peak = per_row("circadian"), per_row("circadian_peak_hour")
        if isinstance(peak, float) and peak not in waves:
            waves[peak] = np.take(_day_wave(peak), second)
        level = person[owner]
        if not (isinstance(amplitude, float) and amplitude == 0):  # no rhythm: adding zeros changes nothing
            level += amplitude * (waves[peak] if isinstance(peak, float) else _wave(second / HOUR, peak))
        level += pull[j]
        if name == "temp_c":
            base_temp = person
        if name == "spo2":
            noise_spo2 = noisy
        np.add(noisy, level, out=raw[j])
    jitter = rng.uniform(-1, 1, owner.size) * cfg.generator["charting"]["jitter_minutes"] / 60.0
    return Grid(owner, pos, hours, epoch, raw, base_temp, noise_spo2, jitter, _missed(cfg, owner.size, rng))


@functools.cache
def _day_wave(peak: float) -> np.ndarray:
    """The day/night wave peaking at `peak` o'clock at each second of the local day, made once
    per peak hour (read-only: every chunk shares it)."""
    wave = _wave(np.arange(DAY) / HOUR, peak)
    wave.flags.writeable = False
    return wave


def _wave(clock: np.ndarray, peak: float | np.ndarray) -> np.ndarray:
    """The day/night wave at `clock` (local hours): 1 at the `peak` hour, -1 twelve hours later."""
    return np.cos(2 * np.pi * (clock - peak) / 24)


def _charted_sets(cfg: Config, date: dt.date, enc: Encounters, phys: Physiology, grid: Grid,
                  first_id: int | None, transfers: Interventions | None) -> Vitals:
    keep, columns = _grid_chart(cfg, enc, phys, grid, transfers)
    kept = np.flatnonzero(keep)
    owner, pos, hours, jitter = grid.owner[kept], grid.pos[kept], grid.hours[kept], grid.jitter[kept]
    table = {"encounter_id": np.take(enc.table["encounter_id"], owner),
             "patient_id": np.take(enc.table["patient_id"], owner),
             **columns(kept)}
    _drop_missing(table, {name: mask[kept] for name, mask in grid.missed.items()})
    hours = np.clip(np.where(pos == 0, hours, hours + jitter), 0.0, phys.los_hours[owner])
    table["event_time"] = enc.admit[owner] + np.round(hours * HOUR).astype(np.int64)
    n = owner.size
    table["vital_id"] = table_ids("vitals", date, first_id, n)
    return Vitals(table, owner, hours, grid)


def _grid_chart(cfg: Config, enc: Encounters, phys: Physiology, grid: Grid, transfers: Interventions | None
                ) -> tuple[np.ndarray, Callable[[np.ndarray], dict[str, np.ndarray]]]:
    """The chart on the grid: which hours are charted, and its columns at given (sorted) grid
    hours. Each encounter's chart depends on its own physiology and transfers alone, so a later
    chart from the same grid (the treated one) takes the first chart's rows of the encounters
    whose physiology and transfers are the same, and charts the others."""
    if not grid.charts:
        table, labels, keep = _chart_rows(cfg, enc, phys, grid, np.arange(grid.owner.size), transfers)
        grid.charts.append(_GridChart(phys, transfers, table, labels, keep))
        return keep, grid.charts[0].columns
    first = grid.charts[0]
    changed = _changed_encounters(first.physiology, phys, first.transfers, transfers, len(enc))
    rows = np.flatnonzero(changed[grid.owner])
    if rows.size == 0:
        return first.keep.copy(), first.columns
    part, labels, part_keep = _chart_rows(cfg, enc, phys, grid, rows, transfers)
    keep = first.keep.copy()
    keep[rows] = part_keep

    def columns(at: np.ndarray) -> dict[str, np.ndarray]:
        table = {k: np.take(v, at) for k, v in first.table.items()}
        slot = np.minimum(np.searchsorted(rows, at), rows.size - 1)
        anew = np.flatnonzero(rows[slot] == at)  # the hours charted again
        for k, v in table.items():
            v[anew] = part[k][slot[anew]]
        return _labelled(table, labels)
    return keep, columns


def _labelled(table: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`table` with its text columns (codes into `labels`) as text."""
    return {k: np.take(labels[k], v) if k in labels else v for k, v in table.items()}


def _changed_encounters(old: Physiology, new: Physiology, old_transfers: Interventions | None,
                        new_transfers: Interventions | None, n: int) -> np.ndarray:
    """Encounters whose physiology (any state's course) or transfers differ between two charts."""
    if not (np.array_equal(old.los_hours, new.los_hours) and old.variants.keys() == new.variants.keys()
            and all(np.array_equal(old.variants[k], new.variants[k]) for k in old.variants)):
        return np.ones(n, dtype=bool)
    changed = np.zeros(n, dtype=bool)
    for state in {*old.knot_hours, *new.knot_hours}:
        if state in old.knot_hours and state in new.knot_hours:
            a_t, a_v, b_t, b_v = (old.knot_hours[state], old.knot_values[state],
                                  new.knot_hours[state], new.knot_values[state])
            if a_t is b_t and a_v is b_v:  # the course itself, carried over
                continue
            if a_t.shape != b_t.shape or a_v.shape != b_v.shape:
                return np.ones(n, dtype=bool)
            changed |= (a_t != b_t).any(axis=1) | (a_v != b_v).any(axis=1)
        else:  # a state only one has is zero throughout for encounters whose values are all zero
            values = (old if state in old.knot_values else new).knot_values[state]
            changed |= (values != 0).any(axis=1)
    for moves in (old_transfers, new_transfers):
        if moves is not None:
            changed[moves.enc] = True
    return changed


def _chart_rows(cfg: Config, enc: Encounters, phys: Physiology, grid: Grid, rows: np.ndarray,
                transfers: Interventions | None
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The chart at grid `rows` (all hours of the encounters they hold): its columns, before missed
    items are blanked (the text ones as codes into the labels returned), and which rows are
    charted."""
    every = rows.size == grid.owner.size  # (rows are distinct)

    def at_rows(values: np.ndarray) -> np.ndarray:
        return values if every else np.take(values, rows, axis=-1)
    owner, pos, hours, epoch = at_rows(grid.owner), at_rows(grid.pos), at_rows(grid.hours), at_rows(grid.epoch)
    cat = cfg.vitals
    raw = at_rows(grid.raw)
    effects = vital_effects(cfg, phys, owner, hours, LATENT)  # zero before treatments; None without any
    v = dict(zip(LATENT, raw if effects is None else raw + effects, strict=True))  # read, never written
    couple = cat["coupling"]
    fever = v["temp_c"] - grid.base_temp[owner]
    v["heart_rate"] = v["heart_rate"] + couple["heart_rate_per_degc"] * fever
    v["resp_rate"] = v["resp_rate"] + couple["resp_rate_per_degc"] * fever
    for name in LATENT:
        lo, hi = cat["vitals"][name]["clip"]
        v[name] = soft_bound(v[name], lo, hi, cat["vitals"][name]["soft_margin"])
    pulse = soft_floor(v["sbp"] - v["dbp"], couple["min_pulse_pressure"], couple["pulse_pressure_margin"])
    v["dbp"] = v["sbp"] - pulse
    spo2_trend = v["spo2"] - at_rows(grid.noise_spo2)
    unit = care_units_at(sorted(cfg.generator["care_units"]), enc, transfers, owner, hours)
    avpu = _avpu(cfg, v["mentation"])
    device, devices, fio2, spo2, on_oxygen = _oxygen(cfg, enc, owner, hours, v, spo2_trend,
                                                     _expected_gas(cfg, enc, phys, owner, hours))
    table = _chart(epoch, v, unit, avpu, device, fio2, spo2)
    levels = np.asarray(cat["consciousness"]["levels"], dtype=object)
    labels = {"consciousness": levels, "o2_device": devices,
              "care_unit": np.array(sorted(cfg.generator["care_units"]), dtype=object)}
    unable = np.take(np.isin(levels, cat["consciousness"]["pain_not_charted"]), avpu)
    table["pain_score"] = np.where(unable, np.nan, table["pain_score"])  # cannot self-report pain
    scale2 = news2.uses_scale2(cfg.scenarios, enc.scenario)[owner]
    score = news2.score(table, cat["news2"], scale2, on_oxygen, np.take(news2.less_than_alert(levels), avpu))
    return table, labels, charted(cfg, unit, pos, score)


def _oxygen(cfg: Config, enc: Encounters, owner: np.ndarray, hours: np.ndarray, v: dict[str, np.ndarray],
            spo2_trend: np.ndarray, gas: dict[str, np.ndarray]):
    """Oxygen as titrated by staff on the hourly grid: started when the underlying SpO2 on air
    (its trend, not one noisy reading) falls below the scenario's target, on the rung of the
    scenario's device ladder whose FiO2 can bring it back into the target range (or a higher rung
    for work of breathing), titrated toward the middle of the range within the device's limits,
    weaned only after the need has fallen for a while (interventions.py). SpO2 follows the FiO2
    given. Returns the device charted (a code into the device names, also returned), FiO2 and
    SpO2 charted and the rows NEWS2 scores as on oxygen."""
    ox = cfg.vitals["oxygen"]
    ladder = oxygen_ladders(cfg, enc, owner)  # its `code`: each row's place among the sorted scenarios
    target = np.array([cfg.scenarios[s].get("oxygen_target", ox["target_spo2"])
                       for s in enc.scenario_codes[0].tolist()], dtype=float)  # in the ladder's order
    low, middle = np.take(target[:, 0], ladder["code"]), np.take(target.mean(axis=1), ladder["code"])
    gain = ox["spo2_gain_per_fio2"]
    enough = ROOM_AIR_FIO2 + (low - spo2_trend) / gain      # a device is outgrown below the target
    level = oxygen_levels(cfg, ladder, owner, enough, spo2_trend < low, v["resp_rate"],
                          v["mentation"], hours, gas)
    on = np.flatnonzero(level)  # the rows given oxygen; the others breathe room air
    at = ladder["code"][on] * ladder["name"].shape[1] + (level[on] - 1)  # (scenario, rung), flat
    pick = {k: np.take(ladder[k].ravel(), at) for k in ("min_fio2", "max_fio2", "step")}
    needed = ROOM_AIR_FIO2 + (middle[on] - spo2_trend[on]) / gain   # titrated toward mid-target
    fio2 = np.full(owner.size, ROOM_AIR_FIO2)
    fio2[on] = np.clip(np.ceil(needed / pick["step"] - 1e-9) * pick["step"], pick["min_fio2"], pick["max_fio2"])
    names = np.append(ladder["name"].ravel(), np.array(["room_air"], dtype=object))
    device = np.full(owner.size, names.size - 1)
    device[on] = at
    given = np.zeros(owner.size, dtype=bool)
    given[on] = np.take(news2.oxygen_given(names), at)  # what the device column says
    spo2 = v["spo2"].copy()
    spo2[on] += gain * (fio2[on] - ROOM_AIR_FIO2)
    return (device, names, np.round(fio2, 2), np.clip(spo2, cfg.vitals["vitals"]["spo2"]["clip"][0], 100),
            given)


def _expected_gas(cfg: Config, enc: Encounters, phys: Physiology, owner: np.ndarray,
                  hours: np.ndarray) -> dict[str, np.ndarray]:
    """The arterial pH and PaCO2 the states imply at each grid row (the scenario's level, without
    the patient's own offset or assay noise), for scenarios whose oxygen ladder waits for a
    respiratory acidosis; NaN elsewhere."""
    out = {"ph": np.full(owner.size, np.nan), "paco2": np.full(owner.size, np.nan)}
    every, of = enc.scenario_codes
    waits = [bool(cfg.scenarios[s].get("interventions", {}).get("oxygen", {}).get("acidosis_for"))
             for s in every.tolist()]
    names = [s for s, w in zip(every.tolist(), waits, strict=True) if w]
    if not names:
        return out
    cat, gas = cfg.labs["tests"], cfg.labs["blood_gas"]
    place = np.cumsum(waits) - 1  # each scenario's place in `names` (those that wait)
    row_code = np.take(np.where(waits, place, -1), np.take(of, owner))
    rows = np.flatnonzero(row_code >= 0)
    moments = Moments(phys, owner[rows], hours[rows])
    groups = [(s, np.flatnonzero(row_code[rows] == i)) for i, s in enumerate(names)]
    level = {}
    for role in ("bicarbonate", "paco2"):
        name = gas["tests"][role]
        base, pull = lab_pull(cfg, moments, groups, name)
        level[role] = base * np.exp(pull) if cat[name]["scale"] == "log" else base + pull
    share = np.array([cfg.scenarios[s].get("labs", {}).get("chronic_hypercapnia_share", 0.0) for s in names],
                     dtype=float)
    chronic = np.zeros(rows.size)
    for s, sel in groups:
        chronic[sel] = share[names.index(s)]
    hco3 = blood_gas.compensated_bicarbonate(level["bicarbonate"], level["paco2"], chronic, gas)
    out["ph"][rows] = blood_gas.henderson_ph(hco3, level["paco2"], gas)
    out["paco2"][rows] = level["paco2"]
    return out


def _correlated(cat: dict, z: np.ndarray) -> np.ndarray:
    """Unit-variance rows of `z` (one per LATENT vital) mixed, in place, so that each declared pair
    shares its correlation (DBP moves with SBP, in the patient's own level and from hour to hour)."""
    for pair in cat["correlation"]:
        a, b = LATENT.index(pair["follows"]), LATENT.index(pair["vital"])
        r = pair["r"]
        z[b] = r * z[a] + np.sqrt(1 - r * r) * z[b]
    return z


def _pull(cfg: Config, scenario: str, name: str, p: dict, phys: Physiology, moments: Moments
          ) -> np.ndarray | None:
    """The states' pull on a vital at `moments`, with a variant's own `at` values for encounters
    presenting so; None where no state pulls it."""
    variants = variant_at(cfg, scenario, "vitals", name, p)
    if not p.get("at") and not variants:
        return None
    out = effect(p["baseline"], p.get("at", {}), moments)
    for variant, at in variants:
        sel = np.flatnonzero(phys.variant(variant, moments.enc))
        out[sel] = effect(p["baseline"], at, moments, sel)
    return out


def _missed(cfg: Config, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Which of `n` grid hours miss each item, were a set charted there."""
    return {name: rng.random(n) < p for name, p in cfg.generator["charting"]["missing_probability"].items()}


def _drop_missing(table: dict[str, np.ndarray], missed: dict[str, np.ndarray]) -> None:
    """Blank the items not charted this time (a missed blood pressure blanks SBP, DBP and MAP)."""
    for name, mask in missed.items():
        for col in (("sbp", "dbp", "map") if name == "sbp" else (name,)):
            table[col][mask] = None if table[col].dtype == object else np.nan


def _avpu(cfg: Config, mentation: np.ndarray) -> np.ndarray:
    """The consciousness level (index into the catalogue's levels) of each latent mentation."""
    return np.searchsorted(cfg.vitals["consciousness"]["thresholds"], mentation, side="right")


def _chart(epoch: np.ndarray, v: dict[str, np.ndarray], unit: np.ndarray, avpu: np.ndarray,
           device: np.ndarray, fio2: np.ndarray, spo2: np.ndarray) -> dict[str, np.ndarray]:
    """The charted columns, the text ones as codes: `avpu` (each row's consciousness level, index
    into the catalogue's levels), `device` (as titrated, with FiO2 and SpO2) and `unit` (index
    into the sorted care units)."""
    sbp, dbp = np.round(v["sbp"]), np.round(v["dbp"])
    table = {  # the encounter and patient IDs go first, added to the sets charted
        "event_time": epoch,
        "heart_rate": np.round(v["heart_rate"]),
        "resp_rate": np.round(v["resp_rate"]),
        "sbp": sbp,
        "dbp": dbp,
        "map": np.round(dbp + (sbp - dbp) / 3),
        "spo2": np.round(spo2),
        "temp_c": np.round(v["temp_c"], 1),
        "consciousness": avpu,
        "o2_device": device,
        "fio2": fio2,
        "pain_score": np.round(v["pain_score"]),
        "care_unit": unit,
    }
    return table
