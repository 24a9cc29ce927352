"""Physiology that is arithmetic, checked on a written day read back with pandas.

The formulas here (Henderson-Hasselbalch, Winter's, Severinghaus) are written out again as
independent oracles over the CSV files, not imported from the generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.generators.encounters import generate_encounters
from data_generator.generators.physiology import build_physiology
from data_generator.generators.registry import derive_registry
from data_generator.pipeline import generate_day
from tests.conftest import DAY, copy_config

N_ENCOUNTERS = 2500
HEAVY = {"sepsis": 4, "dka": 2, "copd_exacerbation": 2}  # enough blood gases and septic survivors


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A written day weighted toward sepsis, DKA and COPD: the five CSVs as DataFrames."""
    def weights(g):
        g["scenarios"]["weights"] = {k: HEAVY.get(k, 1) for k in g["scenarios"]["weights"]}
        g["scenarios"]["weekday"] = {}
    cfg = load_config(copy_config(tmp_path_factory.mktemp("cfg"), weights))
    folder = generate_day(cfg, DAY, "sample", tmp_path_factory.mktemp("out"), encounters=N_ENCOUNTERS,
                          save_registry=False).folder
    enc = pd.read_csv(folder / "encounters.csv")
    sex = pd.read_csv(folder / "patients.csv").set_index("patient_id").sex
    enc["sex"] = enc.patient_id.map(sex)
    for col in ("admit_time", "discharge_time"):
        enc[col] = pd.to_datetime(enc[col], utc=True, format="ISO8601")
    e = enc.set_index("encounter_id")
    out = {"encounters": e, "folder": folder}
    for name, cols in (("vitals", ["event_time"]), ("labs", ["event_time", "result_time"])):
        df = pd.read_csv(folder / f"{name}.csv")
        for col in cols:
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
        for col in ("scenario", "outcome", "sex", "discharge_disposition"):
            df[col] = df.encounter_id.map(e[col])
        df["hours"] = (df.event_time - df.encounter_id.map(e.admit_time)).dt.total_seconds() / 3600
        df["hours_left"] = (df.encounter_id.map(e.discharge_time) - df.event_time).dt.total_seconds() / 3600
        out[name] = df
    return out


def _test(day, loinc):
    labs = day["labs"]
    return labs[labs.loinc_code == loinc]


def _same_draw(day, **codes) -> pd.DataFrame:
    """One row per draw holding every named test (same encounter and collection time)."""
    key = ["encounter_id", "event_time"]
    frames = [_test(day, code)[key + ["value"]].rename(columns={"value": name}) for name, code in codes.items()]
    out = frames[0]
    for f in frames[1:]:
        out = out.merge(f, on=key)
    return out


def _spikes(values: pd.Series) -> list[tuple]:
    """Bounds (lowest or highest value) seen far more often than the value next to them."""
    counts = values.dropna().round(6).value_counts().sort_index()
    if len(counts) < 3:
        return []
    return [(end, int(counts[end]), int(counts[nxt]))
            for end, nxt in ((counts.index[0], counts.index[1]), (counts.index[-1], counts.index[-2]))
            if counts[end] >= 20 and counts[end] > 3 * counts[nxt]]


def test_ph_follows_henderson_hasselbalch(day):
    """pH of a draw is 6.1 + log10(HCO3 / (0.0307 PaCO2)) of the same draw, within 0.05, in >= 95%."""
    gas = _same_draw(day, ph="2744-1", paco2="2019-8", hco3="1963-8")
    assert len(gas) >= 150
    expected = 6.1 + np.log10(gas.hco3 / (0.0307 * gas.paco2))
    assert (abs(gas.ph - expected) <= 0.05).mean() >= 0.95


def test_metabolic_acidosis_paco2_follows_winters_formula(day):
    """With bicarbonate below 20, PaCO2 sits at 1.5 HCO3 + 8 +- 2 (rounding allowed) in >= 90%."""
    gas = _same_draw(day, paco2="2019-8", hco3="1963-8")
    acid = gas[gas.hco3 < 20]
    assert len(acid) >= 50
    assert (abs(acid.paco2 - (1.5 * acid.hco3 + 8)) <= 2.5).mean() >= 0.9


def test_copd_hypercapnia_is_compensated(day):
    """COPD draws with PaCO2 >= 55 carry a raised bicarbonate (chronic compensation) and a pH above 7.2."""
    gas = _same_draw(day, ph="2744-1", paco2="2019-8", hco3="1963-8")
    copd = gas[gas.encounter_id.map(day["encounters"].scenario).eq("copd_exacerbation") & (gas.paco2 >= 55)]
    assert len(copd) >= 20
    assert copd.hco3.median() >= 28
    assert (copd.ph > 7.2).mean() > 0.9


def test_pao2_and_spo2_follow_the_dissociation_curve(day):
    """PaO2 < 55 with the nearest SpO2 (within 1 h) >= 92% in <= 5% of low PaO2; SpO2 tracks the curve."""
    vitals = day["vitals"].dropna(subset=["spo2"]).sort_values("event_time")
    pao2 = _test(day, "2703-7").sort_values("event_time")
    both = pd.merge_asof(pao2, vitals[["encounter_id", "event_time", "spo2"]], on="event_time",
                         by="encounter_id", direction="nearest", tolerance=pd.Timedelta("1h")).dropna(subset=["spo2"])
    assert len(both) >= 200
    low = both[both.value < 55]
    assert (low.spo2 >= 92).sum() <= max(1, 0.05 * len(low))
    curve = 100 / (23400 / (both.value ** 3 + 150 * both.value) + 1)  # Severinghaus
    assert np.median(abs(both.spo2 - curve)) < 2.0
    assert (both.value[both.spo2 >= 95] < 60).mean() < 0.02


def test_acidosis_and_hypercapnia_shift_the_curve_right(day):
    """Bohr shift (Severinghaus's virtual PO2): with pH < 7.32 and PaCO2 > 55 a draw's PaO2 is above the
    standard curve's for the SpO2 charted beside it; at normal pH and PaCO2 it sits on the curve."""
    gas = _same_draw(day, ph="2744-1", paco2="2019-8", pao2="2703-7").sort_values("event_time")
    vitals = day["vitals"].dropna(subset=["spo2"]).sort_values("event_time")
    both = pd.merge_asof(gas, vitals[["encounter_id", "event_time", "spo2"]], on="event_time", by="encounter_id",
                         direction="nearest", tolerance=pd.Timedelta("30min")).dropna(subset=["spo2"])
    grid = np.linspace(20, 600, 20000)
    saturation = 100 / (23400 / (grid ** 3 + 150 * grid) + 1)   # standard curve, inverted by lookup
    ratio = both.pao2 / np.interp(both.spo2.clip(50, 98.9), saturation, grid)
    shifted = ratio[(both.ph < 7.32) & (both.paco2 > 55)]
    normal = ratio[both.ph.between(7.37, 7.43) & both.paco2.between(36, 44)]
    assert len(shifted) >= 20 and len(normal) >= 50
    assert shifted.median() > 1.08 and 0.93 < normal.median() < 1.07


def test_no_value_piles_up_at_a_bound(day):
    """No vital, pulse pressure or lab value is far more frequent at its extreme than next to it (no clamp)."""
    v = day["vitals"]
    found = {col: _spikes(v[col]) for col in ("heart_rate", "resp_rate", "sbp", "dbp", "map", "spo2",
                                                "temp_c", "pain_score")}
    found["pulse_pressure"] = _spikes(v.sbp - v.dbp)
    for name, g in day["labs"].groupby("test_name"):
        found[name] = _spikes(g.value)
    assert {k: s for k, s in found.items() if s} == {}
    assert ((v.sbp - v.dbp) == 12).sum() < 20


def test_dying_patients_refractory_shock_lasts_hours(day):
    """Before a death, systolic pressure below 65 belongs to the last hours, not to days of the stay."""
    v = day["vitals"].dropna(subset=["sbp"])
    v = v[v.discharge_disposition == "expired"]
    last = v[v.hours_left <= 8]
    middle = v[(v.hours > 12) & (v.hours_left > 24)]
    assert len(last) >= 100 and len(middle) >= 1000
    assert (middle.sbp < 65).mean() < 0.05
    assert (last.sbp < 65).mean() > max(0.1, 4 * (middle.sbp < 65).mean())


def test_survivors_clear_their_lactate(day):
    """In every scenario with enough of them (sepsis, pneumonia, GI bleed, DKA), >= 70% of survivors
    whose first lactate is > 2 have a later lactate <= 2.0: a raised lactate is repeated until it clears."""
    lac = _test(day, "2524-7")
    lac = lac[lac.discharge_disposition != "expired"].sort_values(["encounter_id", "event_time"])
    first = lac.groupby("encounter_id").value.first()
    high = lac[lac.encounter_id.isin(first[first > 2].index)]
    cleared = high.groupby("encounter_id").agg(scenario=("scenario", "first"),
                                               ok=("value", lambda s: (s.iloc[1:] <= 2.0).any()))
    by = cleared.groupby("scenario").ok.agg(["mean", "size"])
    by = by[by["size"] >= 15]
    assert {"sepsis", "dka", "gi_bleed", "pneumonia"} <= set(by.index), by
    assert (by["mean"] >= 0.7).all(), by


def test_anion_gap_is_normal_without_acidosis(day):
    """Draws with bicarbonate >= 22 have an anion gap of 7-16 in >= 90%, and it equals Na - Cl - HCO3."""
    bmp = _same_draw(day, na="2951-2", cl="2075-0", hco3="1963-8", gap="33037-3")
    assert (bmp.gap == bmp.na - bmp.cl - bmp.hco3).all()
    calm = bmp[bmp.hco3 >= 22]
    assert len(calm) >= 1000
    assert calm.gap.between(7, 16).mean() >= 0.9


def test_some_septic_patients_are_hypothermic_or_leukopenic(day):
    """Sepsis is heterogeneous: ~10-20% hypothermic (< 36 C in the first day), some with WBC < 4 on arrival."""
    v = day["vitals"]
    first_day = v[(v.scenario == "sepsis") & (v.hours <= 24)]
    hypothermic = first_day.groupby("encounter_id").temp_c.min() < 36
    assert 0.07 <= hypothermic.mean() <= 0.25
    wbc = _test(day, "6690-2")
    first = wbc[wbc.scenario == "sepsis"].sort_values("event_time").groupby("encounter_id").value.first()
    assert 0.04 <= (first < 4).mean() <= 0.2
    assert (first > 11.3).mean() > 0.5


def test_haemoglobin_and_creatinine_ranges_follow_sex(day):
    """Reference ranges by sex (L1), and women's baselines below men's on arrival."""
    labs = day["labs"]
    for loinc, female, male in (("718-7", (12.0, 15.5), (13.5, 17.5)), ("2160-0", (0.59, 1.04), (0.74, 1.35))):
        rows = labs[labs.loinc_code == loinc]
        refs = rows.groupby("sex")[["ref_low", "ref_high"]].agg(lambda s: set(s))
        assert refs.loc["F"].tolist() == [{female[0]}, {female[1]}]
        assert refs.loc["M"].tolist() == [{male[0]}, {male[1]}]
        first = rows.sort_values("event_time").groupby("encounter_id").agg(value=("value", "first"),
                                                                            sex=("sex", "first"))
        medians = first.groupby("sex").value.median()
        assert medians["F"] < medians["M"]


def test_heart_rate_rises_about_9_per_degree_within_a_stay(day):
    """Within a ward stay with infection, HR rises about 7-11 bpm per degree C (fever coupling counted once)."""
    v = day["vitals"].dropna(subset=["heart_rate", "temp_c"])
    v = v[v.scenario.isin(["sepsis", "pneumonia"]) & (v.outcome == "recovers")]
    hr = v.heart_rate - v.groupby("encounter_id").heart_rate.transform("mean")
    temp = v.temp_c - v.groupby("encounter_id").temp_c.transform("mean")
    assert 7 <= np.polyfit(temp, hr, 1)[0] <= 11


def test_pain_is_not_charted_in_theatre_or_for_unresponsive_patients(day):
    """Hip replacement: no pain above 7 in the first 6 h (spinal block); no pain score for P or U patients."""
    v = day["vitals"]
    hip = v[(v.scenario == "post_op_hip") & (v.hours < 6)]
    assert len(hip.pain_score.dropna()) >= 100
    assert hip.pain_score.max() <= 7
    assert v[v.consciousness.isin(["P", "U"])].pain_score.isna().all()


def test_blood_cultures_report_at_realistic_times(day):
    """Negative: 'No growth at 5 days' only 5 days on, else a preliminary in the stay; positives flag in ~12-48 h."""
    cult = _test(day, "600-7").copy()
    hours = (cult.result_time - cult.event_time).dt.total_seconds() / 3600
    final = cult.value_text == "No growth at 5 days"
    assert final.any() and (hours[final] >= 120).all()
    prelim = cult.value_text.str.extract(r"No growth to date at (\d+) hours")[0].astype(float)
    assert prelim.notna().any()
    assert (abs(hours[prelim.notna()] - prelim.dropna()) < 0.01).all()
    positive = cult.flag == "A"
    assert (hours[positive] >= 8 - 1e-6).all()  # never flagged before the catalogue's shortest time to positivity
    assert 12 <= hours[positive].median() <= 24
    assert (hours[positive] <= 48).mean() > 0.85
    labs = day["labs"]
    discharge = labs.encounter_id.map(day["encounters"].discharge_time)
    assert (labs.result_time <= discharge).all()


def test_warfarin_only_with_its_indication(day):
    """A GI bleed arriving anticoagulated (INR >= 1.8, the history naming warfarin) is a patient
    with atrial fibrillation (the variant's `conditions`), as the admission note's history says."""
    inr = _test(day, "6301-6").sort_values("event_time").groupby("encounter_id").value.first()
    gi = day["encounters"].index[day["encounters"].scenario == "gi_bleed"]
    notes = pd.read_json(day["folder"] / "notes.jsonl", lines=True)
    hp = notes[notes.note_type == "admission_hp"].set_index("encounter_id").text
    on_warfarin = [e for e in gi if inr.get(e, 0) >= 1.8]
    assert len(on_warfarin) >= 3
    assert all("atrial fibrillation" in hp[e] and "warfarin" in hp[e] for e in on_warfarin)
    assert not any("warfarin" in hp[e] for e in gi if e not in on_warfarin and e in hp.index)


def test_variant_with_an_unknown_state_is_refused(tmp_path):
    """A variant's `at` naming a state the scenario lacks fails config loading with its key path."""
    config = copy_config(tmp_path)
    path = config.parent / "scenarios" / "sepsis.yaml"
    data = yaml.safe_load(path.read_text())
    data["variants"]["hypothermic"]["vitals"]["temp_c"]["at"] = {"infektion": 35.0}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "variants.hypothermic.vitals.temp_c.at.infektion" in info.value.line()


def test_variant_with_an_unknown_condition_is_refused(tmp_path):
    """A variant's `conditions` must be chronic conditions of the registry."""
    config = copy_config(tmp_path)
    path = config.parent / "scenarios" / "gi_bleed.yaml"
    data = yaml.safe_load(path.read_text())
    data["variants"]["anticoagulated"]["conditions"] = ["atrial fibrilation"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "variants.anticoagulated.conditions" in info.value.line() and "atrial fibrilation" in info.value.line()


def test_ph_and_pao2_take_no_scenario_values(tmp_path):
    """pH is computed from the draw: a scenario giving it `at` values is refused."""
    config = copy_config(tmp_path)
    path = config.parent / "scenarios" / "dka.yaml"
    data = yaml.safe_load(path.read_text())
    data["labs"]["values"]["ph"] = {"at": {"ketoacidosis": 7.1}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "labs.values.ph" in info.value.line()


def test_terminal_phase_ends_hours_before_the_end_of_the_stay(cfg):
    """`hours_before_end` places a knot that many (stretched) hours before discharge, whatever the stay."""
    rng = np.random.default_rng(7)
    enc = generate_encounters(cfg, DAY, derive_registry(cfg, DAY), 4000, rng)
    phys = build_physiology(cfg, enc, np.random.default_rng(8))
    rows = np.flatnonzero((enc.scenario == "sepsis") & (enc.outcome == "dies"))
    assert rows.size >= 5
    knots = phys.phase_bounds["sepsis/dies/shock"]
    before_end = phys.los_hours[rows] - knots[:, 2]
    pushed = knots[:, 1] >= knots[:, 2]  # a stay too short for both phases: the earlier knot wins
    assert np.all(((before_end >= 0) | pushed) & (before_end <= 8 * 2.0))
    assert np.median(before_end) == pytest.approx(8, abs=3)
