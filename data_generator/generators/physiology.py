"""The hidden per-encounter physiology that vitals, labs and notes are all derived from.

Each scenario declares named latent states (infection, shock, congestion, ...), each a
piecewise-linear course over hours since admission: a start value and phases that move it
to a target by an hour or by a fraction of the stay. Outcome branches replace whole states.
Every encounter gets its own copy with its own intensity and timing, so two septic patients
are alike in shape and different in detail. Values measured anywhere in the chart come from
`Physiology.at`, which keeps all five files consistent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data_generator.config import Config
from data_generator.generators.encounters import Encounters

FAR = 1e9  # hours; pads knot lists so every encounter has the same number


@dataclass(frozen=True)
class Physiology:
    names: tuple[str, ...]
    knot_hours: dict[str, np.ndarray]   # state -> (n_encounters, K) hours since admission
    knot_values: dict[str, np.ndarray]  # state -> (n_encounters, K)
    los_hours: np.ndarray
    phase_bounds: dict[str, np.ndarray]  # 'scenario/outcome/state' -> knot hours per encounter (previews)
    variants: dict[str, np.ndarray] = field(default_factory=dict)  # variant name -> bool per encounter
    _spans: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)
    _holds: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    _compared: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def variant(self, name: str, enc: np.ndarray) -> np.ndarray:
        """Whether encounters `enc` present with the scenario variant `name` (hypothermic, ...)."""
        if name not in self.variants:
            return np.zeros(len(enc), dtype=bool)
        return self.variants[name][enc]

    def at(self, state: str, enc: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Value of `state` for encounters `enc` at `hours` since their admission."""
        if state not in self.knot_hours:
            return np.zeros(len(enc))
        h = np.asarray(hours, dtype=float)
        enc = np.asarray(enc, dtype=np.int64)
        held = np.flatnonzero(np.take(self._held(state), enc))
        if held.size < enc.size // 2:  # the state is zero throughout for the others' encounters
            out = np.zeros(enc.size)
            out[held] = self._interpolate(state, enc[held], h[held])
            return out
        return self._interpolate(state, enc, h)

    def _interpolate(self, state: str, enc: np.ndarray, h: np.ndarray) -> np.ndarray:
        """`at` by linear interpolation between each encounter's knots either side of `h`."""
        knots, values = self.knot_hours[state], self.knot_values[state]
        width = knots.shape[1]
        # knots at or before `hours`, counted column by column among the columns that hold a knot
        # for some encounter (the padding at FAR is never passed), in a byte where the count fits one
        columns = self._knot_columns(state)
        passed = np.zeros(h.size, dtype=np.uint8 if len(columns) < 256 else np.int64)
        for column in columns:
            passed += (np.take(column, enc) <= h).view(np.uint8)
        np.maximum(passed, 1, out=passed)
        at = passed.astype(np.int64)  # flat index of each row's knot before `hours`, then after it
        if len(columns) == width:  # every knot passed: the last two bound the hour
            np.minimum(at, width - 1, out=at)
        at += enc * width
        knots, values = knots.ravel(), values.ravel()
        t1, v1 = np.take(knots, at), np.take(values, at)
        at -= 1
        t0, v0 = np.take(knots, at), np.take(values, at)
        t1 -= t0
        np.maximum(t1, 1e-9, out=t1)
        frac = h - t0
        frac /= t1
        np.clip(frac, 0.0, 1.0, out=frac)
        v1 -= v0
        v1 *= frac
        v1 += v0
        return v1

    def _held(self, state: str) -> np.ndarray:
        """Per encounter: whether `state` is ever other than zero."""
        if state not in self._holds:
            self._holds[state] = (self.knot_values[state] != 0).any(axis=1)
        return self._holds[state]

    def _knot_columns(self, state: str) -> np.ndarray:
        """The knot hours of `state` that `at` compares hours with, column by column (`_span`)."""
        if state not in self._compared:
            self._compared[state] = np.ascontiguousarray(self.knot_hours[state][:, :self._span(state)].T)
        return self._compared[state]

    def _span(self, state: str) -> int:
        """How many knot columns of `state` `at` compares hours with: those holding a knot for
        some encounter, and one more (at least two, at most all)."""
        if state not in self._spans:
            knots = self.knot_hours[state]
            held = int(np.count_nonzero((knots < FAR).any(axis=0)))
            self._spans[state] = max(min(held + 1, knots.shape[1]), 2)
        return self._spans[state]


def branch_states(cfg: Config, scenario: str, outcome: str) -> dict[str, dict]:
    sc = cfg.scenarios[scenario]
    return {**sc.get("states", {}), **sc["outcomes"][outcome].get("states", {})}


def all_state_names(cfg: Config) -> tuple[str, ...]:
    names = set()
    for sc in cfg.scenarios.values():
        names.update(sc.get("states", {}))
        for branch in sc["outcomes"].values():
            names.update(branch.get("states", {}))
    return tuple(sorted(names))


def build_physiology(cfg: Config, enc: Encounters, rng: np.random.Generator) -> Physiology:
    n = len(enc)
    los = (enc.discharge - enc.admit) / 3600.0
    names = all_state_names(cfg)
    k = 1 + max((len(s["phases"]) for sc in cfg.scenarios.values()
                 for s in [*sc.get("states", {}).values(),
                           *(st for b in sc["outcomes"].values()
                             for st in b.get("states", {}).values())]), default=1)
    hours = {s: np.full((n, k + 1), FAR) for s in names}
    values = {s: np.zeros((n, k + 1)) for s in names}
    bounds: dict[str, np.ndarray] = {}
    pairs: dict[tuple[str, str], list[int]] = {}  # the rows of each (scenario, outcome)
    for i, pair in enumerate(zip(enc.scenario.tolist(), enc.outcome.tolist(), strict=True)):
        pairs.setdefault(pair, []).append(i)
    for scenario, outcome in sorted(pairs):
        rows = np.array(pairs[scenario, outcome], dtype=np.intp)
        m = rows.size
        for state, spec in branch_states(cfg, scenario, outcome).items():
            intensity = np.exp(rng.normal(0.0, spec.get("spread", 0.0), m))
            stretch = np.exp(rng.normal(0.0, spec.get("time_spread", 0.2), m))
            t = [np.zeros(m)]
            v = [spec["start"] * intensity]
            for phase in spec["phases"]:
                if "hours" in phase:
                    end = phase["hours"] * stretch
                elif "hours_before_end" in phase:
                    end = los[rows] - phase["hours_before_end"] * stretch
                else:
                    end = phase["stay_fraction"] * los[rows]
                t.append(np.maximum(end, t[-1]))
                v.append(phase["value"] * intensity * np.exp(rng.normal(0, 0.05, m)))
            t_arr = np.maximum.accumulate(np.stack(t, axis=1), axis=1)
            v_arr = np.clip(np.stack(v, axis=1), 0.0, 2.0)
            width = t_arr.shape[1]
            hours[state][rows, :width] = t_arr
            values[state][rows, :width] = v_arr
            values[state][rows, width:] = v_arr[:, -1:]
            bounds[f"{scenario}/{outcome}/{state}"] = t_arr
    return Physiology(names, hours, values, los, bounds, draw_variants(cfg, enc, rng))


def draw_variants(cfg: Config, enc: Encounters, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Which encounters present with each scenario's declared variants (one draw per variant); a
    variant with `conditions` only in patients who have one of them (warfarin for atrial fibrillation)."""
    out: dict[str, np.ndarray] = {}
    for scenario in sorted(cfg.scenarios):
        for name, spec in cfg.scenarios[scenario].get("variants", {}).items():
            u = rng.random(len(enc))
            fits = enc.scenario == scenario
            if "conditions" in spec:
                wanted = set(spec["conditions"])
                fits &= np.fromiter((not wanted.isdisjoint(h) for h in enc.history), dtype=bool, count=len(enc))
            out[name] = out.get(name, np.zeros(len(enc), dtype=bool)) | (fits & (u < spec["share"]))
    return out


def variant_at(cfg: Config, scenario: str, section: str, name: str, own: dict) -> list[tuple[str, dict]]:
    """(variant, `at` values) pairs that replace `own['at']` of a vital or lab for a variant."""
    found = []
    for variant, spec in cfg.scenarios[scenario].get("variants", {}).items():
        if "at" in spec.get(section, {}).get(name, {}):
            found.append((variant, {**own.get("at", {}), **spec[section][name]["at"]}))
    return found


def soft_bound(x: np.ndarray, lo: float, hi: float, margin: float) -> np.ndarray:
    """`x` squeezed smoothly into (lo, hi): unchanged more than `margin` inside the bounds, then
    approaching each bound exponentially, so no value piles up at a limit as a clip would make it."""
    x = np.asarray(x, dtype=float)
    if margin <= 0:
        return np.clip(x, lo, hi)
    a, b = lo + margin, hi - margin
    out = x.copy()
    low, high = np.flatnonzero(x < a), np.flatnonzero(x > b)
    out[low] = a + margin * (np.exp(np.minimum(x[low] - a, 0.0) / margin) - 1.0)
    out[high] = b - margin * (np.exp(np.minimum(b - x[high], 0.0) / margin) - 1.0)
    return out


def soft_floor(x: np.ndarray, floor: float, margin: float) -> np.ndarray:
    """`x` kept smoothly above `floor` (softplus): x itself well above, never below the floor."""
    z = (np.asarray(x, dtype=float) - floor) / margin
    return floor + margin * np.logaddexp(0.0, z)


class Moments:
    """Encounters `enc` at `hours` since their admission, with each state's value there computed
    once, when first asked (the vitals of a scenario, or the tests of one draw, share them), and
    at a set of its positions once per set (the tests of one scenario's draws share those)."""

    def __init__(self, physiology: Physiology, enc: np.ndarray, hours: np.ndarray):
        self.physiology, self.enc, self.hours = physiology, enc, hours
        self._levels: dict[str, np.ndarray] = {}
        self._picked: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}

    def level(self, state: str) -> np.ndarray:
        if state not in self._levels:
            self._levels[state] = self.physiology.at(state, self.enc, self.hours)
        return self._levels[state]

    def level_at(self, state: str, rows: np.ndarray) -> np.ndarray:
        """`level(state)` at positions `rows`, once per array: the rows are named by their identity
        (each is kept with its values, so that the id is not reused). A scenario's positions are
        one array per set of draws (labs make them once per set of panels and hand the same array
        to every test of the set), and one scenario has different positions in different sets, so
        the scenario's name would not do."""
        key = (state, id(rows))
        if key not in self._picked:
            self._picked[key] = rows, self.level(state)[rows]
        return self._picked[key][1]


def lab_pull(cfg: Config, moments: Moments, groups: list[tuple[str, np.ndarray]],
             name: str) -> tuple[np.ndarray, np.ndarray]:
    """For test `name` at `moments` (`groups`: the positions of each scenario's encounters there):
    each position's scenario baseline, and the states' pull from it (a variant's own `at` where
    the encounter presents with it), in log space for a log-scale test."""
    spec = cfg.labs["tests"][name]
    rows = moments.enc
    base, pull = np.zeros(rows.size), np.zeros(rows.size)
    for scenario, sel in groups:
        own = cfg.scenarios[scenario].get("labs", {}).get("values", {}).get(name, {})
        level = own.get("baseline", spec["baseline"])
        base[sel] = level
        pull[sel] = effect(level, own.get("at", {}), moments, sel, spec["scale"])
        for variant, at in variant_at(cfg, scenario, "labs", name, own):
            pick = sel[moments.physiology.variant(variant, rows[sel])]
            pull[pick] = effect(level, at, moments, pick, spec["scale"])
    return base, pull


def effect(baseline: float, at: dict[str, float], moments: Moments, rows: np.ndarray | None = None,
           scale: str = "linear") -> np.ndarray:
    """Sum of each state's pull from `baseline` toward its `at` value (in log space if asked) at
    `moments`, or at those of its `rows` (positions) only."""
    total = np.zeros(len(moments.enc) if rows is None else len(rows))
    for state, target in at.items():
        delta = (np.log(target) - np.log(baseline)) if scale == "log" else (target - baseline)
        total += delta * (moments.level(state) if rows is None else moments.level_at(state, rows))
    return total
