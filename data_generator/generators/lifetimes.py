"""Patient timelines: every registered patient lives one life, derived from the seed and its number.

Patient k is first admitted on its registration day. Each stay's scenario, outcome, diagnosis,
length and discharge are drawn at its admission, from the patient's fixed chronic conditions,
age and sex. After a live discharge the patient comes back either as a readmission (on each of
the `readmission.within_days` days after discharge with the chance that gives the index
scenario's rate and gap distribution, for a reason set per index scenario) or as a return: the
first of the patient's *return candidates* at least `return_min_days` after discharge. The
candidates are a Poisson process on the *return clock*, which runs so that the registry's
admissions per day follow `volume` x weekday factor. A stay ending in death ends the timeline,
and a stay starts on a later day than the previous one ended, so nobody is in two beds.

Every draw is addressed rather than sequential (`rng.uniforms`): a stay's by patient and stay
number, a readmission chance by patient and day, the return candidates by patient and clock
unit. A patient can be admitted on day D only if registered on D, if one of its return
candidates falls on D, or if its readmission draw for D is below the highest readmission
chance; so a day derives the timelines of those few patients alone (`day_lives`), and its cost
does not grow with the days before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data_generator.config import Config
from data_generator.generators.catalogue import Catalogue, catalogue, pick, pick_weighted
from data_generator.generators.registry import BLOCK, Registry, people
from data_generator.generators.timeline import expand
from data_generator.rng import stream, uniforms
from data_generator.timeutil import DAY, HOUR, local_midnight

MIN_SPACING = 3.0  # days: the shortest mean return spacing the clock runs at (a registry small for its volume)
REFERENCE_BLOCKS = 4  # patient blocks the mix factors are fitted on
K_MAX = 16         # return candidates per patient and clock unit at most (a Poisson count; rates are near 1)
READMIT_SLICE = 2048  # patients whose readmission days are drawn together
(U_SCEN, U_BRANCH, U_DX, U_ACUITY, U_DISPO, U_HOUR, U_SEC, U_DISCH, U_REASON, U_SIDE, U_Z1, U_Z2) = range(12)
N_UNIFORM = 12
_SCALES: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


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
    """Some or all registered patients' stays up to a day, and where each stands after it (arrays
    over every registered patient; rows not derived keep their initial values)."""

    stays: Stays
    patients: Patients
    calendar: Calendar
    sides: np.ndarray        # once-per-side procedure sides done (bits)
    last_once: np.ndarray    # day index of the last once-per-side procedure
    last_stay: np.ndarray    # index into stays of the patient's latest stay, -1 for none
    alive: np.ndarray
    everyone: bool           # every registered patient's timeline was derived


def day_index(cfg: Config, date: dt.date) -> int:
    return (date - cfg.start_date).days


def patient_conditions(cfg: Config, age: np.ndarray) -> np.ndarray:
    """(n, C) chronic conditions of patients 0..n-1 (`age`: each one's age at registration), each
    derived from the seed, its block and its age."""
    cat = catalogue(cfg)
    n = len(age)
    blocks = [stream(cfg.seed, "conditions", b).random((BLOCK, len(cat.conditions))) for b in range(-(-n // BLOCK))]
    u = np.concatenate(blocks)[:n] if blocks else np.zeros((0, len(cat.conditions)))
    chance = condition_chance(cfg, age)
    has = u < chance
    for group in cat.exclusive:  # one uniform for the group: at most one member
        pick_one = (np.cumsum(chance[:, group], axis=1) <= u[:, group[0], None]).sum(axis=1)
        for j, c in enumerate(group):
            has[:, c] = pick_one == j
    return has


def condition_chance(cfg: Config, age: np.ndarray) -> np.ndarray:
    """(n, C) chance of each condition at each age of registration: the registry-wide share, times
    (for a condition with an age profile) its age density over the registry's, normalised so that
    the registry-wide share holds."""
    cat = catalogue(cfg)
    reg = cfg.generator["registry"]["age"]
    grid = np.linspace(reg["min"], reg["max"], 1001)
    weight = np.exp(-0.5 * ((grid - reg["mean"]) / reg["sd"]) ** 2)  # the registry's (truncated) ages

    def ratio(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
        log = -0.5 * ((x - mean) / sd) ** 2 + 0.5 * ((x - reg["mean"]) / reg["sd"]) ** 2
        return (reg["sd"] / sd) * np.exp(np.minimum(log, 50.0))  # capped at 1 below in any case

    out = np.tile(cat.prevalence, (len(age), 1))
    for c in np.flatnonzero(~np.isnan(cat.condition_age[:, 0])):
        mean, sd = cat.condition_age[c]
        norm = np.sum(weight * np.minimum(cat.prevalence[c] * ratio(grid, mean, sd), 1.0)) / weight.sum()
        out[:, c] = np.minimum(cat.prevalence[c] * ratio(age, mean, sd), 1.0) * cat.prevalence[c] / max(norm, 1e-12)
    return np.minimum(out, 1.0)


def _fit(cfg: Config, cat: Catalogue, age: np.ndarray, male: np.ndarray, has: np.ndarray,
         gate: np.ndarray) -> np.ndarray:
    """Relative propensity per scenario: scenario age/sex density over the registry's, times the
    condition gate (S, C); averaged over the registry each scenario's is about 1, so the mix holds."""
    return _gated(cat, _demographic_fit(cfg, cat, age, male), has, gate)


def _demographic_fit(cfg: Config, cat: Catalogue, age: np.ndarray, male: np.ndarray) -> np.ndarray:
    """`_fit` before the condition gate: the scenario's age/sex density over the registry's."""
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
        out[:, i] = np.exp(ll) * sex
    return out


def _gated(cat: Catalogue, density: np.ndarray, has: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """`density` (patients, scenarios) times each gated scenario's condition gate."""
    out = density.copy()
    for i in np.flatnonzero(cat.gated):
        out[:, i] = density[:, i] * _gate_sum(has, gate[i])
    return out


def _gate_sum(has: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """`has @ gate`: per patient, the sum of its conditions' gates, added in condition order (a sum
    of one or two terms, as the shipped scenarios have, is the same in any order)."""
    out = np.zeros(len(has))
    for c in np.flatnonzero(gate).tolist():
        out += np.where(has[:, c], gate[c], 0.0)
    return out


def _age_at_registration(table: dict, registered: np.ndarray) -> np.ndarray:
    return (registered - table["date_of_birth"].astype("datetime64[D]")).astype(np.int64) / 365.25


def _fitted(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Per-scenario factors and condition gates such that, once each patient's own mix is
    normalised, the registry-wide mix equals `scenarios.weights` and a gated scenario's stays
    split among its conditions as `timelines.requires` says (as far as the patients allow):
    fitted by iterative proportional fitting on a reference set, patients 0..4095, which every
    config derives the same way."""
    key = (cfg.digest, repr(cfg.generator))
    if key not in _SCALES:
        cat = catalogue(cfg)
        registered, born, male = people(cfg, REFERENCE_BLOCKS * BLOCK)
        age = _age_at_registration({"date_of_birth": born}, registered)
        has = patient_conditions(cfg, age).astype(float)
        target = cat.weights / cat.weights.sum()
        wanted = cat.gate * cat.prevalence[None, :]  # each condition's share of a gated scenario's stays
        wanted /= np.maximum(wanted.sum(axis=1, keepdims=True), 1e-300)
        scale, gate = np.ones(len(target)), cat.gate.copy()
        density = _demographic_fit(cfg, cat, age, male)
        gated = np.flatnonzero(cat.gated).tolist()
        sets = {i: _condition_sets(has, cat.gate[i]) for i in gated}
        holders = [np.flatnonzero(has[:, c]) for c in range(has.shape[1])]
        terms = {i: [(c, holders[c], sets[i][1][holders[c]]) for c in np.flatnonzero(cat.gate[i]).tolist()]
                 for i in gated}
        for _ in range(60):
            p = density.copy()  # `_gated`, each gate summed once per set of conditions
            for i, (patterns, which) in sets.items():
                p[:, i] = density[:, i] * _gate_sum(patterns, gate[i])[which]
            p *= scale
            p *= target
            total = p.sum(axis=1, keepdims=True)
            p /= np.maximum(total, 1e-300, out=total)
            share = p.mean(axis=0)
            scale = np.where(share > 0, scale * target / np.maximum(share, 1e-300), scale)
            for i in gated:  # stays of scenario i, split by the condition that licensed them
                patterns = sets[i][0]
                part = patterns * gate[i][None, :]
                part /= np.maximum(part.sum(axis=1, keepdims=True), 1e-300)
                got = _column_sums(p[:, i], part, terms[i])
                got /= max(p[:, i].sum(), 1e-300)
                gate[i] = np.where(got > 0, gate[i] * wanted[i] / np.maximum(got, 1e-300), gate[i])
        _SCALES[key] = scale, gate
    return _SCALES[key]


def _condition_sets(has: np.ndarray, gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct sets of a gated scenario's conditions (`gate`'s nonzero columns) that patients
    `has`, as rows of `has`'s width with the other conditions cleared, and each patient's set."""
    cols = np.flatnonzero(gate)
    held = has[:, cols] != 0
    packed = np.ascontiguousarray(np.packbits(held, axis=1))  # each patient's set as bytes
    keys = packed.view(f"V{packed.shape[1]}").ravel() if cols.size else np.zeros(len(has), "V1")
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    patterns = np.zeros((len(first), has.shape[1]))
    patterns[:, cols] = held[first]
    return patterns, which


def _column_sums(weight: np.ndarray, part: np.ndarray, terms: list[tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
    """`(weight[:, None] * part[which]).sum(axis=0)` on the columns of `terms` (zero elsewhere), from
    each column's nonzero terms alone: `terms` holds each column, the rows whose conditions include it
    and those rows' sets of conditions (`which`). A running sum over them in row order makes the
    same additions as the column's sum, whose other terms are zeros."""
    out = np.zeros(part.shape[1])
    for c, rows, sets in terms:
        if rows.size:
            out[c] = np.cumsum(weight[rows] * part[sets, c])[-1]
    return out


def patients(cfg: Config, registry: Registry, rows: np.ndarray | None = None) -> Patients:
    """Every registered patient's timeline inputs; the scenario propensity only for `rows` if given
    (zero elsewhere: a day needs it for the patients it derives)."""
    n = len(registry)
    everyone = _age_at_registration(registry.table, registry.registered)
    has = patient_conditions(cfg, everyone)
    rows = np.arange(n) if rows is None else rows
    age = everyone[rows]
    scale, gate = _fitted(cfg)
    fit = np.zeros((n, len(catalogue(cfg).names)))
    fit[rows] = _fit(cfg, catalogue(cfg), age, registry.table["sex"][rows] == "M", has[rows], gate) * scale
    return Patients(_reg_day(cfg, registry), _rate(cfg, registry), fit, has)


def _reg_day(cfg: Config, registry: Registry) -> np.ndarray:
    return (registry.registered - np.datetime64(cfg.start_date, "D")).astype(np.int64)


def _rate(cfg: Config, registry: Registry) -> np.ndarray:
    """Each patient's return-clock rate: frailty scaled to mean 1."""
    return registry.frailty / np.exp(cfg.generator["registry"]["frailty_sigma"] ** 2 / 2)


def calendar(cfg: Config, mode: str, days: int) -> Calendar:
    """Day-by-day quantities for day indices 0..days (each a function of its date alone)."""
    cat = catalogue(cfg)
    gen = cfg.generator
    start = cfg.start_date
    dates = [start + dt.timedelta(days=d) for d in range(days + 1)]
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


def stay_uniforms(cfg: Config, mode: str, rows: np.ndarray, number: int) -> tuple[np.ndarray, np.ndarray]:
    """(N_UNIFORM, m) uniforms and (m,) normals for stay `number` of patients `rows`."""
    u = uniforms(cfg.seed, f"stay {mode}", np.arange(N_UNIFORM)[:, None], rows[None, :], number)
    z = np.sqrt(-2 * np.log1p(-u[U_Z1])) * np.cos(2 * np.pi * u[U_Z2])  # Box-Muller
    return u, z


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
    hour = np.minimum(_pick_in_rows(cat.arrival_cum, cat.route[s], u[U_HOUR]), 23)
    length = np.minimum(cal.midnight[day + 1] - cal.midnight[day], DAY + HOUR)
    admit = cal.midnight[day] + np.minimum(hour * HOUR + (u[U_SEC] * HOUR).astype(np.int64), length - 60)
    discharge = admit + np.round(los_h * HOUR).astype(np.int64)
    lo_h, hi_h = cfg.generator["discharge_local_hours"]
    at = np.searchsorted(cal.midnight, discharge, side="right") - 1
    moved = cal.midnight[at] + np.round((lo_h + (hi_h - lo_h) * u[U_DISCH]) * HOUR).astype(np.int64)
    planned = (dispo != cat.expired()) & (discharge - admit >= DAY)
    discharge = np.where(planned & (moved - admit >= DAY // 2), moved, discharge)
    return Stays(rows, day, admit, discharge, scen, branch, dx, acuity, dispo, np.full(m, -1))


def _pick_in_rows(cum: np.ndarray, row: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`pick(cum[row], u)` for a table of few rows: each row bisected at its uniforms."""
    out = np.zeros(len(u), dtype=np.int64)
    for r in range(len(cum)):
        at = np.flatnonzero(row == r)
        out[at] = np.searchsorted(cum[r], u[at], side="right")
    return out


def derive_lives(cfg: Config, mode: str, registry: Registry, date: dt.date) -> Lives:
    """Every registered patient's stays admitted on or before `date` (for analysis and for choosing
    who is free on an override day; a day's own stays need only `day_lives`)."""
    return _everyone(cfg, mode, registry, *_horizon(cfg, mode, date))


def _everyone(cfg: Config, mode: str, registry: Registry, cal: Calendar, last: int) -> Lives:
    """`derive_lives` on the calendar `_horizon` gives."""
    pats = patients(cfg, registry)
    return _derive(cfg, mode, pats, cal, last, np.arange(len(pats)))


def day_lives(cfg: Config, mode: str, registry: Registry, date: dt.date, at_least: int = 0) -> Lives:
    """The timelines, up to `date`, of the patients who may be admitted on `date` (a superset of those
    who are); everyone's if fewer than `at_least` may be (a day of more stays than its own needs them)."""
    cal, last = _horizon(cfg, mode, date)
    rows = day_candidates(cfg, mode, _reg_day(cfg, registry), _rate(cfg, registry), cal, last)
    if rows.size < at_least:
        return _everyone(cfg, mode, registry, cal, last)
    return _derive(cfg, mode, patients(cfg, registry, rows), cal, last, rows)


def _horizon(cfg: Config, mode: str, date: dt.date) -> tuple[Calendar, int]:
    """The calendar far enough past `date` to place the discharge of any stay admitted by then."""
    cat = catalogue(cfg)
    last = day_index(cfg, date)
    reach = int(np.ceil(cat.los[..., 3].max() / 24)) + cat.within_days + 3
    return calendar(cfg, mode, last + reach), last


def _derive(cfg: Config, mode: str, pats: Patients, cal: Calendar, last: int, rows: np.ndarray) -> Lives:
    """Patients `rows`' stays admitted on or before day `last`, one stay number at a time."""
    cat = catalogue(cfg)
    n = len(pats)
    day = pats.reg_day.copy()
    forced = np.full(n, -1)
    sides, last_once = np.zeros(n, dtype=np.int64), np.full(n, -(10**6))
    prev, alive = np.full(n, -1), np.ones(n, dtype=bool)
    eligible = np.zeros((n, len(cat.names)), dtype=bool)  # the scenarios each patient can have
    eligible[rows] = True
    has = pats.has[rows]
    for i in np.flatnonzero(cat.gated).tolist():  # a gated scenario needs one of its conditions
        eligible[rows, i] = has[:, cat.gate[i] > 0].any(axis=1)
    parts, offset = [], 0
    everyone = rows.size == n
    rows, number = rows[day[rows] <= last], 0
    expired = cat.expired()
    while rows.size:
        u, z = stay_uniforms(cfg, mode, rows, number)
        st = draw_stays(cfg, cal, pats, rows, day[rows], forced[rows], sides[rows], last_once[rows], u, z)
        ok = st.scen >= 0
        kept = st.take(np.flatnonzero(ok))
        k = kept.patient
        parts.append(Stays(*(getattr(kept, f) for f in Stays.__dataclass_fields__ if f != "prev"), prev[k]))
        prev[k] = offset + np.arange(k.size)
        offset += k.size
        _mark_once(cat, kept, u[U_SIDE][ok], sides, last_once)
        alive[k[kept.dispo == expired]] = False
        day[rows], forced[rows] = _next_stay(cfg, mode, cat, cal, pats.rate[rows], eligible[rows], st, u, last)
        rows = rows[alive[rows] & (day[rows] <= last)]
        number += 1
    return Lives(_concat(parts), pats, cal, sides, last_once, prev, alive, everyone)


def day_candidates(cfg: Config, mode: str, reg_day: np.ndarray, rate: np.ndarray, cal: Calendar, d: int) -> np.ndarray:
    """Registered patients who may be admitted on day `d`: registered that day, with a return
    candidate that day, or with a readmission draw that day below the highest readmission chance."""
    cat = catalogue(cfg)
    known = np.flatnonzero(reg_day < d)
    lo, hi = cal.clock[d], cal.clock[d + 1]
    hit = np.zeros(known.size, dtype=bool)
    for unit in range(int(lo), int(np.ceil(hi))):
        owner, pos = _candidates(cfg, mode, known, np.full(known.size, unit), rate[known])
        hit[owner[(pos >= lo) & (pos < hi)]] = True
    readmit = uniforms(cfg.seed, f"readmit {mode}", known, d) < cat.readmit_hazard.max()
    return np.union1d(known[hit | readmit], np.flatnonzero(reg_day == d))


def _candidates(cfg: Config, mode: str, rows: np.ndarray, unit: np.ndarray,
                rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's return candidates in clock unit [unit, unit + 1): a Poisson count of mean `rate`,
    placed uniformly. (owner, position) pairs, owner the index into `rows`, in owner order."""
    name = f"returns {mode}"
    u = uniforms(cfg.seed, name, rows, unit, 0)
    count = np.zeros(rows.size, dtype=np.int64)
    p = np.exp(-rate)
    below = p.copy()  # P(count <= k)
    for k in range(1, K_MAX + 1):  # inverse CDF
        more = u >= below
        if not more.any():
            break
        count += more
        p = p * rate / k
        below = below + p
    owner, k = expand(count)  # candidate k + 1 of its owner
    return owner, unit[owner] + uniforms(cfg.seed, name, rows[owner], unit[owner], k + 1)


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


def _next_stay(cfg: Config, mode: str, cat: Catalogue, cal: Calendar, rate: np.ndarray, eligible: np.ndarray,
               st: Stays, u: np.ndarray, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's next admission day (last + 1 if after `last`) and its forced scenario (-1 unless
    a readmission). A patient with no stay drawn (scen -1) returns as if discharged that day. A
    readmission's reason follows the index scenario's `reasons` times the day's weekday and season
    factors, among the scenarios the patient can have (none possible: no readmission)."""
    ok = st.scen >= 0
    end = np.where(ok, np.searchsorted(cal.midnight, st.discharge, side="right") - 1, st.day)
    s = np.maximum(st.scen, 0)
    gap = _readmission_gap(cfg, mode, cat, st.patient, end, s)
    day = np.minimum(end + np.maximum(gap, 1), len(cal.weights) - 1)
    reason = np.full(len(s), -1)  # -1: no readmission drawn, or none possible
    may = np.flatnonzero(ok & (gap > 0))
    factor = cal.weights[day[may]] / np.where(cat.weights > 0, cat.weights, 1.0)
    reason[may] = pick_weighted(cat.reason_w[s[may]] * eligible[may] * factor, u[U_REASON][may])
    start = end + cat.return_min_days
    back = np.full(len(s), last + 1)  # the return, where a readmission does not come first for sure
    unsure = np.flatnonzero((reason < 0) | (day >= start) | (day > last))
    back[unsure] = _return_day(cfg, mode, cal, st.patient[unsure], rate[unsure], start[unsure], last)
    readmit = (reason >= 0) & (day <= back)
    return np.minimum(np.where(readmit, day, back), last + 1), np.where(readmit, reason, -1)


def _readmission_gap(cfg: Config, mode: str, cat: Catalogue, patient: np.ndarray, end: np.ndarray,
                     scen: np.ndarray) -> np.ndarray:
    """Days from each patient's discharge (on day `end`, after a stay of scenario `scen`) to the first
    day whose readmission draw is below the scenario's chance for it; 0 for none within
    `within_days`. Drawn for a slice of patients at a time, small enough for the CPU's cache."""
    days = np.arange(1, cat.within_days + 1)
    hazard = cat.readmit_hazard[:, 1:]
    out = np.zeros(len(patient), dtype=np.int64)
    for start in range(0, len(patient), READMIT_SLICE):
        at = slice(start, start + READMIT_SLICE)
        hit = uniforms(cfg.seed, f"readmit {mode}", patient[at, None], end[at, None] + days[None, :]) < hazard[scen[at]]
        out[at] = np.where(hit.any(axis=1), np.argmax(hit, axis=1) + 1, 0)
    return out


def _return_day(cfg: Config, mode: str, cal: Calendar, rows: np.ndarray, rate: np.ndarray, start: np.ndarray,
                last: int) -> np.ndarray:
    """The day of each patient's first return candidate on or after day `start` (last + 1 if after `last`)."""
    out = np.full(rows.size, last + 1)
    todo = np.flatnonzero(start <= last)
    x = cal.clock[start[todo]]
    unit = np.floor(x).astype(np.int64)
    end = cal.clock[last + 1]
    while todo.size:
        owner, pos = _candidates(cfg, mode, rows[todo], unit, rate[todo])
        first = np.full(todo.size, np.inf)
        np.minimum.at(first, owner, np.where(pos >= x[owner], pos, np.inf))
        found = first < end
        out[todo[found]] = np.searchsorted(cal.clock, first[found], side="right") - 1
        more = ~found & (unit + 1 < end)
        todo, x, unit = todo[more], x[more], unit[more] + 1
    return out


def _concat(parts: list[Stays]) -> Stays:
    fields = list(Stays.__dataclass_fields__)
    if not parts:
        return Stays(*(np.zeros(0, dtype=np.int64) for _ in fields))
    return Stays(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))
