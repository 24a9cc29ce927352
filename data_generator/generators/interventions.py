"""Treatments as timed events of an encounter (fluids, vasopressors, oxygen escalation,
transfusion, transfers between units), caused by the chart and changing the patient.

The chart is made twice from the same random streams. The first, untreated chart shows what
staff would see: a charted MAP below the scenario's threshold after fluids starts norepinephrine,
sustained NEWS2 >= 7 moves a ward patient to the ICU, a stable ICU patient steps down to the
ward before discharge. Treatments become latent states (`norepinephrine`, `red_cells`) added to
the Physiology; they are zero until the treatment starts, so every value charted before a start,
the trigger included, is the same in the second, final chart, which adds their effects. Oxygen
devices are titrated set by set in the vitals step; their runs are read back from the final
chart. Treatments that follow resulted labs (transfusion, insulin, furosemide, potassium,
antibiotics) are in lab_treatments.py.

The `Interventions` shape is what the rest of the pipeline reads (notes test their treatment
claims against it). A day without intervention rules has `Interventions.none()`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from data_generator import news2
from data_generator.claims import TRANSFER
from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.physiology import FAR, Physiology
from data_generator.generators.timeline import table_ids
from data_generator.timeutil import HOUR

EXPIRED = "expired"


@dataclass(frozen=True)
class Interventions:
    enc: np.ndarray        # encounter row of each event (int64); sorted by encounter, then start
    hours: np.ndarray      # start, hours since admission
    end_hours: np.ndarray  # end, hours since admission (equal to `hours` for a one-off, e.g. a unit of blood)
    kind: np.ndarray       # catalogue name of the treatment, e.g. "norepinephrine", "red_cells", "niv"
    detail: np.ndarray     # what the chart says beyond the kind (dose, destination unit); "" if nothing

    def __len__(self) -> int:
        return len(self.enc)

    @staticmethod
    def none() -> Interventions:
        return Interventions(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, object),
                             np.zeros(0, object))

    @staticmethod
    def join(parts: list[Interventions]) -> Interventions:
        """All events of `parts`, sorted by encounter, then start, then kind."""
        parts = [p for p in parts if len(p)] or [Interventions.none()]
        enc, hours, end, kind, detail = (np.concatenate([getattr(p, f) for p in parts])
                                         for f in ("enc", "hours", "end_hours", "kind", "detail"))
        order = np.lexsort((kind.astype(str), hours, enc))
        return Interventions(enc[order].astype(np.int64), hours[order], end[order],
                             kind[order].astype(object), detail[order].astype(object))

    def of(self, kind: str) -> Interventions:
        keep = self.kind == kind
        return Interventions(self.enc[keep], self.hours[keep], self.end_hours[keep],
                             self.kind[keep], self.detail[keep])


@dataclass(frozen=True)
class Course:
    """What the untreated chart set in motion: the treated physiology and the events so far."""

    physiology: Physiology
    events: Interventions

    @property
    def transfers(self) -> Interventions:
        return self.events.of(TRANSFER)


def rules(cfg: Config, scenario: str) -> dict:
    return cfg.scenarios[scenario].get("interventions", {})


# ---------------------------------------------------------------- helpers on per-encounter rows

def first_hours(owner: np.ndarray, hours: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Hours of the first row per encounter where `mask` holds (NaN where none); rows sorted."""
    out = np.full(n, np.nan)
    idx = np.flatnonzero(mask)
    if idx.size:
        owners, first = np.unique(owner[idx], return_index=True)
        out[owners] = hours[idx[first]]
    return out


def _last(owner: np.ndarray, hours: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Hours of the last row per encounter where `mask` holds (NaN where none); rows sorted."""
    out = np.full(n, np.nan)
    idx = np.flatnonzero(mask)[::-1]
    if idx.size:
        owners, first = np.unique(owner[idx], return_index=True)
        out[owners] = hours[idx[first]]
    return out


def _shifted(values: np.ndarray, owner: np.ndarray, step: int, fill) -> np.ndarray:
    """values[i - step] where that row belongs to the same encounter, else `fill`."""
    out = np.full(values.shape, fill, dtype=values.dtype)
    if step < values.size:
        same = owner[step:] == owner[:-step]
        out[step:] = np.where(same, values[:-step], fill)
    return out


def rule_array(cfg: Config, enc: Encounters, section: str, key: str, default=np.nan) -> np.ndarray:
    """Per encounter: the scenario's `interventions.<section>.<key>` (default where not declared)."""
    names, code = enc.scenario_codes
    values = np.array([rules(cfg, s).get(section, {}).get(key, default) for s in names.tolist()], dtype=object)
    return np.take(values, code, axis=0)


def uniform_rows(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One draw per row between `lo` and `hi` (as `row_bounds` gives them)."""
    return lo + rng.random(lo.size) * (hi - lo)


def row_bounds(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lows and highs of an (n, 2) array of [low, high] (zeros where the row has no bounds)."""
    lo = np.array([b[0] if isinstance(b, list) else 0.0 for b in bounds], dtype=float)
    hi = np.array([b[1] if isinstance(b, list) else 0.0 for b in bounds], dtype=float)
    return lo, hi


def _grid_snap(first_h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The first half hour between charting-grid hours at or after `t` (charted sets, jittered by
    less than half an hour, then fall clearly on one side of a move)."""
    return first_h + np.ceil(t - first_h - 0.5) + 0.5


# ---------------------------------------------------------------- latent treatment states

def with_ramps(phys: Physiology, state: str, enc: np.ndarray, t0: np.ndarray, t1: np.ndarray,
               delta: np.ndarray) -> Physiology:
    """`phys` plus a latent state that is the sum of ramps: each moves the state by `delta`
    between hours `t0` and `t1` of its encounter (zero before the first ramp)."""
    n = len(phys.los_hours)
    order = np.lexsort((t0, enc))
    enc, t0, t1, delta = enc[order], t0[order], np.maximum(t1[order], t0[order]), delta[order]
    counts = np.bincount(enc, minlength=n)
    m = int(counts.max()) if counts.size else 0
    width = 2 * m + 2
    knots = np.full((n, width), FAR)
    knots[:, 0] = 0.0
    slot = np.arange(enc.size) - (np.cumsum(counts) - counts)[enc]
    knots[enc, 1 + 2 * slot] = t0
    knots[enc, 2 + 2 * slot] = t1
    knots = np.sort(knots, axis=1)
    ramp_t0 = np.full((n, max(m, 1)), FAR)
    ramp_t1 = np.full((n, max(m, 1)), FAR + 1)
    ramp_d = np.zeros((n, max(m, 1)))
    ramp_t0[enc, slot], ramp_t1[enc, slot], ramp_d[enc, slot] = t0, t1, delta
    frac = np.clip((knots[:, :, None] - ramp_t0[:, None, :])
                   / np.maximum(ramp_t1 - ramp_t0, 1e-9)[:, None, :], 0.0, 1.0)
    values = (frac * ramp_d[:, None, :]).sum(axis=2)
    names = tuple(sorted({*phys.names, state}))
    return dataclasses.replace(phys, names=names, knot_hours={**phys.knot_hours, state: knots},
                               knot_values={**phys.knot_values, state: values})


def vital_effects(cfg: Config, phys: Physiology, owner: np.ndarray, hours: np.ndarray,
                  names: tuple[str, ...]) -> np.ndarray | None:
    """(vitals, rows) added by the treatments' latent states (zero where none is given; None
    where the physiology has none of the states)."""
    given = [(state, spec) for state, spec in cfg.interventions.get("treatments", {}).items()
             if state in phys.knot_hours and spec.get("vitals")]
    if not given:
        return None
    out = np.zeros((len(names), owner.size))
    for state, spec in given:
        level = phys.at(state, owner, hours)
        for vital, delta in spec["vitals"].items():
            out[names.index(vital)] += delta * level
    return out


# ---------------------------------------------------------------- oxygen ladders (vitals step)

def oxygen_ladders(cfg: Config, enc: Encounters, owner: np.ndarray) -> dict[str, np.ndarray]:
    """The device ladder of each scenario as padded (scenario, rung) arrays: name, FiO2 range,
    step and the work-of-breathing thresholds that escalate to each rung, with `size` rungs per
    scenario; `code`: each row's scenario there."""
    ox = cfg.interventions["oxygen"]
    names = enc.scenario_codes[0].tolist()
    ladders = {s: rules(cfg, s).get("oxygen", {}).get("ladder", ox["default_ladder"]) for s in names}
    breathing = {s: rules(cfg, s).get("oxygen", {}).get("resp_rate_at_least", {}) for s in names}
    width = max((len(lad) for lad in ladders.values()), default=1)
    acidosis = {s: rules(cfg, s).get("oxygen", {}).get("acidosis_for", {}) for s in names}
    table = {k: np.full((len(names), width), fill) for k, fill in
             (("min_fio2", 1.0), ("max_fio2", 1.0), ("step", 0.05), ("rr", np.inf),
              ("mentation", np.inf), ("ph_below", np.nan), ("paco2_above", np.nan), ("not_before", 0.0))}
    table["name"] = np.full((len(names), width), "", dtype=object)
    table["size"] = np.array([len(ladders[s]) for s in names])
    for i, s in enumerate(names):
        for j, device in enumerate(ladders[s]):
            spec = ox["devices"][device]
            table["name"][i, j] = device
            table["min_fio2"][i, j], table["max_fio2"][i, j] = spec["min_fio2"], spec["max_fio2"]
            table["step"][i, j] = spec["step"]
            table["rr"][i, j] = breathing[s].get(device, spec.get("resp_rate_at_least", np.inf))
            table["mentation"][i, j] = spec.get("mentation_at_least", np.inf)
            gate = acidosis[s].get(device)
            if gate:
                table["ph_below"][i, j], table["paco2_above"][i, j] = gate["ph_below"], gate["paco2_above"]
                table["not_before"][i, j] = gate["not_before_hours"]
    table["code"] = np.take(enc.scenario_codes[1], owner)
    return table


def oxygen_levels(cfg: Config, ladder: dict[str, np.ndarray], owner: np.ndarray, need: np.ndarray,
                  on_o2: np.ndarray, resp_rate: np.ndarray, mentation: np.ndarray, hours: np.ndarray,
                  gas: dict[str, np.ndarray]) -> np.ndarray:
    """Rung of the ladder per hourly grid row (0 = room air): the first device whose FiO2 covers
    the need, or higher for work of breathing, as judged at the previous hour (so the set that
    called for it shows the low SpO2 or the fast breathing first; the arrival hour uses its
    own need); a rung kept for a respiratory acidosis (`acidosis_for`) needs the `gas` (pH,
    PaCO2) to show one, and not before its hour, else the rung below serves; kept until the
    need has been lower for `wean_after_hours`."""
    on = np.flatnonzero(on_o2)  # the rows needing oxygen at all: the others are on room air
    code = ladder["code"][on]

    def rung(key: str, j: int) -> np.ndarray:
        return np.take(ladder[key][:, j], code)
    width = ladder["rr"].shape[1]
    size = np.take(ladder["size"], code)
    need_on = need[on]
    by_fio2 = sum((rung("max_fio2", j) < need_on).astype(np.int64) for j in range(width))
    level_on = np.minimum(by_fio2, size - 1) + 1
    rr_on, mentation_on = resp_rate[on], mentation[on]
    for j in range(width):
        hard = (rr_on >= rung("rr", j)) | (mentation_on >= rung("mentation", j))
        level_on = np.where(hard & (j < size), np.maximum(level_on, j + 1), level_on)
    for j in reversed(range(width)):
        gated = ~np.isnan(rung("ph_below", j))
        if gated.any():
            acidotic = ((gas["ph"][on] < rung("ph_below", j)) & (gas["paco2"][on] > rung("paco2_above", j))
                        & (hours[on] >= rung("not_before", j)))
            level_on = np.where(gated & (level_on == j + 1) & ~acidotic, j, level_on)
    level = np.zeros(owner.size, dtype=np.int64)
    level[on] = level_on
    kept = _shifted(level, owner, 1, -1)
    kept = np.where(kept < 0, level, kept)
    given = np.flatnonzero(level)  # only a rung given holds a later hour's
    for step in range(2, int(cfg.interventions["oxygen"]["wean_after_hours"]) + 2):
        source = given[given + step < owner.size]
        source = source[owner[source + step] == owner[source]]
        kept[source + step] = np.maximum(kept[source + step], level[source])
    return kept


def oxygen_events(owner: np.ndarray, hours: np.ndarray, device: np.ndarray) -> Interventions:
    """Each run of charted sets on one device, from its first set to the set that changed it."""
    n = owner.size
    if n == 0:
        return Interventions.none()
    device = np.asarray(device, dtype=object)
    starts = np.ones(n, dtype=bool)
    starts[1:] = (owner[1:] != owner[:-1]) | (device[1:] != device[:-1])
    first = np.flatnonzero(starts)
    last = np.append(first[1:] - 1, n - 1)
    after = last + 1
    same_enc = (after < n) & (owner[np.minimum(after, n - 1)] == owner[last])
    end = np.where(same_enc, hours[np.minimum(after, n - 1)], hours[last])
    keep = news2.oxygen_given(device[first])
    return Interventions(owner[first][keep].astype(np.int64), hours[first][keep], end[keep],
                         device[first][keep], np.full(int(keep.sum()), "", dtype=object))


# ---------------------------------------------------------------- from the untreated chart

def plan(cfg: Config, enc: Encounters, phys: Physiology, owner: np.ndarray, hours: np.ndarray,
         chart: dict[str, np.ndarray], rng: np.random.Generator) -> Course:
    """Fluids, vasopressors and transfers decided from the untreated charted sets (`owner`,
    `hours`, `chart` columns as in vitals.csv, sorted by encounter then time)."""
    n = len(enc)
    los = phys.los_hours
    first_h = first_hours(owner, hours, np.ones(owner.size, bool), n)
    first_h = np.where(np.isnan(first_h), 0.0, first_h)
    mean_map = np.asarray(chart["map"], dtype=float)
    shock_events, pressor = _shock(cfg, enc, owner, hours, mean_map, los, rng)
    scale2 = news2.uses_scale2(cfg.scenarios, enc.scenario)[owner]
    score = news2.score(chart, cfg.vitals["news2"], scale2)
    up = _transfer_up(cfg, enc, owner, hours, score, pressor, first_h, los, rng)
    if len(pressor) and len(up):  # a vasopressor started on the ward runs from the ICU arrival
        moved = np.full(n, -np.inf)
        moved[up.enc] = up.hours
        begin = np.maximum(pressor.hours, moved[pressor.enc])
        pressor = dataclasses.replace(pressor, hours=begin, end_hours=np.maximum(pressor.end_hours, begin))
    down = _step_down(cfg, enc, owner, hours, score, chart["o2_device"], pressor, up, first_h, los, rng)
    transfers = Interventions.join([up, down])
    treated = phys
    if len(pressor):
        spec = cfg.interventions["treatments"]["norepinephrine"]
        start, stop = pressor.hours, pressor.end_hours
        treated = with_ramps(phys, "norepinephrine", np.concatenate([pressor.enc, pressor.enc]),
                             np.concatenate([start, stop]),
                             np.concatenate([start + spec["onset_hours"], stop + spec["offset_hours"]]),
                             np.concatenate([np.ones(len(pressor)), -np.ones(len(pressor))]))
    return Course(treated, Interventions.join([shock_events, pressor, transfers]))


def _shock(cfg: Config, enc: Encounters, owner: np.ndarray, hours: np.ndarray, mean_map: np.ndarray,
           los: np.ndarray, rng: np.random.Generator) -> tuple[Interventions, Interventions]:
    """A fluid bolus after the first charted MAP below the threshold (where the scenario gives
    `fluids_delay_hours`); norepinephrine after a low MAP charted at least
    `vasopressor_after_fluids_hours` after the bolus (without a bolus: after the first low MAP),
    until the untreated MAP is at `wean_map_at_least` on two sets in a row (or the end of the stay),
    where the scenario gives `vasopressor_delay_hours` (a bleed gets fluids and blood, not a pressor).
    `fluids_detail` replaces the catalogue's bolus (500 mL after surgery, not sepsis's 30 mL/kg)."""
    n = len(enc)
    threshold = rule_array(cfg, enc, "shock", "map_below").astype(float)
    if np.isnan(threshold).all():
        return Interventions.none(), Interventions.none()
    treat = cfg.interventions["treatments"]
    low = mean_map < threshold[owner]
    t_low = first_hours(owner, hours, low, n)
    bounds = rule_array(cfg, enc, "shock", "fluids_delay_hours", None)
    bolus_first = np.array([b is not None for b in bounds], dtype=bool)  # none in congestion (heart failure)
    fluids = np.where(bolus_first, t_low + uniform_rows(rng, *row_bounds(bounds)), np.nan)
    fluids_end = fluids + rng.uniform(*treat["fluid_bolus"]["duration_hours"], n)
    after = rule_array(cfg, enc, "shock", "vasopressor_after_fluids_hours", 0.0).astype(float)
    t_low2 = first_hours(owner, hours, low & (hours >= np.where(bolus_first, fluids + after, t_low)[owner]), n)
    pressor_bounds = rule_array(cfg, enc, "shock", "vasopressor_delay_hours", None)
    pressor_next = np.array([b is not None for b in pressor_bounds], dtype=bool)  # none after a bleed's fluids
    start = np.where(pressor_next, t_low2 + uniform_rows(rng, *row_bounds(pressor_bounds)), np.nan)
    wean = rule_array(cfg, enc, "shock", "wean_map_at_least").astype(float)
    good = mean_map >= wean[owner]
    settled = good & _shifted(good, owner, 1, False)
    stop = first_hours(owner, hours, settled & (hours > np.nan_to_num(start, nan=FAR)[owner]), n)
    stop = np.minimum(np.where(np.isnan(stop), los, stop), los)
    f = np.flatnonzero(fluids < los)
    p = np.flatnonzero(start < los)
    detail = rule_array(cfg, enc, "shock", "fluids_detail", treat["fluid_bolus"]["detail"])
    bolus = Interventions(f.astype(np.int64), fluids[f], np.minimum(fluids_end[f], los[f]),
                          np.full(f.size, "fluid_bolus", dtype=object), detail[f])
    pressor = Interventions(p.astype(np.int64), start[p], np.maximum(stop[p], start[p]),
                            np.full(p.size, "norepinephrine", dtype=object),
                            np.full(p.size, treat["norepinephrine"]["detail"], dtype=object))
    return bolus, pressor


def _transfer_up(cfg: Config, enc: Encounters, owner: np.ndarray, hours: np.ndarray, score: np.ndarray,
                 pressor: Interventions, first_h: np.ndarray, los: np.ndarray,
                 rng: np.random.Generator) -> Interventions:
    """Ward to ICU on NEWS2 >= the threshold on `sustained_sets` sets in a row charted after
    `after_hours` on the ward, or when a vasopressor starts on the ward."""
    n = len(enc)
    icu_units = set(cfg.interventions["critical_care_units"])
    at_least = rule_array(cfg, enc, "transfer", "news2_at_least", np.inf).astype(float)
    sets = rule_array(cfg, enc, "transfer", "sustained_sets", 1).astype(int)
    on_ward = np.array([u not in icu_units for u in enc.table["care_unit"].tolist()], dtype=bool)
    after = rule_array(cfg, enc, "transfer", "after_hours", 0.0).astype(float)
    high = (score >= at_least[owner]) & (hours >= after[owner])
    run = high.copy()
    for step in range(1, int(sets.max()) if sets.size else 1):
        run &= (sets[owner] <= step) | _shifted(high, owner, step, False)
    delay = row_bounds(rule_array(cfg, enc, "transfer", "delay_hours", None))
    t = first_hours(owner, hours, run, n) + uniform_rows(rng, *delay)
    t_pressor = np.full(n, np.nan)
    t_pressor[pressor.enc] = pressor.hours
    t = np.fmin(t, t_pressor)
    t = _grid_snap(first_h, t)
    dest = rule_array(cfg, enc, "transfer", "icu", "")
    move = np.flatnonzero(on_ward & ~np.isnan(t) & (t < los - 0.5) & (dest != ""))
    return Interventions(move.astype(np.int64), t[move], t[move],
                         np.full(move.size, TRANSFER, dtype=object), dest[move].astype(object))


def _step_down(cfg: Config, enc: Encounters, owner: np.ndarray, hours: np.ndarray, score: np.ndarray,
               device: np.ndarray, pressor: Interventions, up: Interventions, first_h: np.ndarray,
               los: np.ndarray, rng: np.random.Generator) -> Interventions:
    """ICU to the step-down unit once the patient has been stable (no run of
    `step_down_blocked_by_sets` sets at the escalation NEWS2, off vasopressors and ICU-level oxygen)
    for `stable_hours`, after `bed_wait_hours` more (a ward
    bed); one who would move within the last hour of the stay goes home from the unit."""
    n = len(enc)
    icu_units = set(cfg.interventions["critical_care_units"])
    in_icu_from = np.where(np.array([u in icu_units for u in enc.table["care_unit"].tolist()]), 0.0, np.nan)
    in_icu_from[up.enc] = up.hours
    names, code = enc.scenario_codes
    spec = [rules(cfg, s).get("transfer", {}).get("step_down") or {} for s in names.tolist()]
    to = np.take(np.array([sd.get("to", "") for sd in spec], dtype=object), code)
    stable = np.take(np.array([sd.get("stable_hours", 0.0) for sd in spec], dtype=float), code)
    wait = np.take(np.array([sd.get("bed_wait_hours") for sd in spec], dtype=object), code, axis=0)
    device = np.asarray(device, dtype=object)
    support = np.zeros(device.size, dtype=bool)
    for name in sorted(_icu_devices(cfg)):
        support |= device == name
    charting = cfg.generator["charting"]
    high = score >= charting["escalate_at_news2"]
    sick = high.copy()  # a run of sets at the escalation level: one noisy set does not hold a bed
    for step in range(1, charting["step_down_blocked_by_sets"]):
        sick &= _shifted(high, owner, step, False)
    busy = np.fmax(_last(owner, hours, sick | support, n), in_icu_from)
    off_pressor = np.full(n, np.nan)
    off_pressor[pressor.enc] = pressor.end_hours
    busy = np.fmax(busy, off_pressor)
    t = _grid_snap(first_h, np.fmax(busy, 0.0) + stable + uniform_rows(rng, *row_bounds(wait)))
    died = enc.table["discharge_disposition"] == EXPIRED
    move = np.flatnonzero(~np.isnan(in_icu_from) & ~died & (to != "") & (t < los - 1.0))
    return Interventions(move.astype(np.int64), t[move], t[move],
                         np.full(move.size, TRANSFER, dtype=object), to[move].astype(object))


def _icu_devices(cfg: Config) -> set[str]:
    """Oxygen devices that keep a patient in critical care (the catalogue's list)."""
    return set(cfg.interventions["oxygen"]["critical_care_devices"])


def care_units_at(units: list[str], enc: Encounters, transfers: Interventions | None,
                  owner: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Index into `units` of the unit each row's encounter is in at `hours` (the admitting unit
    until a transfer)."""
    index = {u: i for i, u in enumerate(units)}
    unit = np.array([index[u] for u in enc.table["care_unit"].tolist()], dtype=np.int64)[owner]
    if transfers is None or not len(transfers):
        return unit
    order = np.lexsort((transfers.hours, transfers.enc))
    t_enc, t_hours = transfers.enc[order], transfers.hours[order]
    t_dest = np.array([index[u] for u in transfers.detail[order].tolist()], dtype=np.int64)
    counts = np.bincount(t_enc, minlength=len(enc))
    slot = np.arange(t_enc.size) - (np.cumsum(counts) - counts)[t_enc]
    for k in range(int(counts.max())):
        at = np.full(len(enc), np.inf)
        dest = np.zeros(len(enc), dtype=np.int64)
        sel = slot == k
        at[t_enc[sel]], dest[t_enc[sel]] = t_hours[sel], t_dest[sel]
        moved = hours > at[owner]
        unit = np.where(moved, dest[owner], unit)
    return unit


# ---------------------------------------------------------------- the sixth table

def interventions_table(date: dt.date, enc: Encounters, events: Interventions, first_id: int | None = 1) -> dict:
    """interventions.csv rows for `events` (see schemas/interventions.schema.json)."""
    e = events.enc
    return {
        "intervention_id": table_ids("interventions", date, first_id, len(events)),
        "encounter_id": enc.table["encounter_id"][e],
        "patient_id": enc.table["patient_id"][e],
        "start_time": enc.admit[e] + np.round(events.hours * HOUR).astype(np.int64),
        "end_time": enc.admit[e] + np.round(events.end_hours * HOUR).astype(np.int64),
        "kind": events.kind.astype(object),
        "detail": events.detail.astype(object),
    }
