"""Clinical realism per scenario, over thousands of seeded encounters.

Each assertion is a clinical signature from docs/clinical_sources.md that would fail if the
trajectory, coupling, trigger or lab logic broke. Thresholds leave room for the spread a real
cohort shows, not for a broken mechanism.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_generator.config import load_config
from data_generator.pipeline import build_day
from tests.conftest import DAY, copy_config

N_ENCOUNTERS = 3000
# NEWS2 bands (RCP 2017), scale 1: an independent oracle, not the generator's own code.
NEWS2 = {
    "resp_rate": [(8, 3), (11, 1), (20, 0), (24, 2), (999, 3)],
    "spo2": [(91, 3), (93, 2), (95, 1), (999, 0)],
    "sbp": [(90, 3), (100, 2), (110, 1), (219, 0), (999, 3)],
    "heart_rate": [(40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (999, 3)],
    "temp_c": [(35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (99, 2)],
}


def news2(v: pd.DataFrame) -> pd.Series:
    total = pd.Series(0, index=v.index)
    for col, bands in NEWS2.items():
        x = v[col].astype(float)
        score = pd.Series(0, index=v.index)
        for upper, points in reversed(bands):
            score = score.mask(x <= upper, points)
        total += score.where(x.notna(), 0)
    total += (v.o2_device != "room_air").astype(int) * 2
    total += (~v.consciousness.isin(["A", None])).astype(int) * 3
    return total


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    """One day with every scenario weighted equally: per-table DataFrames with hours since admit."""
    def equal_mix(g):
        g["scenarios"]["weights"] = {k: 1 for k in g["scenarios"]["weights"]}
        g["scenarios"]["weekday"] = {}
    cfg = load_config(copy_config(tmp_path_factory.mktemp("cfg"), equal_mix))
    registry, tables = build_day(cfg, DAY, "sample", N_ENCOUNTERS)
    enc = pd.DataFrame(tables["encounters"])
    enc["age"] = enc.patient_id.map(dict(zip(registry.table["patient_id"], registry.age_years, strict=True)))
    out = {"encounters": enc}
    admit = enc.set_index("encounter_id").admit_time
    for name, col in (("vitals", "event_time"), ("labs", "event_time"), ("notes", "note_time")):
        df = pd.DataFrame(tables[name])
        df["scenario"] = df.encounter_id.map(enc.set_index("encounter_id").scenario)
        df["outcome"] = df.encounter_id.map(enc.set_index("encounter_id").outcome)
        df["hours"] = (df[col] - df.encounter_id.map(admit)) / 3600
        out[name] = df
    out["labs"]["result_hours"] = out["labs"].hours + (out["labs"].result_time - out["labs"].event_time) / 3600
    return out


def _labs(chart, scenario, loinc):
    labs = chart["labs"]
    return labs[(labs.scenario == scenario) & (labs.loinc_code == loinc)].sort_values(["encounter_id", "hours"])


def _first(df):
    return df.groupby("encounter_id").first()


def test_every_scenario_appears_with_its_outcome_branches(chart, cfg):
    """The equal mix yields every scenario, and every branch with p >= 0.1."""
    enc = chart["encounters"]
    for name, sc in cfg.scenarios.items():
        seen = set(enc.outcome[enc.scenario == name])
        expected = {b for b, spec in sc["outcomes"].items() if spec["p"] >= 0.1}
        assert expected <= seen, name


def test_ages_fit_each_scenario(chart, cfg):
    """Patients are matched to scenarios: each scenario's mean age is near its population mean."""
    enc = chart["encounters"]
    for name, sc in cfg.scenarios.items():
        ages = enc.age[enc.scenario == name]
        target = sc["population"]["age"]
        assert abs(ages.mean() - target["mean"]) < 6, name
        assert ages.between(target["min"], target["max"] + 1).all(), name


def test_one_encounter_per_patient_per_day(chart):
    """No patient is admitted twice on the same day."""
    assert chart["encounters"].patient_id.is_unique


def test_sepsis_sirs_early_and_lactate_after_fever(chart):
    """Most septic patients meet >= 2 SIRS criteria within 6 h; lactate is drawn after the first vitals."""
    v = chart["vitals"]
    v = v[(v.scenario == "sepsis") & (v.hours <= 6)]
    sirs = ((v.temp_c > 38) | (v.temp_c < 36)).astype(int) + (v.heart_rate > 90) + (v.resp_rate > 20)
    met = (sirs >= 2).groupby(v.encounter_id).any()
    assert met.mean() > 0.75
    lact = _first(_labs(chart, "sepsis", "2524-7"))
    first_vitals = v.groupby("encounter_id").hours.min()
    assert len(lact) >= 0.95 * chart["encounters"].scenario.eq("sepsis").sum()
    assert (lact.hours > first_vitals.reindex(lact.index)).all()
    assert (lact.value > 2).mean() > 0.5


def test_sepsis_lactate_above_two_gets_repeated(chart):
    """A lactate above 2 orders a repeat within about 2-4 hours."""
    lact = _labs(chart, "sepsis", "2524-7")
    first = _first(lact)
    high = first[first.value > 2].index
    repeats = lact[lact.encounter_id.isin(high)].groupby("encounter_id").size()
    assert (repeats >= 2).mean() > 0.8


def test_heart_failure_bnp_high(chart):
    """Heart-failure admission BNP median is above 400 pg/mL (ruled-in range)."""
    bnp = _first(_labs(chart, "heart_failure", "30934-4"))
    assert bnp.value.median() > 400


def test_post_op_hemoglobin_falls(chart):
    """Post-op day-1 hemoglobin is below the pre-op value in most hip replacements."""
    hb = _labs(chart, "post_op_hip", "718-7")
    pre = hb[hb.hours < 6].groupby("encounter_id").value.first()
    day1 = hb[(hb.hours >= 12) & (hb.hours <= 40)].groupby("encounter_id").value.first()
    both = pd.concat([pre, day1], axis=1, keys=["pre", "day1"]).dropna()
    assert len(both) > 100
    assert (both.day1 < both.pre).mean() > 0.85
    assert (both.pre - both.day1).median() > 1.0


def test_dka_admission_anion_gap_high(chart):
    """DKA admission anion gap is above 12 (and bicarbonate low, glucose high)."""
    gap = _first(_labs(chart, "dka", "33037-3"))
    assert (gap.value > 12).mean() > 0.85
    assert _first(_labs(chart, "dka", "1963-8")).value.median() < 18
    assert _first(_labs(chart, "dka", "2345-7")).value.median() > 250


def test_nstemi_troponin_rises_then_falls(chart):
    """hs-troponin in NSTEMI rises above the 99th percentile and falls from its peak later."""
    trop = _labs(chart, "nstemi", "89579-7")
    peaks = trop.groupby("encounter_id").value.agg(["first", "max", "last", "size"])
    peaks = peaks[peaks["size"] >= 3]
    assert (peaks["max"] > 26).mean() > 0.9
    assert (peaks["max"] > peaks["first"]).mean() > 0.6


def test_observation_news2_mostly_low(chart):
    """Low-acuity observation stays score NEWS2 0-4 in most charted sets."""
    v = chart["vitals"]
    score = news2(v[v.scenario == "observation"])
    assert (score <= 4).mean() > 0.9


def test_septic_patients_score_higher_than_observation(chart):
    """NEWS2 separates sick from well: sepsis in its first day scores above observation."""
    v = chart["vitals"]
    sepsis = news2(v[(v.scenario == "sepsis") & (v.hours < 24)]).mean()
    obs = news2(v[v.scenario == "observation"]).mean()
    assert sepsis > obs + 3


def test_vitals_noise_is_autocorrelated(chart):
    """Within an encounter, successive heart rates are clearly correlated (lag-1 > 0.3)."""
    v = chart["vitals"].dropna(subset=["heart_rate"])
    v = v[v.scenario == "observation"].sort_values(["encounter_id", "hours"])
    resid = v.heart_rate - v.groupby("encounter_id").heart_rate.transform("mean")
    prev = resid.groupby(v.encounter_id).shift()
    assert resid.corr(prev) > 0.3


@pytest.mark.parametrize("scenario", ["pneumonia", "sepsis", "heart_failure"])
def test_survivors_go_home_stable(chart, scenario):
    """Recovery keeps pace with the stay: the last set charted before a survivor's discharge is
    on room air, afebrile, not tachypnoeic and (nearly always) not tachycardic (P2: clinical
    stability, the usual criterion for discharge)."""
    enc = chart["encounters"].set_index("encounter_id")
    home = enc.index[(enc.scenario == scenario) & (enc.discharge_disposition != "expired")]
    v = chart["vitals"]
    last = v[v.encounter_id.isin(home)].sort_values("hours").groupby("encounter_id").tail(1)
    assert len(last) >= 100
    assert (last.o2_device == "room_air").mean() >= 0.95
    assert (last.temp_c.dropna() < 37.8).mean() >= 0.97
    assert (last.resp_rate.dropna() <= 24).mean() >= 0.97
    assert (last.heart_rate.dropna() <= 100).mean() >= 0.9


def test_fever_raises_heart_rate(chart):
    """Coupling: across febrile and afebrile sets, HR rises with temperature (K1: ~7 bpm per degree C
    in ED cohorts; hypothermic septic patients, tachycardic while cold, flatten the across-patient
    slope; the within-stay slope of 8-10 is checked in test_physiology)."""
    v = chart["vitals"].dropna(subset=["heart_rate", "temp_c"])
    v = v[v.scenario.isin(["pneumonia", "sepsis"])]
    slope = np.polyfit(v.temp_c, v.heart_rate, 1)[0]
    assert 5 < slope < 25


def test_map_spo2_and_oxygen_are_consistent(chart):
    """MAP lies between DBP and SBP, SpO2 never exceeds 100, room air means FiO2 0.21."""
    v = chart["vitals"].dropna(subset=["sbp", "dbp", "map"])
    assert ((v.dbp <= v["map"]) & (v["map"] <= v.sbp)).all()
    allv = chart["vitals"]
    assert (allv.spo2.dropna() <= 100).all()
    assert (allv.fio2[allv.o2_device == "room_air"] == 0.21).all()
    assert (allv.fio2[allv.o2_device != "room_air"] > 0.21).all()


def test_copd_oxygen_targets_88_to_92(chart):
    """COPD patients on oxygen are titrated to 88-92% rather than 94-98%."""
    v = chart["vitals"]
    on_o2 = v[(v.scenario == "copd_exacerbation") & (v.o2_device != "room_air")].spo2.dropna()
    assert len(on_o2) > 50
    assert on_o2.median() <= 93


def test_deaths_only_on_death_branches(chart):
    """Expired disposition comes only from branches that model death, and those always expire."""
    enc = chart["encounters"]
    died = enc.discharge_disposition == "expired"
    assert died.any()
    assert (enc.outcome[died].str.contains("die|death|expire")).all()


def test_charting_cadence_follows_unit_and_news2(chart):
    """ICU charts about hourly; on the wards a low NEWS2 is re-checked ~4 h later, a high one ~1 h (F3)."""
    v = chart["vitals"].sort_values(["encounter_id", "hours"]).copy()
    v["unit"] = v.encounter_id.map(chart["encounters"].set_index("encounter_id").care_unit)
    v["next_gap"] = -v.groupby("encounter_id").hours.diff(-1)
    v["score"] = news2(v)
    assert v.next_gap[v.unit == "MICU"].median() == pytest.approx(1.0, abs=0.25)
    ward = v[v.unit.isin(["MED-WARD", "SURG-WARD"])]
    assert ward.next_gap[ward.score <= 2].median() > 3.0
    assert ward.next_gap[ward.score >= 7].median() < 1.5


def test_culture_organisms_follow_the_scenario(chart):
    """Positive blood cultures in pneumonia are mostly pneumococcal, in sepsis mostly E. coli."""
    labs = chart["labs"]
    grown = labs[(labs.loinc_code == "600-7") & (labs.flag == "A")]
    pneumonia = grown[grown.scenario == "pneumonia"].value_text
    sepsis = grown[grown.scenario == "sepsis"].value_text
    assert len(pneumonia) >= 5 and len(sepsis) >= 20
    assert pneumonia.str.contains("pneumoniae").mean() > sepsis.str.contains("Streptococcus pneumoniae").mean()
    assert sepsis.str.contains("Escherichia coli").mean() > 0.3
