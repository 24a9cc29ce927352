"""Patient timelines: every registered patient lives one life, derived from the seed and its number.

Patient k is first admitted on its registration day. Each stay's scenario, outcome, diagnosis,
length and discharge are drawn at its admission, from the patient's fixed chronic conditions,
age and sex. After a live discharge the patient comes back either as a readmission (a chance
and a reason set per index scenario, within `readmission.within_days`) or later, after a
gamma-distributed spacing on the *return clock*, which runs so that the registry's admissions
per day follow `volume` x weekday factor. A stay ending in death ends the timeline. A stay
starts on a later day than the previous one ended, so nobody is in two beds.

Stays are drawn in rounds (round i holds every patient's i-th stay) from streams keyed by the
patient block and the round, so a patient's life does not depend on the date asked for: a
day's encounters are the stays admitted that day, whichever run computes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data_generator.config import Config
from data_generator.generators.catalogue import Catalogue, catalogue, pick, pick_weighted
from data_generator.generators.registry import BLOCK, Registry, derive_block
from data_generator.rng import stream
from data_generator.timeutil import DAY, HOUR, local_midnight

CHUNK = 8          # rounds drawn together per patient block
MIN_SPACING = 3.0  # days: the shortest mean return spacing the clock runs at (a registry small for its volume)
(U_SCEN, U_BRANCH, U_DX, U_ACUITY, U_DISPO, U_HOUR, U_SEC, U_DISCH, U_READMIT, U_REASON, U_SIDE, U_GAP,
 U_FIRST, U_EXP) = range(14)
N_UNIFORM = 14
_SCALES: dict[tuple, np.ndarray] = {}


@dataclass(frozen=True)
class Patients:
    """What a timeline needs of each registered patient (row = patient number)."""

    reg_day: np.ndarray      # day index of registration (= first admission)
    rate: np.ndarray         # return-clock rate (frailty, mean 1)
    fit: np.ndarray          # (n, S) relative propensity per scenario (age, sex, conditions)
    has: np.ndarray          # (n, C) chronic conditions

    def __len__(self) -> int:
        return len(self.reg_day)


@dataclass(frozen=True)
class Calendar:
    midnight: np.ndarray     # (L + 1,) epoch seconds of local midnight per day index
    weights: np.ndarray      # (L, S) the day's scenario weights (weekday and season)
    clock: np.ndarray        # (L + 1,) the return clock at each local midnight


@dataclass(frozen=True)
class Stays:
    """Stays of many patients (any order); column arrays of equal length."""

    patient: np.ndarray
    day: np.ndarray          # admission day index
    admit: np.ndarray        # epoch seconds
    discharge: np.ndarray
    scen: np.ndarray         # scenario index
    branch: np.ndarray
    dx: np.ndarray
    acuity: np.ndarray       # ESI value
    dispo: np.ndarray        # disposition index
    prev: np.ndarray         # index (in the same Stays) of the patient's previous stay, -1 for none

    def take(self, rows: np.ndarray) -> Stays:
        return Stays(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class Lives:
    """Every registered patient's stays up to a day, and where each patient stands after it."""

    stays: Stays
    patients: Patients
    calendar: Calendar
    sides: np.ndarray        # once-per-side procedure sides done (bits)
    last_once: np.ndarray    # day index of the last once-per-side procedure
    last_stay: np.ndarray    # index into stays of the patient's latest stay, -1 for none
    alive: np.ndarray


def day_index(cfg: Config, date: dt.date) -> int:
    return (date - cfg.start_date).days


def patient_conditions(cfg: Config, n: int) -> np.ndarray:
    """(n, C) chronic conditions of patients 0..n-1, each derived from the seed and its block."""
    cat = catalogue(cfg)
    blocks = [stream(cfg.seed, "conditions", b).random((BLOCK, len(cat.conditions))) for b in range(-(-n // BLOCK))]
    u = np.concatenate(blocks)[:n] if blocks else np.zeros((0, len(cat.conditions)))
    has = u < cat.prevalence
    for group in cat.exclusive:  # one uniform for the group: at most one member
        edges = np.cumsum(cat.prevalence[group])
        pick_one = np.searchsorted(edges, u[:, group[0]], side="right")
        for j, c in enumerate(group):
            has[:, c] = pick_one == j
    return has


def _fit(cfg: Config, cat: Catalogue, age: np.ndarray, male: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Relative propensity per scenario: scenario age/sex density over the registry's, times the
    condition gate; averaged over the registry each scenario's is about 1, so the mix holds."""
    reg = cfg.generator["registry"]["age"]
    out = np.empty((len(age), len(cat.names)))
    male_share = cfg.generator["registry"]["male_share"]
    for i, name in enumerate(cat.names):
        pop = cfg.scenarios[name]["population"]
        a = pop["age"]
        ll = (-0.5 * ((age - a["mean"]) / a["sd"]) ** 2 + 0.5 * ((age - reg["mean"]) / reg["sd"]) ** 2
              + np.log(reg["sd"] / a["sd"]))
        ll = np.where((age < a["min"]) | (age > a["max"]), -np.inf, np.minimum(ll, 5.0))
        sex = np.where(male, pop["male_share"] / max(male_share, 1e-9),
                       (1 - pop["male_share"]) / max(1 - male_share, 1e-9))
        gate = has @ cat.gate[i] if cat.gated[i] else 1.0
        out[:, i] = np.exp(ll) * sex * gate
    return out


def _age_at_registration(table: dict, registered: np.ndarray) -> np.ndarray:
    return (registered - table["date_of_birth"].astype("datetime64[D]")).astype(np.int64) / 365.25


def _scale(cfg: Config) -> np.ndarray:
    """Per-scenario factors that make the registry-wide mix equal `scenarios.weights` once each
    patient's own mix is normalised: fitted (iterative proportional fitting) on a reference
    block, patients 0..1023, which every config derives the same way."""
    key = (cfg.digest, repr(cfg.generator))
    if key not in _SCALES:
        cat = catalogue(cfg)
        b = derive_block(cfg, 0)
        age = _age_at_registration(b, b["registered_date"].astype("datetime64[D]"))
        fit = _fit(cfg, cat, age, b["sex"] == "M", patient_conditions(cfg, BLOCK))
        target = cat.weights / cat.weights.sum()
        scale = np.ones(len(target))
        for _ in range(60):
            w = fit * scale * target
            share = (w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)).mean(axis=0)
            scale = np.where(share > 0, scale * target / np.maximum(share, 1e-300), scale)
        _SCALES[key] = scale
    return _SCALES[key]


def patients(cfg: Config, registry: Registry) -> Patients:
    n = len(registry)
    has = patient_conditions(cfg, n)
    age = _age_at_registration(registry.table, registry.registered)
    fit = _fit(cfg, catalogue(cfg), age, registry.table["sex"] == "M", has) * _scale(cfg)
    reg_day = (registry.registered - np.datetime64(cfg.start_date, "D")).astype(np.int64)
    sigma = cfg.generator["registry"]["frailty_sigma"]
    return Patients(reg_day, registry.frailty / np.exp(sigma**2 / 2), fit, has)


def calendar(cfg: Config, mode: str, days: int) -> Calendar:
    """Day-by-day quantities for day indices 0..days (each a function of its date alone)."""
    cat = catalogue(cfg)
    gen = cfg.generator
    dates = [cfg.start_date + dt.timedelta(days=d) for d in range(days + 1)]
    midnight = np.array([local_midnight(d, cfg.tz) for d in dates], dtype=np.int64)
    weekday = np.array([d.weekday() for d in dates[:-1]])
    month = np.array([d.month for d in dates[:-1]])
    mix = gen["scenarios"]
    weights = np.tile(cat.weights, (days, 1))
    for i, name in enumerate(cat.names):
        weights[:, i] *= np.asarray(mix.get("weekday", {}).get(name, [1.0] * 7), dtype=float)[weekday]
        season = mix.get("seasonal", {}).get(name)
        if season:
            weights[:, i] *= 1 + season["amplitude"] * np.cos(2 * np.pi * (month - season["peak_month"]) / 12)
    return Calendar(midnight, weights, _clock(cfg, cat, mode, weekday))


def _clock(cfg: Config, cat: Catalogue, mode: str, weekday: np.ndarray) -> np.ndarray:
    """The return clock: per day, the expected returns (the day's volume less its first admissions)
    shared among the patients expected to be alive and at home; readmissions come on top."""
    vol = cfg.generator["volume"]
    daily = vol[mode] * np.asarray(vol["weekday_factor"], dtype=float)[weekday]
    reg = cfg.generator["registry"]
    n = np.minimum(reg["max_total"], (np.arange(weekday.size) + 1) * reg["new_patients_per_day"])
    before = np.concatenate([[0], n[:-1]])
    w = cat.weights / cat.weights.sum()
    p = cat.branch_p / cat.branch_p.sum(axis=1, keepdims=True)
    die = float(w @ (p * cat.die_p).sum(axis=1))
    los_days = float(w @ (p * cat.los[..., 0] * np.exp(cat.los[..., 1] ** 2 / 2)).sum(axis=1)) / 24
    readmit = float(w @ cat.readmit_p) * (1 - die)
    deaths = die * np.concatenate([[0], np.cumsum(daily)[:-1]])
    home = np.maximum(before - deaths - daily * los_days, 1.0)
    spacing = home * (1 + readmit) / np.maximum(daily - (n - before), 1e-9)  # days between returns
    return np.concatenate([[0.0], np.cumsum(1 / np.maximum(spacing - cat.return_min_days - los_days, MIN_SPACING))])


class _Draws:
    """Uniforms, normals and gamma draws for round i of every patient: one stream per patient
    block and chunk of rounds, so a patient's draws never depend on who else is registered."""

    def __init__(self, cfg: Config, mode: str, n: int, shape: float):
        self.cfg, self.mode, self.n, self.shape = cfg, mode, n, shape
        self.chunk, self.data = -1, None

    def round(self, i: int, rows: np.ndarray):
        c, r = divmod(i, CHUNK)
        if c != self.chunk:
            self.chunk, self.data = c, self._build(c, np.unique(rows // BLOCK))
        u, z, g = self.data
        return u[:, r, rows], z[:, r, rows], g[r, rows]

    def _build(self, c: int, blocks: np.ndarray):
        width = (-(-self.n // BLOCK)) * BLOCK
        u = np.zeros((N_UNIFORM, CHUNK, width))
        z = np.zeros((2, CHUNK, width))
        g = np.ones((CHUNK, width))
        for b in blocks.tolist():
            rng = stream(self.cfg.seed, "timeline", self.mode, b, c)
            cols = slice(b * BLOCK, (b + 1) * BLOCK)
            u[:, :, cols] = rng.random((N_UNIFORM, CHUNK, BLOCK))
            z[:, :, cols] = rng.standard_normal((2, CHUNK, BLOCK))
            g[:, cols] = rng.standard_gamma(self.shape, (CHUNK, BLOCK)) / self.shape
        return u, z, g


def draw_stays(cfg: Config, cal: Calendar, pats: Patients, rows: np.ndarray, day: np.ndarray,
               forced: np.ndarray, sides: np.ndarray, last_once: np.ndarray, u: np.ndarray,
               z_los: np.ndarray) -> Stays:
    """One stay for each patient `rows` admitted on `day` (scenario `forced` where >= 0, else drawn
    from the day's mix and the patient's propensity); scen is -1 where none is possible."""
    cat = catalogue(cfg)
    m = rows.size
    w = cal.weights[day] * pats.fit[rows]
    if cat.once >= 0:
        ok = (sides != 3) & ((sides == 0) | (day - last_once >= cat.once_min_days))
        w[:, cat.once] *= ok
    scen = np.where(forced >= 0, forced, pick_weighted(w, u[U_SCEN]))
    s = np.maximum(scen, 0)
    branch = pick(cat.branch_cum[s], u[U_BRANCH])
    dxw = cat.dx_w[s].copy()
    need = cat.dx_cond[s]
    dxw *= (need < 0) | pats.has[rows[:, None], np.maximum(need, 0)]
    side = cat.dx_side[s]
    dxw *= (side == 0) | ((side & ~sides[:, None]) != 0)
    dxw = np.where(dxw.sum(axis=1, keepdims=True) > 0, dxw, cat.dx_w[s])
    dx = pick_weighted(dxw, u[U_DX])
    acuity = cat.acuity_vals[np.minimum(pick(cat.acuity_cum[s, branch], u[U_ACUITY]), len(cat.acuity_vals) - 1)]
    dispo = np.minimum(pick(cat.dispo_cum[s, branch], u[U_DISPO]), len(cat.dispo_vals) - 1)
    med, sig, lo, hi = np.moveaxis(cat.los[s, branch], -1, 0)
    los_h = np.clip(med * np.exp(sig * z_los), lo, hi)
    hour = np.minimum(pick(cat.arrival_cum[cat.route[s]], u[U_HOUR]), 23)
    length = np.minimum(cal.midnight[day + 1] - cal.midnight[day], DAY + HOUR)
    admit = cal.midnight[day] + np.minimum(hour * HOUR + (u[U_SEC] * HOUR).astype(np.int64), length - 60)
    discharge = admit + np.round(los_h * HOUR).astype(np.int64)
    lo_h, hi_h = cfg.generator["discharge_local_hours"]
    at = np.searchsorted(cal.midnight, discharge, side="right") - 1
    moved = cal.midnight[at] + np.round((lo_h + (hi_h - lo_h) * u[U_DISCH]) * HOUR).astype(np.int64)
    planned = (dispo != cat.expired()) & (discharge - admit >= DAY)
    discharge = np.where(planned & (moved - admit >= DAY // 2), moved, discharge)
    return Stays(rows, day, admit, discharge, scen, branch, dx, acuity, dispo, np.full(m, -1))


def derive_lives(cfg: Config, mode: str, registry: Registry, date: dt.date) -> Lives:
    """Every registered patient's stays admitted on or before `date`."""
    cat = catalogue(cfg)
    last = day_index(cfg, date)
    pats = patients(cfg, registry)
    n = len(pats)
    reach = int(np.ceil(cat.los[..., 3].max() / 24)) + cat.within_days + 3
    cal = calendar(cfg, mode, last + reach)
    day = pats.reg_day.copy()
    forced = np.full(n, -1)
    sides, last_once = np.zeros(n, dtype=np.int64), np.full(n, -(10**6))
    prev, alive = np.full(n, -1), np.ones(n, dtype=bool)
    draws = _Draws(cfg, mode, n, cat.spacing_shape)
    eligible = (~cat.gated[None, :]) | (pats.has.astype(float) @ cat.gate.T > 0)
    parts, offset = [], 0
    rows, i = np.flatnonzero(day <= last), 0
    expired = cat.expired()
    while rows.size:
        u, z, g = draws.round(i, rows)
        st = draw_stays(cfg, cal, pats, rows, day[rows], forced[rows], sides[rows], last_once[rows], u, z[0])
        ok = st.scen >= 0
        kept = st.take(np.flatnonzero(ok))
        k = kept.patient
        parts.append(Stays(*(getattr(kept, f) for f in Stays.__dataclass_fields__ if f != "prev"), prev[k]))
        prev[k] = offset + np.arange(k.size)
        offset += k.size
        _mark_once(cat, kept, u[U_SIDE][ok], sides, last_once)
        alive[k[kept.dispo == expired]] = False
        day[rows], forced[rows] = _comeback(cat, cal, pats.rate[rows], eligible[rows], st, day[rows], u, z[1],
                                            g, i == 0, last)
        rows = rows[alive[rows] & (day[rows] <= last)]
        i += 1
    stays = _concat(parts, n)
    return Lives(stays, pats, cal, sides, last_once, prev, alive)


def _mark_once(cat: Catalogue, kept: Stays, coin_u: np.ndarray, sides: np.ndarray, last_once: np.ndarray) -> None:
    """Record the side of each once-per-side procedure (a bilateral code takes the side not yet done)."""
    if cat.once < 0:
        return
    hip = kept.scen == cat.once
    k = kept.patient[hip]
    bits = cat.dx_side[cat.once, kept.dx[hip]]
    done = sides[k]
    coin = np.where(coin_u[hip] < 0.5, 1, 2)
    sides[k] = done | np.where(bits == 3, np.where(done == 0, coin, 3 & ~done), bits)
    last_once[k] = kept.day[hip]


def _comeback(cat: Catalogue, cal: Calendar, rate: np.ndarray, eligible: np.ndarray, st: Stays, day: np.ndarray,
              u: np.ndarray, z_gap: np.ndarray, g: np.ndarray, first: bool, last: int):
    """Each patient's next admission day and its forced scenario (-1 unless a readmission)."""
    ok = st.scen >= 0
    end = np.searchsorted(cal.midnight, st.discharge, side="right") - 1
    s = np.maximum(st.scen, 0)
    reason = pick_weighted(cat.reason_w[s] * eligible, u[U_REASON])
    readmit = ok & (u[U_READMIT] < cat.readmit_p[s]) & (reason >= 0)
    gap_med, gap_sig = cat.gap_days
    wanted = gap_med * np.exp(gap_sig * z_gap)
    gap = np.where(wanted <= cat.within_days, np.clip(np.round(wanted), 1, cat.within_days),
                   1 + np.floor(u[U_GAP] * cat.within_days)).astype(np.int64)  # no pile-up at the limit
    if first:  # the first return after registration: the stationary (length-biased) residual wait
        g = u[U_FIRST] * (g * cat.spacing_shape - np.log1p(-u[U_EXP])) / cat.spacing_shape
    start = np.minimum(np.where(ok, end, day) + cat.return_min_days, len(cal.clock) - 1)
    later = np.searchsorted(cal.clock, cal.clock[start] + g / np.maximum(rate, 1e-9), side="right") - 1
    later = np.where(later >= len(cal.clock) - 1, last + 1, later)  # beyond the horizon
    return np.where(readmit, end + gap, np.maximum(later, start)), np.where(readmit, reason, -1)


def _concat(parts: list[Stays], n: int) -> Stays:
    fields = list(Stays.__dataclass_fields__)
    if not parts:
        return Stays(*(np.zeros(0, dtype=np.int64) for _ in fields))
    return Stays(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))
