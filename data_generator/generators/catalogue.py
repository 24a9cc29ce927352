"""The scenario catalogue and the timeline settings as arrays, for drawing many stays at once.

Every categorical choice (scenario, outcome branch, diagnosis, acuity, disposition, admission
hour) is a row of cumulative probabilities per scenario (or per scenario and branch), padded
with infinity, so a choice for many stays is one comparison against one uniform each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from data_generator.config import Config
from data_generator.errors import ConfigError

SIDE_BITS = {"right": 1, "left": 2, "both": 3}
_CACHE: dict[tuple, Catalogue] = {}


@dataclass(frozen=True)
class Catalogue:
    names: list[str]              # scenarios, in config order
    titles: np.ndarray            # (S,) scenario titles
    weights: np.ndarray           # (S,) base mix weights
    route: np.ndarray             # (S,) arrival route index
    arrival_cum: np.ndarray       # (R, 24) cumulative admission-hour profile per route
    branch: np.ndarray            # (S, B) outcome branch names
    branch_cum: np.ndarray        # (S, B)
    branch_p: np.ndarray          # (S, B) branch probabilities, 0 where padded
    die_p: np.ndarray             # (S, B) chance a stay of the branch ends in death
    los: np.ndarray               # (S, B, 4) median, sigma, min, max hours
    enc_type: np.ndarray          # (S, B)
    care_unit: np.ndarray         # (S, B)
    acuity_vals: np.ndarray       # (A,)
    acuity_cum: np.ndarray        # (S, B, A)
    dispo_vals: np.ndarray        # (D,)
    dispo_cum: np.ndarray         # (S, B, D)
    dx_code: np.ndarray           # (S, J)
    dx_desc: np.ndarray           # (S, J)
    dx_w: np.ndarray              # (S, J), 0 where padded
    dx_cond: np.ndarray           # (S, J) condition a code needs, -1 for none
    dx_side: np.ndarray           # (S, J) side bits of a once-per-side code, 0 for none
    conditions: list[str]         # chronic conditions, in config order
    prevalence: np.ndarray        # (C,) registry-wide share
    condition_age: np.ndarray     # (C, 2) age mean and sd of those who have it, NaN where age does not matter
    exclusive: list[list[int]]    # groups of conditions a patient has at most one of
    gate: np.ndarray              # (S, C) share of a scenario's stays per condition / prevalence
    gated: np.ndarray             # (S,) the scenario needs one of its conditions
    readmit_p: np.ndarray         # (S,)
    reason_w: np.ndarray          # (S, S) readmission scenario weights by index scenario
    within_days: int
    readmit_hazard: np.ndarray    # (S, within_days + 1) chance of readmission on day g after discharge, none before
    return_min_days: int
    once: int                     # scenario index done at most once per side, -1 for none
    once_min_days: int

    def expired(self) -> int:
        hit = np.flatnonzero(self.dispo_vals == "expired")
        return int(hit[0]) if hit.size else -1


def catalogue(cfg: Config) -> Catalogue:
    key = (cfg.digest, repr(cfg.generator))
    if key not in _CACHE:
        _CACHE[key] = _build(cfg)
    return _CACHE[key]


def _cum(rows: list[list[float]], width: int) -> np.ndarray:
    """Cumulative probabilities per row, normalised, the last real entry and padding at +inf."""
    out = np.full((len(rows), width), np.inf)
    for i, w in enumerate(rows):
        w = np.asarray(w, dtype=float)
        if w.size and w.sum() > 0:
            c = np.cumsum(w / w.sum())
            c[np.flatnonzero(w > 0)[-1]:] = np.inf
            out[i, :w.size] = c
    return out


def pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index chosen per row of `cum` (cumulative, +inf padded) by the uniforms `u`."""
    return (cum <= u[:, None]).sum(axis=1)


def pick_weighted(w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index chosen per row of non-negative weights `w` (rows summing to 0 give -1): the number of
    the row's running sums, over its total, at or below its uniform."""
    total = w.sum(axis=1)
    norm = np.where(total > 0, total, 1.0)
    columns = w.T.copy()  # one weight of every row at a time
    running, idx = np.zeros(len(w)), np.zeros(len(w), dtype=np.int64)
    for weight in columns:
        running += weight
        idx += running / norm <= u
    idx = np.minimum(idx, w.shape[1] - 1)
    top = np.flatnonzero(~(columns[idx, np.arange(len(w))] > 0))  # rounding at the top: a weightless index
    idx[top] = np.argmax(columns[:, top] > 0, axis=0)
    return np.where(total > 0, idx, -1)


def _gap_probabilities(within: int, gap: dict) -> np.ndarray:
    """P(readmission gap = g days), g = 0..within (0 at g = 0): a lognormal rounded to whole days
    and clipped below at 1; the mass beyond `within` spread evenly (no pile-up at the limit)."""
    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf(math.log(x / gap["median"]) / (gap["sigma"] * math.sqrt(2))))
    edges = [cdf(g + 0.5) for g in range(1, within)] + [cdf(within)]
    q = np.diff(np.concatenate([[0.0], edges]))
    return np.concatenate([[0.0], q + (1 - edges[-1]) / within])


def _readmit_hazard(readmit_p: np.ndarray, within: int, gap: dict) -> np.ndarray:
    """(S, within + 1): chance of a readmission on day g after discharge given none on days 1..g-1,
    so that readmissions come with each scenario's `p` and the gap distribution above."""
    q = readmit_p[:, None] * _gap_probabilities(within, gap)[None, :]
    before = np.cumsum(q, axis=1) - q
    return q / np.maximum(1 - before, 1e-12)


def _build(cfg: Config) -> Catalogue:
    gen, where = cfg.generator, f"{cfg.path}: timelines"
    mix = gen["scenarios"]["weights"]
    names = list(mix) + [n for n in cfg.scenarios if n not in mix]
    index = {n: i for i, n in enumerate(names)}
    sc = [cfg.scenarios[n] for n in names]
    routes = list(gen["arrival_hours"])
    branches = [list(s["outcomes"]) for s in sc]
    nb = max(len(b) for b in branches)
    acuity_vals = sorted({int(a) for s in sc for b in [s, *s["outcomes"].values()] for a in b.get("acuity", {})})
    dispo_vals = sorted({d for s in sc for o in s["outcomes"].values() for d in o["disposition"]})
    nj = max(len(s["diagnoses"]) for s in sc)
    S = len(names)

    def table(fill, fn, dtype=object, width=nb):
        out = np.full((S, width), fill, dtype=dtype)
        for i, s in enumerate(sc):
            for j, (bname, b) in enumerate(s["outcomes"].items()):
                out[i, j] = fn(s, bname, b)
        return out

    los = np.zeros((S, nb, 4))
    acuity_cum = np.full((S, nb, len(acuity_vals)), np.inf)
    dispo_cum = np.full((S, nb, len(dispo_vals)), np.inf)
    branch_rows = []
    for i, s in enumerate(sc):
        branch_rows.append([b["p"] for b in s["outcomes"].values()])
        for j, b in enumerate(s["outcomes"].values()):
            spec = b["los_hours"]
            los[i, j] = spec["median"], spec["sigma"], spec["min"], spec["max"]
            acu = b.get("acuity", s["acuity"])
            acuity_cum[i, j] = _cum([[acu.get(str(a), acu.get(a, 0)) for a in acuity_vals]], len(acuity_vals))[0]
            dispo_cum[i, j] = _cum([[b["disposition"].get(d, 0) for d in dispo_vals]], len(dispo_vals))[0]

    reg, tl = gen["registry"], gen["timelines"]
    conditions = list(reg.get("conditions", {}))
    cindex = {c: i for i, c in enumerate(conditions)}

    def cond(name: str, key: str) -> int:
        if name not in cindex:
            raise ConfigError(f"{where}.{key}", "names a condition not under registry.conditions", found=name)
        return cindex[name]

    def scen(name: str, key: str) -> int:
        if name not in index:
            raise ConfigError(f"{where}.{key}", "names a scenario with no file in scenarios.directory", found=name)
        return index[name]

    spec = {c: v if isinstance(v, dict) else {"share": v} for c, v in reg.get("conditions", {}).items()}
    prevalence = np.array([float(spec[c]["share"]) for c in conditions])
    condition_age = np.array([[spec[c]["age"]["mean"], spec[c]["age"]["sd"]] if "age" in spec[c] else [np.nan] * 2
                              for c in conditions], dtype=float).reshape(len(conditions), 2)
    gate = np.zeros((S, len(conditions)))
    gated = np.zeros(S, dtype=bool)
    for name, shares in tl["requires"].items():
        i = scen(name, f"requires.{name}")
        gated[i] = True
        for c, share in shares.items():
            k = cond(c, f"requires.{name}")
            gate[i, k] = float(share) / max(prevalence[k], 1e-9)
    dx_cond = np.full((S, nj), -1, dtype=np.int64)
    dx_side = np.zeros((S, nj), dtype=np.int64)
    once, once_min = -1, 0
    for name, spec in tl["once_per_side"].items():
        once, once_min = scen(name, f"once_per_side.{name}"), int(spec["min_days_between"])
    for i, s in enumerate(sc):
        for j, d in enumerate(s["diagnoses"]):
            for prefix, c in tl["diagnosis_requires"].items():
                if d["code"].startswith(prefix):
                    dx_cond[i, j] = cond(c, f"diagnosis_requires.{prefix}")
            if i == once:
                side = tl["once_per_side"][names[i]]["sides"].get(d["code"])
                if side is None:
                    raise ConfigError(f"{where}.once_per_side.{names[i]}.sides", "has no side for a diagnosis",
                                      found=d["code"])
                dx_side[i, j] = SIDE_BITS[side]
    readmit_p = np.zeros(S)
    reason_w = np.zeros((S, S))
    ra = tl["readmission"]
    for name, spec in ra["scenarios"].items():
        i = scen(name, f"readmission.scenarios.{name}")
        readmit_p[i] = spec["p"]
        for r, w in spec["reasons"].items():
            reason_w[i, scen(r, f"readmission.scenarios.{name}.reasons")] = w
    weights = np.array([float(mix.get(n, 0.0)) for n in names])
    reason_w[:, weights <= 0] = 0.0  # a disabled scenario is nobody's readmission
    exclusive = [[cond(c, "registry.exclusive_conditions") for c in g] for g in reg.get("exclusive_conditions", [])]
    dx_pad = [[d["weight"] for d in s["diagnoses"]] + [0] * (nj - len(s["diagnoses"])) for s in sc]
    return Catalogue(
        names=names,
        titles=np.array([s["title"] for s in sc], dtype=object),
        weights=weights,
        route=np.array([routes.index(s["arrival"]) for s in sc]),
        arrival_cum=_cum([gen["arrival_hours"][r] for r in routes], 24),
        branch=table(None, lambda s, n, b: n),
        branch_cum=_cum(branch_rows, nb),
        branch_p=np.array([r + [0.0] * (nb - len(r)) for r in branch_rows], dtype=float),
        die_p=table(0.0, lambda s, n, b: float(b["disposition"].get("expired", 0)), dtype=float),
        los=los,
        enc_type=table(None, lambda s, n, b: b["encounter_type"]),
        care_unit=table(None, lambda s, n, b: b["care_unit"]),
        acuity_vals=np.array(acuity_vals, dtype=np.int64),
        acuity_cum=acuity_cum,
        dispo_vals=np.array(dispo_vals, dtype=object),
        dispo_cum=dispo_cum,
        dx_code=np.array([[d["code"] for d in s["diagnoses"]] + [""] * (nj - len(s["diagnoses"])) for s in sc],
                         dtype=object),
        dx_desc=np.array([[d["desc"] for d in s["diagnoses"]] + [""] * (nj - len(s["diagnoses"])) for s in sc],
                         dtype=object),
        dx_w=np.array(dx_pad, dtype=float),
        dx_cond=dx_cond,
        dx_side=dx_side,
        conditions=conditions,
        prevalence=prevalence,
        condition_age=condition_age,
        exclusive=exclusive,
        gate=gate,
        gated=gated,
        readmit_p=readmit_p,
        reason_w=reason_w,
        within_days=int(ra["within_days"]),
        readmit_hazard=_readmit_hazard(readmit_p, int(ra["within_days"]), ra["gap_days"]),
        return_min_days=int(tl["return_min_days"]),
        once=once,
        once_min_days=once_min,
    )
