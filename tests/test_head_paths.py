"""The head of a day (registry, timelines, encounters) computes with arrays what plainer forms
compute row by row: each array path gives exactly what its plain form gives, bit for bit."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from data_generator.generators import lifetimes
from data_generator.generators.catalogue import catalogue, pick, pick_weighted
from data_generator.generators.encounters import day_encounters
from data_generator.generators.registry import _text, derive_registry
from data_generator.rng import uniforms

DATE = dt.date(2025, 3, 20)


def _plain_pick_weighted(w: np.ndarray, u: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    c = np.cumsum(w, axis=1) / np.where(total > 0, total, 1.0)[:, None]
    idx = np.minimum((c <= u[:, None]).sum(axis=1), w.shape[1] - 1)
    idx = np.where(w[np.arange(len(w)), idx] > 0, idx, np.argmax(w > 0, axis=1))
    return np.where(total > 0, idx, -1)


@pytest.mark.parametrize("width", [1, 3, 10, 17])
def test_pick_weighted_equals_its_plain_form(width):
    """Running sums over normalised weights: rows of zeros (-1), zero weights at the top, uniforms
    at 0 and just below 1."""
    rng = np.random.default_rng(width)
    w = rng.random((5000, width)) ** 3
    w[rng.random(w.shape) < 0.4] = 0
    w[:20] = 0
    w[20:40, -1] = 0
    u = rng.random(5000)
    u[:60:2], u[1:60:2] = 0.0, np.nextafter(1.0, 0.0)
    assert np.array_equal(pick_weighted(w, u), _plain_pick_weighted(w, u))
    assert pick_weighted(w[:0], u[:0]).size == 0


def test_pick_in_rows_equals_pick(cfg):
    """An admission hour bisects its route's profile: the same hour as comparing the gathered rows."""
    cat = catalogue(cfg)
    rng = np.random.default_rng(3)
    route = rng.integers(0, len(cat.arrival_cum), 3000)
    u = rng.random(3000)
    u[:10] = 0.0
    want = pick(cat.arrival_cum[route], u)
    assert np.array_equal(lifetimes._pick_in_rows(cat.arrival_cum, route, u), want)


def test_gate_sums_and_condition_sets_equal_the_matrix_forms(cfg):
    """A gated scenario's gate per patient is `has @ gate` for the shipped one- and two-condition
    gates, and each patient's set of a scenario's conditions is its own row of them."""
    cat = catalogue(cfg)
    age = np.random.default_rng(5).uniform(18, 100, 4096)
    has = lifetimes.patient_conditions(cfg, age).astype(float)
    sizes = set()
    for i in np.flatnonzero(cat.gated):
        gate = cat.gate[i] * 1.37
        sizes.add(int(np.count_nonzero(gate)))
        assert lifetimes._gate_sum(has, gate).tobytes() == (has @ gate).tobytes()
        patterns, which = lifetimes._condition_sets(has, cat.gate[i])
        assert np.array_equal(patterns[which], has * (cat.gate[i] != 0))
        assert len(np.unique(patterns, axis=0)) == len(patterns)
    assert sizes == {1, 2}
    patterns, which = lifetimes._condition_sets(has, np.zeros(has.shape[1]))  # a scenario with no condition
    assert patterns.shape == (1, has.shape[1]) and not which.any()


def test_return_candidates_and_readmission_days_equal_the_matrix_forms(cfg):
    """The candidates each patient has, and its first readmission day, drawn as pairs and by
    slices, are those of the full (patients, candidates) and (patients, days) matrices."""
    cat = catalogue(cfg)
    rng = np.random.default_rng(8)
    rows = np.arange(5000)
    unit = rng.integers(0, 400, rows.size)
    rate = rng.lognormal(0, 0.3, rows.size)
    owner, pos = lifetimes._candidates(cfg, "sample", rows, unit, rate)
    count = np.bincount(owner, minlength=rows.size)
    k = np.arange(1, count.max() + 1)
    matrix = unit[:, None] + uniforms(cfg.seed, "returns sample", rows[:, None], unit[:, None], k[None, :])
    want = matrix[k[None, :] <= count[:, None]]  # row by row, candidates in order
    assert pos.tobytes() == want.tobytes()
    assert np.array_equal(owner, np.repeat(rows, count))
    assert 0.5 < count.mean() < 2

    end = rng.integers(0, 700, rows.size)
    scen = rng.integers(0, len(cat.names), rows.size)
    days = np.arange(1, cat.within_days + 1)
    hit = uniforms(cfg.seed, "readmit sample", rows[:, None], end[:, None] + days[None, :]) \
        < cat.readmit_hazard[scen][:, 1:]
    gap = lifetimes._readmission_gap(cfg, "sample", cat, rows, end, scen)
    assert np.array_equal(gap, np.where(hit.any(axis=1), np.argmax(hit, axis=1) + 1, 0))
    assert 0 < np.count_nonzero(gap) < rows.size


def test_registry_text_columns_equal_formatted_numbers():
    """IDs, MRNs and phone numbers written as code points read as the numbers formatted one by one."""
    numbers = np.array([0, 7, 42, 999_999, 1_000_000, 9_999_999])
    assert _text(len(numbers), "P", (numbers, 7)).tolist() == [f"P{x:07d}" for x in numbers.tolist()]
    area, line = np.array([200, 999, 555]), np.array([0, 9999, 100])
    phones = _text(3, "(", (area, 3), ") ", (area[::-1].copy(), 3), "-", (line, 4)).tolist()
    assert phones == ["(200) 555-0000", "(999) 999-9999", "(555) 200-0100"]


def test_encounter_histories_list_each_patients_conditions(cfg):
    """Each encounter's history is its patient's conditions in config order, a list of its own."""
    registry = derive_registry(cfg, DATE)
    enc = day_encounters(cfg, DATE, "sample", registry, 200)
    cat = catalogue(cfg)
    has = lifetimes.patient_conditions(cfg, lifetimes._age_at_registration(registry.table, registry.registered))
    for i in range(len(enc)):
        want = [cat.conditions[c] for c in np.flatnonzero(has[enc.patient_index[i]])]
        assert isinstance(enc.history[i], list) and enc.history[i] == want
    assert len({id(h) for h in enc.history}) == len(enc)
    assert any(len(h) >= 2 for h in enc.history) and any(not h for h in enc.history)
