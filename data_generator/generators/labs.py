"""Step 5: laboratory results, ordered by schedule and by triggers, valued from physiology.

Draws come from the scenario's schedule (on admission, every morning, every few hours) and
from triggers on charted vitals or on earlier results (a fever orders cultures and a
lactate; a high lactate orders a repeat). All panels ordered together are one draw with one
set of values. Each test's value is the patient's own baseline (by sex where the catalogue
says so) pulled toward the scenario's `at` values by the latent states at collection time,
plus assay noise, inside its bounds approached smoothly; blood-gas values are computed from
each other (blood_gas.py) and derived tests (anion gap) from the same draw. Cultures report
at the laboratory's times, within the stay.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data_generator.config import Config
from data_generator.generators import blood_gas
from data_generator.generators.encounters import Encounters
from data_generator.generators.physiology import Moments, Physiology, lab_pull, soft_bound
from data_generator.generators.timeline import condition_mask, firings, lex_order, table_ids
from data_generator.generators.vitals import Vitals
from data_generator.timeutil import HOUR, local_midnight

TRIGGER_ROUNDS = 16  # chains of repeats (a lactate re-checked until it clears)


@dataclass(frozen=True)
class Labs:
    table: dict[str, np.ndarray]
    enc: np.ndarray
    result_hours: np.ndarray  # hours since admission when each result was available
    test: np.ndarray          # catalogue test name per row
    code: np.ndarray          # the test's place in the catalogue per row


def _scheduled(cfg: Config, date: dt.date, enc: Encounters, first_vitals_h: np.ndarray,
               rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(encounter rows, collection hours, panel) for every scheduled draw."""
    draws = []
    timing = cfg.labs["timing"]
    midnight = local_midnight(date, cfg.tz)
    los = (enc.discharge - enc.admit) / HOUR
    for scenario in enc.scenario_codes[0]:
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
                draws.append((r[ok], h[ok], tuple(item["panels"])))
    return draws


def _vital_triggers(cfg: Config, enc: Encounters, vitals: Vitals, rng: np.random.Generator):
    draws = []
    los = (enc.discharge - enc.admit) / HOUR
    names, code = enc.scenario_codes
    set_code = np.take(code, vitals.enc)  # each set's scenario
    for i, scenario in enumerate(names):
        mine = None
        for trig in cfg.scenarios[scenario].get("labs", {}).get("triggers", []):
            terms = trig["when"].get("any", trig["when"].get("all", []))
            if not any("vital" in t for t in terms):
                continue
            mine = np.flatnonzero(set_code == i) if mine is None else mine  # the scenario's sets
            sel = mine[vitals.hours[mine] >= trig.get("after_hours", 0)]
            rows = np.zeros(set_code.size, dtype=bool)
            named = {t.get("vital") or t.get("lab") for t in terms}
            rows[sel] = condition_mask(trig["when"], {name: np.take(vitals.table[name], sel) for name in named})
            e, fired_h = firings(vitals.enc, vitals.hours, rows, trig["max"], cfg.labs["timing"]["trigger_gap_hours"])
            h = fired_h + rng.uniform(*trig["delay_hours"], e.size)
            ok = h <= los[e]
            draws.append((e[ok], h[ok], tuple(trig["order"])))
    return draws


@dataclass(frozen=True)
class _Draw:
    """One pending draw of a round with its random numbers, taken in the order one draw at a time
    takes them: each measured test's assay noise, the blood gas's, each panel's turnaround."""

    rows: np.ndarray
    hours: np.ndarray
    ordered: tuple[str, ...]
    wanted: list[str]
    assay: dict[str, np.ndarray]  # measured test -> noise
    gas: dict[str, np.ndarray]    # blood-gas role (winters, ph, oximetry, pao2) -> noise
    result_h: list[np.ndarray]    # per panel


@dataclass(frozen=True)
class _Order:
    """What a draw of some panels reports and measures, with the spread of each random number it
    takes: each measured test's assay noise (catalogue order), the blood gas's, each panel's
    turnaround."""

    wanted: list[str]
    assay: list[tuple[str, float]]
    gas: list[tuple[str, float]]
    turnaround: list[tuple[float, float]]


def _order(cfg: Config, ordered: tuple[str, ...]) -> _Order:
    """What a draw of the `ordered` panels reports and measures."""
    cat, gas = cfg.labs["tests"], cfg.labs["blood_gas"]
    panels, roles = cfg.labs["panels"], gas["tests"]
    wanted = list(dict.fromkeys(t for panel in ordered for t in panels[panel]["tests"]))
    needed = set(wanted)
    if needed & set(roles.values()):  # a latent bicarbonate and PaCO2 exist even when not reported
        needed |= {roles["bicarbonate"], roles["paco2"]}
    assay = [(name, cat[name]["noise"]) for name in cat if name in needed and "baseline" in cat[name]]
    noise = []
    if roles["bicarbonate"] in dict(assay):
        noise.append(("winters", gas["winters"]["sd"]))
        if roles["ph"] in needed:
            noise.append(("ph", cat[roles["ph"]]["noise"]))
        if roles["pao2"] in needed:
            noise += [("oximetry", gas["oximetry_sd"]), ("pao2", cat[roles["pao2"]]["noise"])]
    return _Order(wanted, assay, noise, [tuple(panels[panel]["turnaround_minutes"]) for panel in ordered])


def _take_draw(rows: np.ndarray, hours: np.ndarray, ordered: tuple[str, ...], order: _Order,
               rng: np.random.Generator) -> _Draw:
    n = rows.size
    assay = {name: rng.normal(0, sd, n) for name, sd in order.assay}
    noise = {role: rng.normal(0, sd, n) for role, sd in order.gas}
    result_h = [hours + rng.uniform(lo, hi, n) / 60 for lo, hi in order.turnaround]
    return _Draw(rows, hours, ordered, order.wanted, assay, noise, result_h)


def _draw_round(cfg: Config, enc: Encounters, phys: Physiology, pending: list, levels: dict[str, np.ndarray],
                spo2: blood_gas.Charted, scenarios: tuple[np.ndarray, np.ndarray],
                orders: dict[tuple[str, ...], _Order], rng: np.random.Generator) -> list:
    """The parts (rows, hours, result hours, panel, values) of one round of `pending` draws: each
    draw takes its random numbers in turn, then the values of all of them are computed together
    (all panels ordered together are one draw with one set of values). `scenarios`: the
    encounters' scenario names, sorted, and each one's place there; `orders`: what each set of
    panels ordered together draws, worked out once."""
    draws = []
    for rows, hours, ordered in pending:
        if rows.size:
            if ordered not in orders:
                orders[ordered] = _order(cfg, ordered)
            draws.append(_take_draw(rows, hours, ordered, orders[ordered], rng))
    parts = []
    for draw, vals in zip(draws, _values(cfg, enc, phys, draws, levels, spo2, scenarios), strict=True):
        for panel, result_h in zip(draw.ordered, draw.result_h, strict=True):
            parts.append((draw.rows, draw.hours, result_h, panel, vals))
    return parts


def _values(cfg: Config, enc: Encounters, phys: Physiology, draws: list[_Draw], levels: dict[str, np.ndarray],
            spo2: blood_gas.Charted, scenarios: tuple[np.ndarray, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Values of each draw's tests (dict test -> array per draw), the draws laid end to end
    (`scenarios` as for `_draw_round`). Blood-gas values are computed from each other."""
    cat = cfg.labs["tests"]
    if not draws:
        return []
    ends = np.cumsum([d.rows.size for d in draws])
    rows = np.concatenate([d.rows for d in draws])
    hours = np.concatenate([d.hours for d in draws])
    moments = Moments(phys, rows, hours)  # the states at every draw, shared by all tests
    present, code = np.unique(np.take(scenarios[1], rows), return_inverse=True)
    names = scenarios[0][present]

    def where(picked: list[int]) -> np.ndarray:
        """Positions of the picked draws."""
        return np.concatenate([np.arange(ends[i] - draws[i].rows.size, ends[i]) for i in picked])
    measured: dict[str, list[int]] = {}  # the draws measuring each test
    for i, d in enumerate(draws):
        for name in d.assay:
            measured.setdefault(name, []).append(i)
    raw, out, places = {}, {}, {}
    gas_inputs = {cfg.labs["blood_gas"]["tests"][role] for role in ("bicarbonate", "paco2")}
    for name in cat:
        picked = tuple(measured.get(name, ()))
        if not picked:
            continue
        if picked not in places:  # tests of the same panels are in the same draws
            at = where(list(picked))
            places[picked] = at, [(sc, at[code[at] == i]) for i, sc in enumerate(names)]
        at, groups = places[picked]
        noise = np.concatenate([draws[i].assay[name] for i in picked])
        value = _measured(cfg, moments, groups, name, levels, rows[at], at, noise)
        if name in gas_inputs:  # unbounded, for the blood gas
            raw[name] = np.full(rows.size, np.nan)
            raw[name][at] = value
        out[name] = np.full(rows.size, np.nan)
        out[name][at] = np.round(_bounded(value, cat[name], cfg.labs), cat[name]["decimals"])
    gassed = [i for i, d in enumerate(draws) if "winters" in d.gas]
    if gassed:
        _blood_gas(cfg, scenarios, draws, gassed, where, rows, raw, out, spo2)
    for name in dict.fromkeys(t for d in draws for t in d.wanted):
        spec = cat[name]
        if spec.get("categorical") or "derive" in spec:
            out.setdefault(name, np.full(rows.size, np.nan))
        if "derive" in spec:
            at = where([i for i, d in enumerate(draws) if name in d.wanted])
            out[name][at] = np.round(sum(w * out[t][at] for t, w in spec["derive"].items()), spec["decimals"])
    return [{name: out[name][end - d.rows.size:end] for name in d.wanted} for d, end in zip(draws, ends, strict=True)]


def _measured(cfg: Config, moments: Moments, groups: list[tuple[str, np.ndarray]], name: str,
              levels: dict[str, np.ndarray], rows: np.ndarray, at: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """The patient's own level (`levels`, `_own_levels`) pulled by the states (a variant's own `at`
    where it applies), plus assay `noise`, at positions `at` of `moments` (encounter `rows`;
    `groups`: the positions of each scenario's encounters there)."""
    spec = cfg.labs["tests"][name]
    _, pull = lab_pull(cfg, moments, groups, name)
    pull = pull[at]
    value = np.exp(levels[name][rows] + pull) if spec["scale"] == "log" else levels[name][rows] + pull
    return value + noise


def _own_levels(cfg: Config, offsets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each patient's own level of each test (`_patient_baselines`), in log space for a log-scale test."""
    tests = cfg.labs["tests"]
    return {name: np.log(value) if tests[name]["scale"] == "log" else value for name, value in offsets.items()}


def _bounded(value: np.ndarray, spec: dict, catalogue: dict) -> np.ndarray:
    """`value` inside the test's bounds, approached smoothly (in log space for log-scale tests)."""
    lo, hi = spec["clip"]
    frac = catalogue["soft_bound_fraction"]
    if spec.get("scale") == "log":
        lo, hi = np.log(lo), np.log(hi)
        return np.exp(soft_bound(np.log(np.maximum(value, 1e-12)), lo, hi, frac * (hi - lo)))
    return soft_bound(value, lo, hi, frac * (hi - lo))


def _blood_gas(cfg: Config, scenarios: tuple[np.ndarray, np.ndarray], draws: list[_Draw], gassed: list[int],
               where, rows: np.ndarray, raw: dict[str, np.ndarray], out: dict[str, np.ndarray],
               spo2: blood_gas.Charted) -> None:
    """Bicarbonate, PaCO2, pH and PaO2 of the `gassed` draws (positions `where(draws)`), each
    computed from the others (A1, A2), into `out` (`scenarios` as for `_draw_round`)."""
    cat, gas = cfg.labs["tests"], cfg.labs["blood_gas"]
    roles = gas["tests"]
    b_name, c_name = roles["bicarbonate"], roles["paco2"]
    at = where(gassed)
    share = np.array([cfg.scenarios[s].get("labs", {}).get("chronic_hypercapnia_share", 0.0)
                      for s in scenarios[0].tolist()], dtype=float)
    chronic = np.take(share, np.take(scenarios[1], rows[at]))
    winters = np.concatenate([draws[i].gas["winters"] for i in gassed])
    metabolic = _bounded(raw[b_name][at], cat[b_name], cfg.labs)
    paco2 = _bounded(blood_gas.winters_paco2(raw[c_name][at], metabolic, winters, gas), cat[c_name], cfg.labs)
    hco3 = _bounded(blood_gas.compensated_bicarbonate(raw[b_name][at], paco2, chronic, gas), cat[b_name], cfg.labs)
    out[b_name][at] = np.round(hco3, cat[b_name]["decimals"])
    out[c_name][at] = np.round(paco2, cat[c_name]["decimals"])
    sizes = np.array([draws[i].rows.size for i in gassed])
    for role, extra in (("ph", ()), ("pao2", ("oximetry",))):
        name, spec = roles[role], cat[roles[role]]
        has = [role in draws[i].gas for i in gassed]
        if not any(has):
            continue
        out.setdefault(name, np.full(rows.size, np.nan))
        sel = np.repeat(has, sizes)
        mine = [i for i, h in zip(gassed, has, strict=True) if h]
        noise = {k: np.concatenate([draws[i].gas[k] for i in mine]) for k in (role, *extra)}
        ph = blood_gas.henderson_ph(hco3[sel], paco2[sel], gas)
        if role == "ph":
            value = ph + noise["ph"]
        else:
            sat = np.concatenate([spo2.at(draws[i].rows, draws[i].hours, cfg.vitals["vitals"]["spo2"]["baseline"])
                                  for i in mine])  # each draw looks up its own encounters' sets
            sat = sat + noise["oximetry"]
            value = blood_gas.pao2_from_saturation(sat, gas, ph, paco2[sel]) * np.exp(noise["pao2"])
        out[name][at[sel]] = np.round(_bounded(value, spec, cfg.labs), spec["decimals"])


def _charted_spo2(vitals: Vitals) -> blood_gas.Charted:
    """SpO2 as charted (encounter row, hours), for blood gases drawn between the sets."""
    return blood_gas.Charted(vitals.enc, vitals.hours, np.asarray(vitals.table["spo2"], dtype=float))


def _culture(cfg: Config, enc: Encounters, rows: np.ndarray, collect: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Text, flag and result time of blood cultures: a positive flags after its time to positivity;
    a negative is final at 5 days, or reported as preliminary when the stay ends before that (L11).
    One organism per stay; where `culture_by_dx` names the diagnosis code's organism, the stay's
    first culture grows it (an unspecified-organism code: none grows anything)."""
    cult = cfg.labs["culture_results"]
    rate = np.array([cfg.scenarios[s].get("labs", {}).get("culture_positive_rate",
                                                            cult["positive_rate"])
                     for s in enc.scenario[rows]])
    positive = rng.random(rows.size) < rate
    u = rng.random(len(enc))[rows]  # one organism per stay
    grown = np.empty(rows.size, dtype=object)
    order = np.lexsort((collect, rows))
    first = np.zeros(rows.size, dtype=bool)
    first[order[np.unique(rows[order], return_index=True)[1]]] = True
    dx = enc.table["primary_dx_code"][rows]
    for scenario in np.unique(enc.scenario[rows]):
        sel = enc.scenario[rows] == scenario
        spec = cfg.scenarios[scenario].get("labs", {})
        organisms = spec.get("culture_organisms", cult["positive"])
        cdf = np.cumsum([o["weight"] for o in organisms], dtype=float)
        pick = np.minimum(np.searchsorted(cdf / cdf[-1], u[sel], side="right"), len(organisms) - 1)
        grown[sel] = np.array([o["text"] for o in organisms], dtype=object)[pick]
        for prefix, organism in spec.get("culture_by_dx", {}).items():
            named = sel & np.char.startswith(dx.astype(str), prefix)
            if organism is None:
                positive[named] = False
            else:
                grown[named] = organism
                positive[named & first] = True
    ttp = cult["time_to_positivity"]
    flag_h = np.maximum(ttp["median_hours"] * np.exp(rng.normal(0, ttp["sigma"], rows.size)), ttp["min_hours"])
    left_h = (enc.discharge[rows] - collect) / HOUR
    neg_text, neg_h = _negative_report(cult, left_h)
    flagged = positive & (flag_h <= left_h)  # a bottle that flags after discharge reads no growth so far
    text = np.where(flagged, grown, neg_text)
    flag = np.where(flagged, "A", cult["negative"]["flag"])
    hours = np.where(flagged, flag_h, neg_h)
    return text, flag, collect + np.round(hours * HOUR).astype(np.int64)


def _negative_report(cult: dict, left_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last report of a negative culture the stay lives to see: final, the latest preliminary
    round, or a "no growth to date" look at discharge."""
    final, pre = cult["negative"], cult["preliminary"]
    rounds = np.asarray(pre["report_hours"], dtype=float)
    seen = np.searchsorted(rounds, left_h, side="right") - 1
    at = np.where(seen >= 0, rounds[np.maximum(seen, 0)], left_h)
    text = np.array([preliminary_text(cult, h) for h in rounds] + [pre["early_text"]],
                    dtype=object)[np.where(seen >= 0, seen, rounds.size)]
    done = left_h >= final["final_hours"]
    return (np.where(done, final["text"], text),
            np.where(done, final["final_hours"], at))


def preliminary_text(cult: dict, hours: float) -> str:
    """A negative culture's preliminary report at `hours` after collection ("No growth to date at 48 hours")."""
    return cult["preliminary"]["text"].replace("{{ hours }}", f"{hours:g}")


def _patient_baselines(cfg: Config, enc: Encounters, phys: Physiology,
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each patient's own level of each measured test: the population's (by sex where the catalogue
    says so; a scenario, or a variant the encounter presents with, may move it) plus the patient's
    spread; a test that `covary`s moves with the named tests' own offsets (chloride with sodium
    and bicarbonate keeps the anion gap normal)."""
    out, z = {}, {}
    tests = cfg.labs["tests"]
    names, code = enc.scenario_codes
    for name, spec in tests.items():
        if "baseline" not in spec:
            continue
        base = np.array([cfg.scenarios[s].get("labs", {}).get("values", {}).get(name, {})
                         .get("baseline", spec["baseline"]) for s in names], dtype=float)[code]
        log = spec["scale"] == "log"
        for sex, own in spec.get("by_sex", {}).items():
            sel = enc.sex == sex
            base[sel] = base[sel] * own["baseline"] / spec["baseline"] if log \
                else base[sel] + own["baseline"] - spec["baseline"]
        for scenario in names.tolist():
            for variant, spec_v in cfg.scenarios[scenario].get("variants", {}).items():
                own = spec_v.get("labs", {}).get(name, {})
                if "baseline" in own:
                    sel = (enc.scenario == scenario) & phys.variant(variant, np.arange(len(enc)))
                    base[sel] = own["baseline"]
        z[name] = rng.normal(0, 1, len(enc))
        out[name] = base * np.exp(z[name] * spec["sd"] / spec["baseline"]) if log else base + z[name] * spec["sd"]
    for name, spec in tests.items():
        for other, weight in spec.get("covary", {}).items():
            out[name] = out[name] + weight * z[other] * tests[other]["sd"]
    return out


def generate_labs(cfg: Config, date: dt.date, enc: Encounters, phys: Physiology, vitals: Vitals,
                  rng: np.random.Generator, first_id: int | None = 1) -> Labs:
    first_vitals = np.full(len(enc), np.inf)
    np.minimum.at(first_vitals, vitals.enc, vitals.hours)
    first_vitals[np.isinf(first_vitals)] = 0.0
    levels = _own_levels(cfg, _patient_baselines(cfg, enc, phys, rng))
    pending = _scheduled(cfg, date, enc, first_vitals, rng) + _vital_triggers(cfg, enc, vitals, rng)
    parts = []
    fired: dict[int, dict[int, int]] = {}
    spo2 = _charted_spo2(vitals)
    scenarios, orders = enc.scenario_codes, {}
    triggers = _result_triggers(cfg)
    for _ in range(TRIGGER_ROUNDS):
        new_parts = _draw_round(cfg, enc, phys, pending, levels, spo2, scenarios, orders, rng)
        parts.extend(new_parts)
        pending = _lab_triggers(cfg, enc, new_parts, triggers, fired, scenarios, rng)
        if not pending:
            break
    return _assemble(cfg, date, enc, parts, rng, first_id)


def _result_triggers(cfg: Config) -> list[tuple[int, str, dict, list[dict], set[str]]]:
    """The triggers on results: (place among all the scenarios' triggers, scenario, trigger, its
    terms, the panels holding all the tests it reads)."""
    panels = cfg.labs["panels"]
    found = []
    for t_index, (scenario, trig) in enumerate(
            (s, t) for s in sorted(cfg.scenarios)
            for t in cfg.scenarios[s].get("labs", {}).get("triggers", [])):
        terms = trig["when"].get("any", trig["when"].get("all", []))
        if terms and all("lab" in t for t in terms):
            holding = {name for name, panel in panels.items() if all(t["lab"] in panel["tests"] for t in terms)}
            found.append((t_index, scenario, trig, terms, holding))
    return found


def _lab_triggers(cfg: Config, enc: Encounters, parts, triggers, fired: dict[int, dict[int, int]],
                  scenarios: tuple[np.ndarray, np.ndarray], rng) -> list:
    """Draws ordered by results of `parts` (each of the `triggers` (`_result_triggers`) over the
    parts whose panel holds its tests, at the result's own time), at most `max` per trigger and
    encounter (counted per encounter in `fired`, by trigger; `scenarios` as for `_draw_round`)."""
    los = (enc.discharge - enc.admit) / HOUR
    out = []
    place = {name: i for i, name in enumerate(scenarios[0].tolist())}
    for t_index, scenario, trig, terms, holding in triggers:
        held = [p for p in parts if p[3] in holding]
        if not held:
            continue
        rows = np.concatenate([p[0] for p in held])
        result_h = np.concatenate([p[2] for p in held])
        columns = {t["lab"]: np.concatenate([p[4][t["lab"]] for p in held]) for t in terms}
        hit = condition_mask(trig["when"], columns) & (np.take(scenarios[1], rows) == place.get(scenario, -1))
        keep = _within_max(rows, np.flatnonzero(hit), fired.setdefault(t_index, {}), trig["max"])
        h = result_h[keep] + rng.uniform(*trig["delay_hours"], keep.size)  # the parts' delays, in turn
        kept_rows = rows[keep]
        ok = h <= los[kept_rows]
        starts = np.cumsum([0] + [p[0].size for p in held])
        bounds = np.searchsorted(keep, starts).tolist()  # each part's run of `keep`
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            mine = ok[lo:hi]
            out.append((kept_rows[lo:hi][mine], h[lo:hi][mine], tuple(trig["order"])))
    return out


def _within_max(rows: np.ndarray, hits: np.ndarray, count: dict[int, int], most: int) -> np.ndarray:
    """The `hits` (positions, in order) kept while their encounter (`rows`) has fired fewer than
    `most` times (`count`, per encounter, counts those kept)."""
    keep = []
    for i, e in zip(hits.tolist(), rows[hits].tolist(), strict=True):
        if count.get(e, 0) < most:
            count[e] = count.get(e, 0) + 1
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def flags(catalogue: dict, test: np.ndarray, value: np.ndarray, ref_low: np.ndarray,
          ref_high: np.ndarray) -> np.ndarray:
    """N, L, H, or LL/HH beyond the catalogue's critical limits, per result."""
    number = {name: i for i, name in enumerate(catalogue)}
    return _flags(catalogue, np.array([number[t] for t in test.tolist()], dtype=np.int64), value, ref_low, ref_high)


def _flags(catalogue: dict, code: np.ndarray, value: np.ndarray, ref_low: np.ndarray,
           ref_high: np.ndarray) -> np.ndarray:
    """`flags` of results given by the test's place in the catalogue (`code`)."""
    limits = np.array([[np.nan if c is None else c for c in spec.get("critical", [None, None])]
                       for spec in catalogue.values()], dtype=float).reshape(-1, 2)
    crit = np.take(limits, code, axis=0)
    level = np.zeros(value.size, dtype=np.intp)  # each later rule overrides the earlier ones
    for i, beyond in enumerate((value < ref_low, value > ref_high, value < crit[:, 0], value > crit[:, 1]), 1):
        level[beyond] = i
    return np.take(np.array(["N", "L", "H", "LL", "HH"], dtype=object), level)


def _assemble(cfg: Config, date: dt.date, enc: Encounters, parts, rng, first_id: int | None) -> Labs:
    cat, panels = cfg.labs["tests"], cfg.labs["panels"]
    number = {name: i for i, name in enumerate(cat)}  # catalogue order: results of one draw are listed in it
    cols: dict[str, list] = {k: [] for k in ("enc", "hours", "result_h", "panel", "code", "value", "size")}
    for rows, hours, result_h, panel, vals in parts:
        tests = panels[panel]["tests"]
        for key, value in (("enc", rows), ("hours", hours), ("result_h", result_h), ("panel", panel),
                           ("size", rows.size)):
            cols[key].extend([value] * len(tests))
        cols["code"].extend(number[name] for name in tests)
        cols["value"].extend(vals[name] for name in tests)
    size = cols.pop("size")
    panel_names = list(dict.fromkeys(cols["panel"]))
    cols["panel"] = [np.repeat([panel_names.index(p) for p in cols["panel"]], size)] if size else []
    cols["code"] = [np.repeat(np.array(cols["code"], dtype=np.int64), size)] if size else []
    flat = {k: (np.concatenate(v) if v else np.array([])) for k, v in cols.items()}
    e, code = flat["enc"].astype(np.int64), flat["code"].astype(np.int64)
    # a draw in the stay's last minute is collected a minute before discharge (its result, at least
    # a minute later, comes within the stay only if the turnaround allows; see below)
    collect = np.minimum(enc.admit[e] + np.round(flat["hours"] * HOUR).astype(np.int64), enc.discharge[e] - 60)
    result = enc.admit[e] + np.round(flat["result_h"] * HOUR).astype(np.int64)
    result = np.maximum(result, collect + 60)
    order = lex_order(code, collect, e)
    e, collect, result, code = e[order], collect[order], result[order], code[order]
    value = flat["value"][order]
    panel = np.take(np.array(panel_names, dtype=object), flat["panel"][order].astype(np.int64)) \
        if panel_names else np.array([])

    def per_test(values: list) -> np.ndarray:
        return np.take(np.array(values, dtype=object), code)
    test = per_test(list(cat))
    ref = _reference(cat, code, enc.sex, e)
    flag = _flags(cat, code, value, ref[:, 0], ref[:, 1])
    text = np.full(e.size, None, dtype=object)
    is_culture = np.take(np.array([bool(spec.get("categorical")) for spec in cat.values()]), code)
    if is_culture.any():
        text[is_culture], flag[is_culture], result[is_culture] = _culture(
            cfg, enc, e[is_culture], collect[is_culture], rng)
    # a result that would come after discharge is not in the stay's chart (still pending when the
    # stay ended; a culture shows the last report the stay lived to see instead)
    kept = np.flatnonzero(is_culture | (result <= enc.discharge[e]))
    if kept.size < e.size:
        e, collect, result, code, value, panel, test, ref, flag, text = (
            x[kept] for x in (e, collect, result, code, value, panel, test, ref, flag, text))
    result = np.maximum(np.minimum(result, enc.discharge[e]), collect + 60)  # resulted within the stay
    n = e.size
    table = {
        "lab_id": table_ids("labs", date, first_id, n),
        "encounter_id": enc.table["encounter_id"][e],
        "patient_id": enc.table["patient_id"][e],
        "event_time": collect,
        "result_time": result,
        "panel": panel,
        "loinc_code": per_test([spec["loinc"] for spec in cat.values()]),
        "test_name": per_test([spec["name"] for spec in cat.values()]),
        "value": value,
        "value_text": text,
        "unit": per_test([spec["unit"] for spec in cat.values()]),
        "ref_low": ref[:, 0],
        "ref_high": ref[:, 1],
        "flag": flag,
    }
    return Labs(table, e, (result - enc.admit[e]) / HOUR, test, code)


def _reference(cat: dict, code: np.ndarray, sex: np.ndarray, enc: np.ndarray) -> np.ndarray:
    """(low, high) reference range per row (`code`: the test's place in the catalogue; `enc`: its
    encounter, of sex `sex[enc]`): the test's, or its sex-specific one (L1)."""
    ref = np.take(np.array([spec.get("ref", [np.nan, np.nan]) for spec in cat.values()], dtype=float).reshape(-1, 2),
                  code, axis=0)
    is_sex: dict[str, np.ndarray] = {}
    for i, spec in enumerate(cat.values()):
        for s, own in spec.get("by_sex", {}).items():
            if s not in is_sex:
                is_sex[s] = np.take(sex == s, enc)
            ref[(code == i) & is_sex[s]] = own["ref"]
    return ref
