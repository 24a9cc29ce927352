"""Blood-gas arithmetic: the values of one draw computed from each other, as a real chart obeys.

The bicarbonate of a draw gains the kidney's compensation for a raised PaCO2; the PaCO2 falls
toward Winter's expected value when bicarbonate is low; the pH follows from both by
Henderson-Hasselbalch; the PaO2 follows the SpO2 the patient had at the draw through the
oxyhaemoglobin dissociation curve. Constants come from `blood_gas:` in the labs catalogue.
"""

from __future__ import annotations

import numpy as np


def compensated_bicarbonate(hco3: np.ndarray, paco2: np.ndarray, chronic_share: np.ndarray,
                            spec: dict) -> np.ndarray:
    """Bicarbonate raised by renal compensation for PaCO2 above normal (part chronic, part acute)."""
    comp = spec["respiratory_compensation"]
    rise = np.maximum(paco2 - comp["normal_paco2"], 0.0) / 10.0
    per_10 = chronic_share * comp["chronic_per_10"] + (1 - chronic_share) * comp["acute_per_10"]
    return hco3 + per_10 * rise


def compensated_paco2(paco2: np.ndarray, hco3: np.ndarray, rng: np.random.Generator,
                      spec: dict) -> np.ndarray:
    """In metabolic acidosis the breathing follows Winter's expected PaCO2 (slope x HCO3 +
    intercept +- sd); with a normal bicarbonate it is the patient's own respiratory PaCO2, and
    in between a blend (continuous, so nothing piles up at the switch)."""
    return winters_paco2(paco2, hco3, rng.normal(0, spec["winters"]["sd"], hco3.size), spec)


def winters_paco2(paco2: np.ndarray, hco3: np.ndarray, noise: np.ndarray, spec: dict) -> np.ndarray:
    """`compensated_paco2` with the scatter around Winter's value given (`noise`)."""
    w = spec["winters"]
    expected = w["slope"] * hco3 + w["intercept"] + noise
    lo, hi = w["full_below_hco3"], w["none_above_hco3"]
    share = np.clip((hi - hco3) / (hi - lo), 0.0, 1.0)
    return share * expected + (1 - share) * paco2


def henderson_ph(hco3: np.ndarray, paco2: np.ndarray, spec: dict) -> np.ndarray:
    """pH = pK + log10(HCO3 / (solubility x PaCO2))."""
    ph = spec["ph"]
    return ph["pk"] + np.log10(hco3 / (ph["co2_solubility"] * paco2))


def pao2_from_saturation(spo2_percent: np.ndarray, spec: dict, ph: np.ndarray | None = None,
                         paco2: np.ndarray | None = None) -> np.ndarray:
    """PaO2 (mmHg) whose Severinghaus saturation is `spo2_percent`: the real root of
    P^3 + b P = a S / (1 - S), by Cardano's formula; given the draw's pH and PaCO2, moved by the
    Bohr shift (Severinghaus's virtual PO2: acidosis and hypercapnia need a higher PaO2 for the
    same saturation)."""
    curve = spec["severinghaus"]
    standard = _severinghaus_inverse(spo2_percent, curve)
    if ph is None or paco2 is None:
        return standard
    shift = curve["shift"]
    exponent = (shift["ph_per_unit"] * (ph - shift["normal_ph"])
                + shift["log_co2"] * np.log10(shift["normal_paco2"] / paco2))
    return standard / 10.0 ** exponent


def _severinghaus_inverse(spo2_percent: np.ndarray, curve: dict) -> np.ndarray:
    s = np.clip(spo2_percent / 100.0, curve["min_saturation"], curve["max_saturation"])
    q = curve["a"] * s / (1 - s)
    p = curve["b"]
    root = np.sqrt(q * q / 4 + p ** 3 / 27)
    return np.cbrt(q / 2 + root) + np.cbrt(q / 2 - root)


class Charted:
    """A charted series (encounter, hours, value) without its gaps, sorted by encounter then
    hours once, to be read at many moments."""

    def __init__(self, owner: np.ndarray, hours: np.ndarray, values: np.ndarray):
        ok = ~np.isnan(values)
        owner, hours, values = owner[ok], hours[ok], values[ok]
        if not _in_order(owner, hours):
            order = np.lexsort((hours, owner))
            owner, hours, values = owner[order], hours[order], values[order]
        self.owner, self.hours, self.values = owner, hours, values

    def at(self, rows: np.ndarray, at_hours: np.ndarray, default: float) -> np.ndarray:
        """The series interpolated to (row, hour) within the same encounter: linear between the
        charted values either side, the nearest one at the ends, `default` for an uncharted encounter."""
        owner, hours, values = self.owner, self.hours, self.values
        n = owner.size
        key = np.searchsorted(owner, rows, side="left")
        end = np.searchsorted(owner, rows, side="right")
        right = _search_within(owner, hours, rows, at_hours, key, end)
        left = right - 1
        has_left = left >= key
        has_right = right < end
        li, ri = np.clip(left, 0, max(n - 1, 0)), np.clip(right, 0, max(n - 1, 0))
        out = np.full(rows.size, default, dtype=float)
        if n == 0:
            return out
        t0, t1, v0, v1 = hours[li], hours[ri], values[li], values[ri]
        frac = np.clip((at_hours - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)
        both = has_left & has_right
        out[both] = (v0 + frac * (v1 - v0))[both]
        out[has_left & ~has_right] = v0[has_left & ~has_right]
        out[~has_left & has_right] = v1[~has_left & has_right]
        return out


def _in_order(owner: np.ndarray, hours: np.ndarray) -> bool:
    """Whether events are sorted by owner, then hours (as charted sets are)."""
    later = owner[1:] > owner[:-1]
    later |= (owner[1:] == owner[:-1]) & (hours[1:] >= hours[:-1])
    return bool(later.all())


def _search_within(owner: np.ndarray, hours: np.ndarray, rows: np.ndarray, at_hours: np.ndarray,
                   start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Index of the first event of encounter `rows` later than `at_hours` (sorted by owner, hours)."""
    span = max(float(hours.max()) if hours.size else 0.0, float(np.max(at_hours, initial=0.0))) + 1.0
    flat = owner * span + hours
    found = np.searchsorted(flat, rows * span + at_hours, side="right")
    return np.clip(found, start, end)
