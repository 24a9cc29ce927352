"""Treatments and transfers caused by the chart, read back from the written files.

One day of 1,500 encounters is written with `--interventions` through the CLI; every check
reads the CSVs back with pandas (a separate code path from the generator's arrays).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from data_generator import news2
from data_generator.backfill import plan
from data_generator.cli import main
from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.validation import validate_day
from tests.conftest import copy_config, edit_yaml

ROOT = Path(__file__).resolve().parent.parent
DATE = "2026-01-15"
ENCOUNTERS = 1500
CFG = load_config(ROOT / "config" / "generator.yaml")
ICU = set(CFG.interventions["critical_care_units"])


def _write(out: Path, *extra: str) -> Path:
    code = main(["generate", "--date", DATE, "--mode", "sample", "--out-root", str(out), "--quiet",
                 "--encounters", str(ENCOUNTERS), "--config", str(ROOT / "config" / "generator.yaml"), *extra])
    assert code == 0
    return out / "sample" / DATE


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("interventions"), "--interventions")


@pytest.fixture(scope="module")
def files(day):
    times = {"encounters": ["admit_time", "discharge_time"], "vitals": ["event_time"],
             "labs": ["event_time", "result_time"], "interventions": ["start_time", "end_time"]}
    out = {name: pd.read_csv(day / f"{name}.csv", parse_dates=cols, keep_default_na=False,
                             na_values=[""]) for name, cols in times.items()}
    for name in ("vitals", "labs", "interventions"):
        out[name] = out[name].merge(out["encounters"][["encounter_id", "scenario", "outcome", "care_unit",
                                                       "admit_time"]].rename(columns={"care_unit": "admit_unit"}),
                                    on="encounter_id")
    return out


def _rule(scenario: str, section: str, key: str):
    return CFG.scenarios[scenario]["interventions"][section][key]


def test_interventions_file_meets_its_contract(day):
    """interventions.csv is validated with the day (keys, time windows, kinds) and is not empty."""
    report = validate_day(day)
    assert report.ok, report.summary(5)
    assert report.rows["interventions.csv"] > 100
    assert json.loads((day / "_manifest.json").read_text())["interventions"] is True


def test_opting_in_changes_no_other_file(day, tmp_path):
    """Without --interventions the day is the five files, byte-identical to the opted-in day's."""
    plain = _write(tmp_path)
    assert sorted(p.name for p in plain.iterdir()) == sorted(
        ["_manifest.json", "patients.csv", "encounters.csv", "vitals.csv", "labs.csv", "notes.jsonl"])
    assert "interventions" not in json.loads((plain / "_manifest.json").read_text())
    for name in ("patients.csv", "encounters.csv", "vitals.csv", "labs.csv", "notes.jsonl"):
        assert (plain / name).read_bytes() == (day / name).read_bytes(), name


def test_a_stray_interventions_file_is_checked(day, tmp_path):
    """A broken interventions.csv in a day folder is reported, not ignored."""
    copy = tmp_path / "day"
    shutil.copytree(day, copy)
    text = (copy / "interventions.csv").read_text().splitlines()
    text[1] = text[1].replace("ENC-", "ENC-9", 1)
    (copy / "interventions.csv").write_text("\n".join(text) + "\n")
    rules = {v.rule for v in validate_day(copy).violations}
    assert rules & {"pattern", "foreign_key"}


def _episodes(iv: pd.DataFrame) -> pd.DataFrame:
    """Consecutive units of one encounter (each starting as the previous ends) as one episode."""
    rc = iv[iv.kind == "red_cells"].sort_values(["encounter_id", "start_time"])
    new = (rc.encounter_id != rc.encounter_id.shift()) | (rc.start_time != rc.end_time.shift())
    return rc.assign(ep=new.cumsum()).groupby("ep").agg(
        encounter_id=("encounter_id", "first"), scenario=("scenario", "first"),
        start=("start_time", "min"), end=("end_time", "max"), units=("kind", "size"))


def test_every_transfusion_follows_a_low_haemoglobin(files):
    """Each episode of red cells starts after an Hb below the scenario's threshold, drawn after
    the previous episode ended and resulted before this one starts."""
    hb = files["labs"][files["labs"].test_name == "Hemoglobin"]
    episodes = _episodes(files["interventions"])
    assert len(episodes) >= 10
    previous = episodes.groupby("encounter_id").end.shift().fillna(pd.Timestamp(0, tz="UTC"))
    for ep, since in zip(episodes.itertuples(), previous, strict=True):
        seen = hb[(hb.encounter_id == ep.encounter_id) & (hb.result_time <= ep.start) & (hb.event_time > since)]
        assert (seen.value < _rule(ep.scenario, "transfusion", "hb_below")).any(), ep


def test_each_unit_raises_haemoglobin_about_one_g_dl(files):
    """The first Hb drawn after an episode is up ~1 g/dL per unit on the one that triggered it."""
    hb = files["labs"][files["labs"].test_name == "Hemoglobin"]
    rises = []
    for ep in _episodes(files["interventions"]).itertuples():
        mine = hb[hb.encounter_id == ep.encounter_id]
        before = mine[mine.result_time <= ep.start].sort_values("result_time").value
        after = mine[mine.event_time >= ep.end].sort_values("event_time").value
        if len(after):
            rises.append((after.iloc[0] - before.iloc[-1]) / ep.units)
    assert len(rises) >= 10
    assert 0.7 <= np.round(np.median(rises), 6) <= 1.3  # values carry one decimal
    assert np.mean(np.array(rises) > 0) >= 0.85


def test_post_operative_haemoglobin_is_not_left_to_fall(files):
    """No hip patient's Hb is charted far below the transfusion threshold (A3: 8 g/dL)."""
    hb = files["labs"][(files["labs"].test_name == "Hemoglobin") & (files["labs"].scenario == "post_op_hip")]
    assert hb.value.min() >= 5.0


def test_vasopressors_start_after_fluids_and_a_low_map(files):
    """Every norepinephrine start follows a charted MAP below 65, after a fluid bolus where the
    scenario gives one (sepsis, bleeding); in heart failure and NSTEMI there is never a bolus."""
    v, iv = files["vitals"], files["interventions"]
    starts = iv[iv.kind == "norepinephrine"]
    assert len(starts) >= 20
    congested = iv.scenario.isin(["heart_failure", "nstemi"])
    assert not (congested & (iv.kind == "fluid_bolus")).any()
    assert (congested & (iv.kind == "norepinephrine")).any()
    for row in starts.itertuples():
        bolus = iv[(iv.encounter_id == row.encounter_id) & (iv.kind == "fluid_bolus")]
        since = row.start_time - pd.Timedelta(days=30)
        if "fluids_delay_hours" in CFG.scenarios[row.scenario]["interventions"]["shock"]:
            assert len(bolus) == 1 and bolus.start_time.iloc[0] < row.start_time
            since = bolus.start_time.iloc[0]
        low = v[(v.encounter_id == row.encounter_id) & (v.event_time > since)
                & (v.event_time < row.start_time) & (v["map"] < _rule(row.scenario, "shock", "map_below"))]
        assert len(low), row


def test_post_operative_hypotension_gets_a_fluid_challenge_not_a_pressor(files):
    """After a hip replacement a MAP below 65 gets the scenario's 500 mL challenge, charted after
    the low MAP; never norepinephrine (blood comes by the transfusion rule); other scenarios keep
    the catalogue's 30 mL/kg."""
    v, iv = files["vitals"], files["interventions"]
    hip = iv[iv.scenario == "post_op_hip"]
    assert not (hip.kind == "norepinephrine").any()
    boluses = hip[hip.kind == "fluid_bolus"]
    assert len(boluses) >= 3 and (boluses.detail == "crystalloid 500 mL bolus").all()
    for row in boluses.itertuples():
        low = v[(v.encounter_id == row.encounter_id) & (v.event_time < row.start_time) & (v["map"] < 65)]
        assert len(low), row
    hips = v[v.scenario == "post_op_hip"]
    first_low = hips[hips["map"] < 65].groupby("encounter_id").event_time.min()
    ends = files["encounters"].set_index("encounter_id").discharge_time
    untreated = [e for e in first_low.index
                 if e not in set(boluses.encounter_id) and ends[e] > first_low[e] + pd.Timedelta(hours=0.5)]
    assert not untreated
    others = iv[(iv.kind == "fluid_bolus") & (iv.scenario != "post_op_hip")]
    assert len(others) and (others.detail == "crystalloid 30 mL/kg").all()


def test_a_shock_rule_must_do_something(tmp_path):
    """A shock rule with neither a fluid bolus nor a vasopressor is a config error naming it."""
    config = copy_config(tmp_path)
    edit_yaml(config.parent / "scenarios" / "post_op_hip.yaml",
              lambda d: d["interventions"]["shock"].pop("fluids_delay_hours"))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "post_op_hip.yaml" in str(err.value) and "interventions.shock" in str(err.value)


def test_vasopressors_raise_the_map(files):
    """MAP in the hours on norepinephrine is above the MAP that started it."""
    v, iv = files["vitals"], files["interventions"]
    gains = []
    for row in iv[iv.kind == "norepinephrine"].itertuples():
        mine = v[v.encounter_id == row.encounter_id]
        before = mine[mine.event_time < row.start_time]["map"].dropna()
        on = mine[(mine.event_time > row.start_time + pd.Timedelta(hours=1))
                  & (mine.event_time < min(row.end_time, row.start_time + pd.Timedelta(hours=6)))]["map"].dropna()
        if len(before) and len(on):
            gains.append(on.mean() - before.iloc[-1])
    assert len(gains) >= 15
    assert np.median(gains) > 8


def test_oxygen_rows_coincide_with_device_interventions(files):
    """Every vitals row on a device lies in an intervention of that device, and each device
    intervention holds at least one such row."""
    v, iv = files["vitals"], files["interventions"]
    devices = set(CFG.interventions["oxygen"]["devices"])
    on = v[v.o2_device.isin(devices)][["encounter_id", "event_time", "o2_device"]].reset_index(names="row")
    spans = iv[iv.kind.isin(devices)][["encounter_id", "start_time", "end_time", "kind"]].reset_index(names="span")
    pairs = on.merge(spans, left_on=["encounter_id", "o2_device"], right_on=["encounter_id", "kind"])
    inside = pairs[(pairs.event_time >= pairs.start_time) & (pairs.event_time <= pairs.end_time)]
    assert set(inside.row) == set(on.row)
    assert set(inside.span) == set(spans.span)
    assert {"niv", "high_flow_nasal_cannula", "mechanical_ventilation"} <= set(on.o2_device)


def test_fio2_and_spo2_fit_the_device(files):
    """FiO2 sits in the device's range; SpO2 on ICU-level support is not left low."""
    v = files["vitals"]
    for name, spec in CFG.interventions["oxygen"]["devices"].items():
        fio2 = v[v.o2_device == name].fio2
        assert fio2.between(spec["min_fio2"], spec["max_fio2"]).all(), name
    assert (v[v.o2_device == "room_air"].fio2 == 0.21).all()


def test_respiratory_failure_in_the_icu_gets_high_flow_or_niv(files):
    """Most pneumonia-ICU and hypercapnic COPD patients are on high flow, NIV or a ventilator."""
    v = files["vitals"]
    support = {"niv", "high_flow_nasal_cannula", "mechanical_ventilation"}
    for scenario, outcome in (("pneumonia", "icu"), ("copd_exacerbation", "hypercapnic_failure")):
        mine = v[(v.scenario == scenario) & (v.outcome == outcome)]
        supported = mine[mine.o2_device.isin(support)].encounter_id.nunique()
        assert supported / mine.encounter_id.nunique() >= 0.5, (scenario, outcome)


def test_care_unit_changes_only_at_transfers(files):
    """Vitals start in the admitting unit; each change of care_unit is a transfer to that unit
    between the two sets, and each transfer before the last set shows in the vitals."""
    v = files["vitals"].sort_values(["encounter_id", "event_time"])
    moves = files["interventions"][files["interventions"].kind == "transfer"]
    assert len(moves) >= 30 and set(moves.detail) & ICU and set(moves.detail) - ICU
    first = v.groupby("encounter_id").first()
    assert (first.care_unit == first.admit_unit).all()
    prev = v.groupby("encounter_id").shift()
    changed = v[prev.care_unit.notna() & (v.care_unit != prev.care_unit)].assign(
        before=prev.event_time, was=prev.care_unit)
    pairs = changed.merge(moves, on="encounter_id")
    matched = pairs[(pairs.start_time > pairs.before) & (pairs.start_time <= pairs.event_time)
                    & (pairs.detail == pairs.care_unit)]
    assert len(matched.drop_duplicates(["encounter_id", "event_time"])) == len(changed)
    last = v.groupby("encounter_id").event_time.max()
    shown = moves[moves.start_time < moves.encounter_id.map(last)]
    assert len(shown) == len(changed)


def test_transfers_up_follow_the_chart_and_down_precede_discharge(files):
    """A ward-to-ICU move follows a high NEWS2 or a vasopressor; step-downs come before discharge."""
    moves = files["interventions"][files["interventions"].kind == "transfer"]
    enc = files["encounters"].set_index("encounter_id")
    down = moves[~moves.detail.isin(ICU)]
    assert (down.start_time < down.encounter_id.map(enc.discharge_time)).all()
    assert (down.encounter_id.map(enc.discharge_disposition) != "expired").all()
    up = moves[moves.detail.isin(ICU)]
    assert not up.admit_unit.isin(ICU).any()


def test_charting_cadence_follows_the_unit(files):
    """Sets are about hourly in critical care and 4-hourly on wards when the patient is stable."""
    v = files["vitals"].sort_values(["encounter_id", "event_time"])
    prev = v.groupby("encounter_id").shift()
    same = prev.care_unit == v.care_unit
    gap = (v.event_time - prev.event_time).dt.total_seconds() / 3600
    icu = same & v.care_unit.isin(ICU)
    assert gap[icu].max() <= 1.5
    units = CFG.generator["care_units"]
    ward = same & v.care_unit.map(lambda u: units[u]["vitals_every_hours"] == 4)
    assert gap[ward].max() <= 4.5
    assert (gap[ward] >= 3.5).mean() >= 0.4    # 4-hourly unless NEWS2 escalates (F3)
    assert (gap[icu] >= 3.5).sum() == 0


def test_unknown_device_in_a_ladder_is_a_config_error(tmp_path):
    """A scenario ladder naming a device the catalogue lacks fails with its file and key."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    path = config / "scenarios" / "pneumonia.yaml"
    data = yaml.safe_load(path.read_text())
    data["interventions"]["oxygen"]["ladder"] = ["nasal_cannula", "iron_lung"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_config(config / "generator.yaml")
    assert "pneumonia.yaml" in str(err.value) and "interventions.oxygen.ladder" in str(err.value)


def test_step_down_to_an_icu_is_a_config_error(tmp_path):
    """A step-down destination must be a ward unit, checked in the cross-reference pass."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    path = config / "scenarios" / "sepsis.yaml"
    data = yaml.safe_load(path.read_text())
    data["interventions"]["transfer"]["step_down"]["to"] = "MICU"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_config(config / "generator.yaml")
    assert "interventions.transfer.step_down.to" in str(err.value)


def test_raised_haemoglobin_keeps_consistent_flags(files):
    """Hb results raised by transfusion are flagged from their new value like every other result."""
    hb = files["labs"][files["labs"].test_name == "Hemoglobin"]
    crit_low, crit_high = CFG.labs["tests"]["hemoglobin"]["critical"]
    expect = np.select([hb.value < crit_low, hb.value > crit_high, hb.value < hb.ref_low, hb.value > hb.ref_high],
                       ["LL", "HH", "L", "H"], "N")
    assert (hb.flag.to_numpy() == expect).all()


def _draws(labs: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """One row per draw (encounter, collection) with the named tests as columns."""
    wide = labs[labs.test_name.isin(names)].pivot_table(index=["encounter_id", "event_time"], columns="test_name",
                                                        values="value", aggfunc="first")
    result = labs.groupby(["encounter_id", "event_time"]).result_time.max()
    return wide.join(result).reset_index()


def _holds(cond: dict, draws: pd.DataFrame) -> pd.Series:
    """A scenario condition ({all|any: [{lab, op, value}]}) evaluated on read-back draws."""
    ops = {">": pd.Series.gt, ">=": pd.Series.ge, "<": pd.Series.lt, "<=": pd.Series.le, "==": pd.Series.eq}
    kind, terms = next(iter(cond.items()))
    masks = [ops[term["op"]](draws[CFG.labs["tests"][term["lab"]]["name"]], term["value"]) for term in terms]
    out = masks[0]
    for m in masks[1:]:
        out = (out & m) if kind == "all" else (out | m)
    return out


def test_infusions_run_from_a_result_to_the_result_that_ends_them(files):
    """Insulin, furosemide and potassium start after a resulted draw meeting the scenario's
    start condition, and stop only after a later result meeting its stop condition (or at
    discharge)."""
    labs, iv = files["labs"], files["interventions"]
    names = sorted({spec["name"] for spec in CFG.labs["tests"].values()})
    draws = _draws(labs, names)
    discharge = files["encounters"].set_index("encounter_id").discharge_time
    seen = set()
    for row in iv[iv.kind.isin(["insulin_infusion", "furosemide", "potassium_replacement"])].itertuples():
        rule = next(r for r in CFG.scenarios[row.scenario]["interventions"]["infusions"] if r["kind"] == row.kind)
        mine = draws[draws.encounter_id == row.encounter_id]
        shown = mine[mine.result_time <= row.start_time]
        assert _holds(rule["start_when"], shown).any(), row
        if row.end_time < discharge[row.encounter_id]:
            later = mine[(mine.event_time > row.start_time) & (mine.result_time <= row.end_time)]
            assert _holds(rule["stop_when"], later).any(), row
        seen.add(row.kind)
    assert seen == {"insulin_infusion", "furosemide", "potassium_replacement"}
    assert (iv[iv.scenario == "dka"].kind == "insulin_infusion").sum() >= 20


def test_antibiotics_follow_blood_cultures(files):
    """Empiric antibiotics start after the first blood culture is drawn, within about an hour."""
    labs, iv = files["labs"], files["interventions"]
    cultures = labs[labs.panel == "BLOOD_CULTURE"].groupby("encounter_id").event_time.min()
    given = iv[iv.kind == "antibiotics"]
    assert len(given) >= 100 and set(given.scenario) == {"sepsis", "pneumonia"}
    delay = (given.start_time - given.encounter_id.map(cultures)).dt.total_seconds() / 3600
    assert delay.between(0, 1.0).all()


def test_a_five_file_day_is_not_up_to_date_for_an_interventions_run(day, tmp_path):
    """Backfill regenerates a day made without interventions.csv when they are asked for, and
    skips one made with them."""
    date = dt.date.fromisoformat(DATE)
    with_iv = day.parent.parent
    todo, skip = plan(CFG, [date], "sample", with_iv, ENCOUNTERS, "csv", interventions=True)
    assert (todo, skip) == ([], [date])
    todo, skip = plan(CFG, [date], "sample", with_iv, ENCOUNTERS, "csv", interventions=False)
    assert (todo, skip) == ([date], [])


def test_oxygen_escalation_follows_a_set_that_shows_the_need(files):
    """A step up to high flow, NIV or a ventilator comes after a set showing SpO2 under target,
    breathing at the device's work-of-breathing threshold, or consciousness P/U."""
    v = files["vitals"].sort_values(["encounter_id", "event_time"])
    devices = CFG.interventions["oxygen"]["devices"]
    rank = {"room_air": 0, "nasal_cannula": 1, "simple_mask": 2, "high_flow_nasal_cannula": 3,
            "non_rebreather": 3, "niv": 4, "mechanical_ventilation": 5}
    prev = v.groupby("encounter_id").shift()
    up = v[prev.o2_device.notna() & (v.o2_device.map(rank) > prev.o2_device.map(rank))
           & v.o2_device.isin(["high_flow_nasal_cannula", "niv", "mechanical_ventilation"])]
    before = prev.loc[up.index]
    target = up.scenario.map(lambda s: CFG.scenarios[s].get("oxygen_target", CFG.vitals["oxygen"]["target_spo2"])[0])
    breathing = [CFG.scenarios[r.scenario].get("interventions", {}).get("oxygen", {}).get("resp_rate_at_least", {}).get(
        r.o2_device, devices[r.o2_device].get("resp_rate_at_least", np.inf)) for r in up.itertuples()]
    shown = (before.spo2 < target) | (before.resp_rate >= breathing) | before.consciousness.isin(["P", "U"])
    assert len(up) >= 50
    assert shown.mean() >= 0.85


def test_potassium_replacement_raises_potassium_and_stops(files):
    """Replacement started for a low potassium raises the next potassium drawn (`labs_per_hour`), and
    stops once a draw shows the target instead of running to discharge beside a low potassium."""
    k = files["labs"][files["labs"].test_name == "Potassium"]
    runs = files["interventions"][files["interventions"].kind == "potassium_replacement"]
    rises, stopped = [], []
    for run in runs.itertuples():
        mine = k[k.encounter_id == run.encounter_id]
        before = mine[mine.result_time <= run.start_time].sort_values("result_time").value
        after = mine[mine.event_time > run.start_time].sort_values("event_time").value
        if len(before) and len(after):
            rises.append(after.iloc[0] - before.iloc[-1])
        end = files["encounters"].set_index("encounter_id").discharge_time[run.encounter_id]
        stopped.append(run.end_time < end)
    assert len(rises) >= 40
    assert np.mean(np.array(rises) > 0) >= 0.9 and np.median(rises) >= 0.5
    assert np.mean(stopped) >= 0.8


def test_icu_patients_step_down_once_stable(files):
    """A surviving ICU patient leaves the unit within stable_hours + bed_wait_hours of the last set
    that needed it (NEWS2 at the escalation level, an ICU oxygen device, a vasopressor running), not
    on a fixed count of hours before discharge; most ICU admissions spend time on a ward."""
    v = files["vitals"].sort_values(["encounter_id", "event_time"])
    v = v[v.care_unit.isin(ICU) & (v.admit_unit.isin(ICU)) & (v.outcome != "dies")]
    table = {c: v[c].to_numpy(dtype=float) for c in ("resp_rate", "spo2", "sbp", "heart_rate", "temp_c")}
    table.update(consciousness=v.consciousness.to_numpy(dtype=object), o2_device=v.o2_device.to_numpy(dtype=object))
    score = news2.score(table, CFG.vitals["news2"], news2.uses_scale2(CFG.scenarios, v.scenario.to_numpy()))
    pressor = files["interventions"][files["interventions"].kind == "norepinephrine"]
    on = v.merge(pressor[["encounter_id", "start_time", "end_time"]], on="encounter_id", how="left")
    running = ((on.event_time >= on.start_time) & (on.event_time <= on.end_time)).groupby(on.index).any()
    need = ((score >= CFG.generator["charting"]["escalate_at_news2"])
            | v.o2_device.isin(CFG.interventions["oxygen"]["critical_care_devices"]).to_numpy()
            | running.reindex(range(len(on)), fill_value=False).to_numpy())
    last_need = v[need].groupby("encounter_id").event_time.max()
    left = v.groupby("encounter_id").event_time.max()  # the last set charted in the unit
    since = (left - last_need.reindex(left.index).fillna(v.groupby("encounter_id").event_time.min()))
    limit = {s: r["stable_hours"] + r["bed_wait_hours"][1] + 2.0 for s in CFG.scenarios
             if (r := CFG.scenarios[s].get("interventions", {}).get("transfer", {}).get("step_down"))}
    hours = since.dt.total_seconds() / 3600
    scen = v.groupby("encounter_id").scenario.first()
    assert len(hours) >= 40
    assert (hours <= scen.map(limit)).mean() >= 0.97, hours[hours > scen.map(limit)].describe()
    moved = files["interventions"][(files["interventions"].kind == "transfer")
                                   & ~files["interventions"].detail.isin(ICU)].encounter_id
    assert hours.index.isin(moved).mean() >= 0.8


def test_copd_niv_follows_a_blood_gas_showing_respiratory_acidosis(files):
    """COPD patients go on NIV only after the first hour and a resulted blood gas (BTS), and the gas
    resulted before the start shows pH < 7.35 with PaCO2 > 45 mmHg for most of them."""
    labs = files["labs"]
    niv = files["interventions"][(files["interventions"].kind == "niv")
                                 & (files["interventions"].scenario == "copd_exacerbation")]
    starts = niv.groupby("encounter_id").agg(start=("start_time", "min"), admit=("admit_time", "first"))
    assert len(starts) >= 10
    assert ((starts.start - starts.admit).dt.total_seconds() >= 3600 - 60).all()
    shown = []
    for enc, row in starts.iterrows():
        gas = labs[(labs.encounter_id == enc) & (labs.result_time <= row.start)].sort_values("result_time")
        ph, co2 = gas[gas.test_name == "pH, arterial"].value, gas[gas.test_name == "PaCO2"].value
        assert len(ph), enc
        shown.append(ph.iloc[-1] < 7.35 and co2.iloc[-1] > 45)
    assert np.mean(shown) >= 0.8
