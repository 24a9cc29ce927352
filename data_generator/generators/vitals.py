"""Step 4: charted vital signs, derived from each encounter's physiology.

Charting times follow the care unit's cadence, moving to the escalated cadence while the
patient is sick enough; values are baseline + state effects + day/night rhythm +
autocorrelated noise (DBP correlated with SBP), then coupled (fever raises heart and
breathing rate, MAP from SBP and DBP, oxygen titrated to the SpO2 target), kept inside their
bounds smoothly (no clamp) and rounded as charted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data_generator import news2
from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.physiology import Physiology, effect, soft_bound, soft_floor, variant_at
from data_generator.generators.timeline import ar1_noise, expand, row_ids
from data_generator.timeutil import HOUR, local_hour

LATENT = ("heart_rate", "resp_rate", "sbp", "dbp", "spo2", "temp_c", "pain_score", "mentation")


@dataclass(frozen=True)
class Vitals:
    table: dict[str, np.ndarray]
    enc: np.ndarray      # encounter row of each vitals set
    hours: np.ndarray    # hours since admission


def charting_grid(cfg: Config, enc: Encounters, phys: Physiology,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every hour a set could be charted: (encounter, position, hours since admission)."""
    lo, hi = cfg.generator["charting"]["first_vitals_minutes"]
    first_h = rng.uniform(lo, hi, len(enc)) / 60.0
    slots = np.floor(np.maximum(phys.los_hours - first_h, 0)).astype(np.int64) + 1
    owner, pos = expand(slots)
    return owner, pos, first_h[owner] + pos


def charted(cfg: Config, enc: Encounters, owner: np.ndarray, pos: np.ndarray,
            news2_score: np.ndarray) -> np.ndarray:
    """Which grid hours are charted: the unit's cadence, hourly-ish while NEWS2 is high (F3)."""
    units = cfg.generator["care_units"]
    every = np.array([units[u]["vitals_every_hours"] for u in enc.table["care_unit"]])
    escalated = np.array([units[u]["escalated_every_hours"] for u in enc.table["care_unit"]])
    sick = news2_score >= cfg.generator["charting"]["escalate_at_news2"]
    return (pos % every[owner] == 0) | (sick & (pos % escalated[owner] == 0))


def _params(cfg: Config, scenario: str, name: str) -> dict:
    base = cfg.vitals["vitals"][name]
    return {**base, **cfg.scenarios[scenario].get("vitals", {}).get(name, {})}


def generate_vitals(cfg: Config, date: dt.date, enc: Encounters, phys: Physiology,
                    rng: np.random.Generator, first_id: int = 1) -> Vitals:
    owner, pos, hours = charting_grid(cfg, enc, phys, rng)
    cat = cfg.vitals
    defaults = [cat["vitals"][v] for v in LATENT]
    tau = np.array([d["autocorr_hours"] for d in defaults])
    raw = _correlated(cat, ar1_noise(owner, hours, tau, np.ones(len(LATENT)), rng))  # scaled below
    person_z = _correlated(cat, rng.normal(0, 1, (len(enc), len(LATENT))))
    epoch = enc.admit[owner] + np.round(hours * HOUR).astype(np.int64)
    clock = local_hour(epoch, cfg.tz)
    base_temp = np.zeros(len(enc))
    noise_spo2 = np.zeros(owner.size)
    for scenario in np.unique(enc.scenario):
        enc_rows = np.flatnonzero(enc.scenario == scenario)
        rows = np.flatnonzero(enc.scenario[owner] == scenario)
        for j, name in enumerate(LATENT):
            p = _params(cfg, scenario, name)
            person = p["baseline"] + person_z[enc_rows, j] * p["sd"]
            per_enc = np.zeros(len(enc))
            per_enc[enc_rows] = person
            if name == "temp_c":
                base_temp[enc_rows] = person
            if name == "spo2":
                noise_spo2[rows] = raw[rows, j] * p["noise"]
            rhythm = p["circadian"] * np.cos(2 * np.pi * (clock[rows] - p["circadian_peak_hour"]) / 24)
            raw[rows, j] *= p["noise"]
            raw[rows, j] += per_enc[owner[rows]] + rhythm + _pull(cfg, scenario, name, p, phys,
                                                                  owner[rows], hours[rows])
    v = dict(zip(LATENT, raw.T, strict=True))
    couple = cat["coupling"]
    fever = v["temp_c"] - base_temp[owner]
    v["heart_rate"] = v["heart_rate"] + couple["heart_rate_per_degc"] * fever
    v["resp_rate"] = v["resp_rate"] + couple["resp_rate_per_degc"] * fever
    for name in LATENT:
        lo, hi = cat["vitals"][name]["clip"]
        v[name] = soft_bound(v[name], lo, hi, cat["vitals"][name]["soft_margin"])
    pulse = soft_floor(v["sbp"] - v["dbp"], couple["min_pulse_pressure"], couple["pulse_pressure_margin"])
    v["dbp"] = v["sbp"] - pulse
    spo2_trend = v["spo2"] - noise_spo2
    table = _chart(cfg, enc, owner, epoch, v, spo2_trend, rng)
    unable = np.isin(table["consciousness"], cat["consciousness"]["pain_not_charted"])
    table["pain_score"] = np.where(unable, np.nan, table["pain_score"])  # cannot self-report pain
    scale2 = news2.uses_scale2(cfg.scenarios, enc.scenario)[owner]
    keep = charted(cfg, enc, owner, pos, news2.score(table, cat["news2"], scale2))
    table = {k: v[keep] for k, v in table.items()}
    owner, pos, hours = owner[keep], pos[keep], hours[keep]
    jitter = rng.uniform(-1, 1, owner.size) * cfg.generator["charting"]["jitter_minutes"] / 60.0
    hours = np.clip(np.where(pos == 0, hours, hours + jitter), 0.0, phys.los_hours[owner])
    table["event_time"] = enc.admit[owner] + np.round(hours * HOUR).astype(np.int64)
    _drop_missing(cfg, table, rng)
    n = owner.size
    table["vital_id"] = row_ids("VIT", date, first_id, n, 7)
    return Vitals(table, owner, hours)


def _oxygen(cfg: Config, enc: Encounters, owner: np.ndarray, spo2_air: np.ndarray,
            spo2_trend: np.ndarray, rng: np.random.Generator):
    """Oxygen as titrated by staff: started when the underlying SpO2 on air (its trend, not one
    noisy reading) falls below the scenario's target, at the FiO2 that restores the target."""
    ox = cfg.vitals["oxygen"]
    target = np.array([cfg.scenarios[s].get("oxygen_target", ox["target_spo2"])
                       for s in enc.scenario], dtype=float)[owner]
    gain = ox["spo2_gain_per_fio2"]
    needed = 0.21 + (target.mean(axis=1) - spo2_trend) / gain
    on_o2 = spo2_trend < target[:, 0]
    device = np.full(owner.size, "room_air", dtype=object)
    fio2 = np.full(owner.size, 0.21)
    remaining = on_o2.copy()
    for i, d in enumerate(ox["devices"]):
        last = i == len(ox["devices"]) - 1
        pick = remaining & ((needed <= d["max_fio2"]) | last)
        step = d["step"]
        fio2[pick] = np.clip(np.ceil(needed[pick] / step - 1e-9) * step, d["min_fio2"], d["max_fio2"])
        device[pick] = d["name"]
        remaining &= ~pick
    spo2 = np.where(on_o2, spo2_air + gain * (fio2 - 0.21), spo2_air)
    return device, np.round(fio2, 2), np.clip(spo2, cfg.vitals["vitals"]["spo2"]["clip"][0], 100)


def _correlated(cat: dict, z: np.ndarray) -> np.ndarray:
    """Unit-variance columns of `z` mixed so that each declared pair shares its correlation
    (DBP moves with SBP, in the patient's own level and from hour to hour)."""
    z = z.copy()
    for pair in cat["correlation"]:
        a, b = LATENT.index(pair["follows"]), LATENT.index(pair["vital"])
        r = pair["r"]
        z[:, b] = r * z[:, a] + np.sqrt(1 - r * r) * z[:, b]
    return z


def _pull(cfg: Config, scenario: str, name: str, p: dict, phys: Physiology, enc: np.ndarray,
          hours: np.ndarray) -> np.ndarray:
    """The states' pull on a vital, with a variant's own `at` values for encounters presenting so."""
    out = effect(p["baseline"], p.get("at", {}), phys, enc, hours)
    for variant, at in variant_at(cfg, scenario, "vitals", name, p):
        sel = phys.variant(variant, enc)
        out[sel] = effect(p["baseline"], at, phys, enc[sel], hours[sel])
    return out


def _drop_missing(cfg: Config, table: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Blank the items not charted this time (a missed blood pressure blanks SBP, DBP and MAP)."""
    n = len(table["event_time"])
    for name, p in cfg.generator["charting"]["missing_probability"].items():
        mask = rng.random(n) < p
        for col in (("sbp", "dbp", "map") if name == "sbp" else (name,)):
            table[col] = np.where(mask, None if table[col].dtype == object else np.nan, table[col])


def _chart(cfg: Config, enc: Encounters, owner: np.ndarray, epoch: np.ndarray,
           v: dict[str, np.ndarray], spo2_trend: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    device, fio2, spo2 = _oxygen(cfg, enc, owner, v["spo2"], spo2_trend, rng)
    levels = np.asarray(cfg.vitals["consciousness"]["levels"], dtype=object)
    avpu = levels[np.searchsorted(cfg.vitals["consciousness"]["thresholds"], v["mentation"],
                                  side="right")]
    sbp, dbp = np.round(v["sbp"]), np.round(v["dbp"])
    table = {
        "encounter_id": enc.table["encounter_id"][owner],
        "patient_id": enc.table["patient_id"][owner],
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
    }
    return table
