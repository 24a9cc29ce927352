"""The serial head of a day: the registry, the timeline fit's reference patients and a day's timelines
are derived once each and agree with the slower, plainer derivations they stand for."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from data_generator.generators import lifetimes
from data_generator.generators.catalogue import catalogue
from data_generator.generators.encounters import _top, day_encounters
from data_generator.generators.lifetimes import day_index, day_lives, derive_lives
from data_generator.generators.registry import BLOCK, _faker_pools, derive_registry, people

DATE = dt.date(2025, 3, 20)  # 1,580 patients: two blocks, the second cut short


@pytest.fixture(scope="module")
def registry(cfg):
    return derive_registry(cfg, DATE)


def test_people_are_the_registrys_first_patients(cfg, registry):
    """`people` (what the timeline fit is computed on) draws the same patients as the registry."""
    n = len(registry)
    assert BLOCK < n < 2 * BLOCK
    registered, born, male = people(cfg, n)
    assert (registered == registry.table["registered_date"]).all()
    assert (born == registry.table["date_of_birth"]).all()
    assert (np.where(male, "M", "F") == registry.table["sex"]).all()


def test_registry_columns_come_from_the_pools(cfg, registry):
    """Each patient's names and places are pool entries (a place's city, state and zip together),
    and the phone reads `(NNN) NNN-NNNN`."""
    pools = _faker_pools(cfg.seed, "en_US")
    t = registry.table
    first = set(pools["first_f"]) | set(pools["first_m"])
    assert set(t["first_name"].tolist()) <= first and set(t["last_name"].tolist()) <= set(pools["last"])
    assert set(t["address"].tolist()) <= set(pools["street"])
    assert set(zip(t["city"].tolist(), t["state"].tolist(), t["zip"].tolist(), strict=True)) <= set(pools["place"])
    assert all(isinstance(v, str) for v in t["phone"].tolist())
    assert np.strings.str_len(t["phone"].astype(str)).tolist() == [14] * len(registry)
    assert t["phone"][0][0] == "(" and t["phone"][0][4:6] == ") " and t["phone"][0][9] == "-"


def test_fit_equals_the_per_patient_fit(cfg):
    """The timeline fit, computed once per set of conditions, equals the fit computed patient by
    patient with matrix products bit for bit (the mix of every day depends on it)."""
    cat = catalogue(cfg)
    registered, born, male = people(cfg, lifetimes.REFERENCE_BLOCKS * BLOCK)
    age = (registered - born).astype(np.int64) / 365.25
    has = lifetimes.patient_conditions(cfg, age).astype(float)
    target = cat.weights / cat.weights.sum()
    wanted = cat.gate * cat.prevalence[None, :]
    wanted /= np.maximum(wanted.sum(axis=1, keepdims=True), 1e-300)
    scale, gate = np.ones(len(target)), cat.gate.copy()
    density = lifetimes._demographic_fit(cfg, cat, age, male)
    for _ in range(60):
        w = density.copy()
        for i in np.flatnonzero(cat.gated):
            w[:, i] = density[:, i] * (has @ gate[i])
        w = w * scale * target
        p = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        share = p.mean(axis=0)
        scale = np.where(share > 0, scale * target / np.maximum(share, 1e-300), scale)
        for i in np.flatnonzero(cat.gated):
            part = has * gate[i][None, :]
            part /= np.maximum(part.sum(axis=1, keepdims=True), 1e-300)
            got = (p[:, i, None] * part).sum(axis=0) / max(p[:, i].sum(), 1e-300)
            gate[i] = np.where(got > 0, gate[i] * wanted[i] / np.maximum(got, 1e-300), gate[i])
    fitted_scale, fitted_gate = lifetimes._fitted(cfg)
    assert fitted_scale.tobytes() == scale.tobytes()
    assert fitted_gate.tobytes() == gate.tobytes()


def test_a_day_needing_more_patients_derives_everyone_once(cfg, registry):
    """`at_least` above the day's candidates derives every timeline, the same as `derive_lives`; a
    day's own size derives the candidates alone."""
    few = day_lives(cfg, "sample", registry, DATE)
    assert not few.everyone
    everyone = day_lives(cfg, "sample", registry, DATE, at_least=len(registry))
    full = derive_lives(cfg, "sample", registry, DATE)
    assert everyone.everyone and full.everyone
    for field in ("patient", "day", "admit", "discharge", "scen", "dx", "prev"):
        assert (getattr(everyone.stays, field) == getattr(full.stays, field)).all(), field
    d = day_index(cfg, DATE)
    assert (np.sort(few.stays.admit[few.stays.day == d]) == np.sort(full.stays.admit[full.stays.day == d])).all()


def test_previous_stay_names_the_date_and_title_of_the_last_stay(cfg, registry):
    """An encounter's previous stay is the patient's latest earlier stay: its admission date and
    scenario title (None for a first stay)."""
    enc = day_encounters(cfg, DATE, "sample", registry, 300)
    lives = derive_lives(cfg, "sample", registry, DATE)
    titles = dict(zip(catalogue(cfg).names, catalogue(cfg).titles.tolist(), strict=True))
    admits = lives.stays.admit
    firsts = 0
    for i in range(len(enc)):
        p = enc.patient_index[i]
        before = np.flatnonzero((lives.stays.patient == p) & (admits < enc.admit[i]))
        prev = enc.previous_stay[i]
        if before.size == 0:
            firsts += 1
            assert prev is None
            continue
        last = before[np.argmax(admits[before])]
        date = (cfg.start_date + dt.timedelta(days=int(lives.stays.day[last]))).isoformat()
        assert prev == {"date": date, "scenario": titles[catalogue(cfg).names[lives.stays.scen[last]]]}
    assert 0 < firsts < len(enc)


@pytest.mark.parametrize("k", [1, 2, 7, 50, 199, 200, 500])
def test_top_orders_as_a_stable_sort(k):
    """Who an override day admits first: the k largest finite keys in the order a stable sort of
    the negated keys gives (ties by lower index), none of the impossible ones (-inf)."""
    rng = np.random.default_rng(k)
    values = rng.integers(0, 12, 200).astype(float)  # many ties
    values[rng.random(200) < 0.3] = -np.inf
    want = np.argsort(-values, kind="stable")[:k]
    want = want[np.isfinite(values[want])]
    assert _top(values, k).tolist() == want.tolist()
