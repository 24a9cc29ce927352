"""Every key of README's "Config reference" changes the written day the way README says.

Each test runs a day under an edited copy of config/ (same seed and date as its baseline) and
reads the files back with pandas. Settings are pushed to values whose effect is exact (a weight
of 0, a one-hot arrival hour, no jitter), so a setting that is ignored or misread fails here.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data_generator import cli
from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.pipeline import generate_day, with_seed
from tests.conftest import DAY
from tests.runs import config_copy, file_bytes, local_clock, read_day, run_day

FRIDAY, SATURDAY = DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
UNITS = ("ED", "OBS", "MED-WARD", "CARDIAC-STEPDOWN", "SURG-WARD", "MICU", "CCU")


def _set(path: str, value):
    """An edit setting generator.yaml's dotted `path` to `value`."""
    def edit(g):
        *parents, last = path.split(".")
        node = g
        for p in parents:
            node = node[p]
        node[last] = value
    return edit


def _all(*edits):
    def edit(g):
        for e in edits:
            e(g)
    return edit


def _only_scenarios(*names: str):
    """A mix of just these scenarios (others weighted 0), without weekday or seasonal modulation."""
    def edit(g):
        g["scenarios"]["weights"] = {k: (1.0 if k in names else 0.0) for k in g["scenarios"]["weights"]}
        g["scenarios"]["weekday"] = {}
        g["scenarios"]["seasonal"] = {}
    return edit


def _registry_from(start: str, per_day: int, **more):
    def edit(g):
        g["registry"]["start_date"] = start
        g["registry"]["new_patients_per_day"] = per_day
        g["registry"].update(more)
    return edit


def _days_since_start(cfg_start: str, stamps: pd.Series) -> pd.Series:
    return (pd.to_datetime(stamps) - pd.Timestamp(cfg_start)).dt.days


# ---- seed, hospital, reference --------------------------------------------------------------

def test_seed_in_config_equals_seed_override(tmp_path):
    """`seed` sets every stream: the config's seed and --seed give the same bytes; another seed other data."""
    edited = run_day(tmp_path / "edited", _set("seed", 777))
    cfg = load_config(config_copy(tmp_path / "override"))
    out = tmp_path / "override" / "out"
    out.mkdir()
    override = generate_day(with_seed(cfg, 777), DAY, "sample", out, encounters=30).folder
    baseline = run_day(tmp_path / "base")
    assert file_bytes(edited) == file_bytes(override)
    differ = {k for k, v in file_bytes(edited).items() if v != file_bytes(baseline)[k]}
    assert differ == set(file_bytes(baseline))


def test_timezone_sets_offsets_and_keeps_local_clock(tmp_path):
    """`hospital.timezone`: timestamps carry the zone's offset; admissions keep their local clock times."""
    utc = read_day(run_day(tmp_path / "utc"))
    ny = read_day(run_day(tmp_path / "ny", _set("hospital.timezone", "America/New_York")))
    assert (utc["encounters"].admit_time.str[19:] == "+00:00").all()
    for name, col in (("encounters", "admit_time"), ("encounters", "discharge_time"), ("vitals", "event_time"),
                      ("labs", "event_time"), ("notes", "note_time")):
        assert (ny[name][col].str[19:] == "-05:00").all(), (name, col)  # January: EST
    assert list(ny["encounters"].admit_time.str[:19]) == list(utc["encounters"].admit_time.str[:19])
    assert ny["encounters"].admit_time.str[:10].eq(DAY.isoformat()).all()
    shift = ny["encounters"].admit_time_utc - utc["encounters"].admit_time_utc
    assert (shift == pd.Timedelta(hours=5)).all()


def test_locale_other_than_supported_is_refused(tmp_path):
    """`hospital.locale`: only locales whose address data the registry can use load; others name the key."""
    with pytest.raises(ConfigError, match="hospital.locale"):
        load_config(config_copy(tmp_path, _set("hospital.locale", "de_DE")))
    assert load_config(config_copy(tmp_path / "ok")).generator["hospital"]["locale"] == "en_US"


def test_reference_paths_choose_the_catalogues(tmp_path):
    """`reference.vitals/labs/notes` point at the catalogues used: edited copies elsewhere change the day."""
    def move_catalogues(config_dir):
        other = config_dir / "elsewhere"
        other.mkdir()
        vitals = (config_dir / "reference" / "vitals.yaml").read_text()
        start = vitals.index("  heart_rate:")
        clip = vitals.index("clip:", start)
        end = vitals.index("]", clip)
        (other / "v.yaml").write_text(vitals[:clip] + "clip: [61, 79" + vitals[end:])
        labs = (config_dir / "reference" / "labs.yaml").read_text()
        assert "name: Sodium," in labs
        (other / "l.yaml").write_text(labs.replace("name: Sodium,", "name: Natrium,"))
        notes = (config_dir / "notes" / "templates.yaml").read_text()
        assert 'heart_rate: "HR {v}"' in notes
        (other / "n.yaml").write_text(notes.replace('heart_rate: "HR {v}"', 'heart_rate: "Pulse {v}/min"'))

    moved = read_day(run_day(tmp_path / "moved", _set("reference", {
        "vitals": "elsewhere/v.yaml", "labs": "elsewhere/l.yaml", "notes": "elsewhere/n.yaml",
        "interventions": "reference/interventions.yaml"}),
        edit_files=move_catalogues))
    base = read_day(run_day(tmp_path / "base"))
    hr = moved["vitals"].heart_rate.dropna()
    assert hr.between(61, 79).all() and not base["vitals"].heart_rate.dropna().between(61, 79).all()
    assert "Natrium" in set(moved["labs"].test_name) and "Natrium" not in set(base["labs"].test_name)
    assert moved["notes"].text.str.contains(r"Pulse \d+/min").any()
    assert not moved["notes"].text.str.contains(r"\bHR \d+").any()


# ---- registry --------------------------------------------------------------------------------

@pytest.mark.parametrize("per_day", [3, 7])
def test_new_patients_per_day_sets_registrations(tmp_path, per_day):
    """`registry.new_patients_per_day`: the raw registry holds (days + 1) * N patients, patient k
    registered on start_date + k // N, with max_total far above (no capping)."""
    start, date = "2026-01-05", dt.date(2026, 1, 15)
    run_day(tmp_path, _registry_from(start, per_day, max_total=50000), date=date, encounters=8, mode="raw")
    reg = pd.read_csv(tmp_path / "patients_master.csv", dtype=str)
    days = (date - dt.date.fromisoformat(start)).days
    assert len(reg) == (days + 1) * per_day
    k = reg.patient_id.str[1:].astype(int) - 1
    assert list(k) == list(range(len(reg)))
    assert (_days_since_start(start, reg.registered_date) == k // per_day).all()
    assert reg.registered_date.value_counts().eq(per_day).all()


def test_new_patients_per_day_in_the_day_files(tmp_path):
    """In sample mode too, every patient's registration date follows k // new_patients_per_day,
    and nobody in the day has a number beyond those registered by then."""
    start = "2026-01-05"
    for per_day in (2, 9):
        p = read_day(run_day(tmp_path / str(per_day), _registry_from(start, per_day)))["patients"]
        k = p.patient_id.str[1:].astype(int) - 1
        assert (_days_since_start(start, p.registered_date) == k // per_day).all()
        assert k.max() < ((DAY - dt.date(2026, 1, 5)).days + 1) * per_day


def test_max_total_caps_the_registry(tmp_path):
    """`registry.max_total`: the registry stops at max_total patients; the day uses only those."""
    folder = run_day(tmp_path, _registry_from("2026-01-05", 10, max_total=37), encounters=12, mode="raw")
    reg = pd.read_csv(tmp_path / "patients_master.csv", dtype=str)
    assert len(reg) == 37
    assert reg.patient_id.iloc[-1] == "P0000037"
    assert (read_day(folder)["patients"].patient_id <= "P0000037").all()


def test_start_date_anchors_registration(tmp_path, capsys):
    """`registry.start_date`: the first patient registers on it, and an earlier --date is refused (exit 2)."""
    start = "2026-01-10"
    run_day(tmp_path, _registry_from(start, 5), encounters=5, mode="raw")
    reg = pd.read_csv(tmp_path / "patients_master.csv", dtype=str)
    assert reg.registered_date.min() == start and reg.registered_date.iloc[0] == start
    code = cli.main(["generate", "--date", "2026-01-09", "--mode", "sample", "--config",
                     str(tmp_path / "config" / "generator.yaml"), "--out-root", str(tmp_path / "out")])
    assert code == 2 and "start_date" in capsys.readouterr().err
    assert not (tmp_path / "out" / "sample" / "2026-01-09").exists()


def test_registration_age_follows_the_setting(tmp_path):
    """`registry.age`: age at registration (registered_date - date_of_birth) lies in [min, max + 1)."""
    age = {"mean": 30, "sd": 3, "min": 25, "max": 35}
    folder = run_day(tmp_path, _all(_registry_from("2026-01-05", 10), _set("registry.age", age)), mode="raw",
                     encounters=10)
    reg = pd.read_csv(tmp_path / "patients_master.csv", dtype=str)
    years = (pd.to_datetime(reg.registered_date) - pd.to_datetime(reg.date_of_birth)).dt.days / 365.25
    assert years.between(25 - 0.01, 36 + 0.01).all()
    assert abs(years.mean() - 30.5) < 1.0
    assert len(read_day(folder)["patients"]) == 10


@pytest.mark.parametrize("share,sex", [(0.0, "F"), (1.0, "M")])
def test_male_share_sets_sex(tmp_path, share, sex):
    """`registry.male_share`: 0 registers only women, 1 only men (registry and day files)."""
    folder = run_day(tmp_path, _all(_registry_from("2026-01-05", 10), _set("registry.male_share", share)),
                     mode="raw", encounters=10)
    assert set(pd.read_csv(tmp_path / "patients_master.csv", dtype=str).sex) == {sex}
    assert set(read_day(folder)["patients"].sex) == {sex}


def test_male_share_in_between(tmp_path):
    """`registry.male_share` of 0.3 gives about 30% men among registrations."""
    run_day(tmp_path, _all(_registry_from("2026-01-05", 200), _set("registry.male_share", 0.3)), mode="raw",
            encounters=5)
    men = (pd.read_csv(tmp_path / "patients_master.csv", dtype=str).sex == "M").mean()
    assert men == pytest.approx(0.3, abs=0.03)


def test_new_patients_are_admitted_on_their_registration_day(tmp_path):
    """A patient's first stay is on the registration day: every patient registered that day is in it."""
    per_day = 8
    p = read_day(run_day(tmp_path, _registry_from("2026-01-05", per_day), encounters=None))["patients"]
    assert (p.registered_date == DAY.isoformat()).sum() == per_day


def _distinct_patients(tmp_path, sigma: float) -> int:
    """Distinct patients over five days of 30 encounters from a small registry."""
    edit = _all(_registry_from("2026-01-01", 10), _set("registry.frailty_sigma", sigma))
    seen = set()
    for i in range(5):
        day = DAY + dt.timedelta(days=i)
        seen |= set(read_day(run_day(tmp_path / f"{sigma}-{i}", edit, date=day))["patients"].patient_id)
    return len(seen)


def test_frailty_sigma_concentrates_readmissions(tmp_path):
    """`registry.frailty_sigma`: a wide spread brings the same frail patients back more often (fewer
    distinct patients over several days) than no spread."""
    even, spread = _distinct_patients(tmp_path, 0.0), _distinct_patients(tmp_path, 3.0)
    assert spread < even, (even, spread)


# ---- volume ----------------------------------------------------------------------------------

def test_volume_by_mode(tmp_path):
    """`volume.raw` and `volume.sample` are each mode's mean encounters a day (the patients'
    timelines are calibrated to them): three days' mean within 30% of each mode's own setting."""
    flat = _all(_set("volume.weekday_factor", [1.0] * 7), _set("volume.raw", 90), _set("volume.sample", 45))
    counts = {}
    for mode in ("raw", "sample"):
        for i in range(3):
            day = DAY + dt.timedelta(days=i)
            enc = read_day(run_day(tmp_path / f"{mode}{i}", flat, date=day, encounters=None, mode=mode))["encounters"]
            counts.setdefault(mode, []).append(len(enc))
    assert np.mean(counts["raw"]) == pytest.approx(90, rel=0.3), counts
    assert np.mean(counts["sample"]) == pytest.approx(45, rel=0.3), counts


def test_weekday_factor_scales_each_weekday(tmp_path):
    """`volume.weekday_factor`: returns to hospital follow the weekday factor, so a weekday with
    factor 0 keeps only first stays and readmissions, far fewer than the next day's."""
    closed_thursday = _set("volume.weekday_factor", [1, 1, 1, 0, 1, 1, 1])
    assert DAY.weekday() == 3
    thursday = read_day(run_day(tmp_path / "thu", closed_thursday, encounters=None, mode="raw"))
    friday = read_day(run_day(tmp_path / "fri", closed_thursday, date=FRIDAY, encounters=None, mode="raw"))
    assert len(friday["encounters"]) > 10
    assert len(thursday["encounters"]) < 0.5 * len(friday["encounters"])


# ---- scenario mix ----------------------------------------------------------------------------

def test_scenario_weights_set_the_mix(tmp_path):
    """`scenarios.weights`: weight 0 disables a scenario; the weights set the shares."""
    mix = _all(_only_scenarios("sepsis", "observation"),
               lambda g: g["scenarios"]["weights"].update(sepsis=3.0, observation=1.0))
    enc = read_day(run_day(tmp_path, mix, encounters=200))["encounters"]
    assert set(enc.scenario) == {"sepsis", "observation"}
    assert (enc.scenario == "sepsis").mean() == pytest.approx(0.75, abs=0.08)


def test_scenario_weekday_factor(tmp_path):
    """`scenarios.weekday`: a scenario with factor 0 on a weekday is not chosen that day (it comes only
    as a readmission's reason), but is on others."""
    mix = _all(_only_scenarios("sepsis", "observation"),
               lambda g: g["scenarios"]["weekday"].update(sepsis=[1, 1, 1, 0, 1, 1, 1]))
    thursday = read_day(run_day(tmp_path / "thu", mix, encounters=40))["encounters"]
    friday = read_day(run_day(tmp_path / "fri", mix, date=FRIDAY, encounters=40))["encounters"]
    assert (friday.scenario == "sepsis").sum() >= 10
    assert (thursday.scenario == "sepsis").sum() <= 0.35 * (friday.scenario == "sepsis").sum()


@pytest.mark.parametrize("peak_month,present", [(7, False), (1, True)])
def test_seasonal_amplitude_and_peak(tmp_path, peak_month, present):
    """`scenarios.seasonal`: with amplitude 1 a scenario vanishes six months from its peak month and
    doubles at it (January day: peak in July -> none; peak in January -> about 2/3 of a 1:1 mix)."""
    mix = _all(_only_scenarios("sepsis", "observation"), lambda g: g["scenarios"]["seasonal"].update(
        sepsis={"amplitude": 1.0, "peak_month": peak_month}))
    enc = read_day(run_day(tmp_path, mix, encounters=120))["encounters"]
    share = (enc.scenario == "sepsis").mean()
    if present:
        assert share == pytest.approx(2 / 3, abs=0.1)
    else:
        assert share == 0.0


# ---- times of day ----------------------------------------------------------------------------

def test_arrival_hours_by_route(tmp_path):
    """`arrival_hours.emergency/elective`: admissions fall in the local hours each route allows."""
    def one_hot(hour):
        return [1.0 if h == hour else 0.0 for h in range(24)]
    edit = _all(_set("arrival_hours", {"emergency": one_hot(3), "elective": one_hot(14)}),
                _only_scenarios("post_op_hip", "observation"), _set("hospital.timezone", "America/Chicago"))
    enc = read_day(run_day(tmp_path, edit, encounters=40))["encounters"]
    hour = enc.admit_time.str[11:13].astype(int)
    assert (hour[enc.scenario == "post_op_hip"] == 14).all() and (enc.scenario == "post_op_hip").any()
    assert (hour[enc.scenario == "observation"] == 3).all() and (enc.scenario == "observation").any()


def test_discharge_local_hours_window(tmp_path):
    """`discharge_local_hours`: stays of a day or more (not deaths) end inside the local window."""
    edit = _all(_set("discharge_local_hours", [13, 14]), _set("hospital.timezone", "America/Chicago"))
    enc = read_day(run_day(tmp_path, edit, encounters=80))["encounters"]
    stay = enc.discharge_time_utc - enc.admit_time_utc
    planned = enc[(stay >= pd.Timedelta(days=1)) & (enc.discharge_disposition != "expired")]
    assert len(planned) > 20
    clock = local_clock(planned.discharge_time)
    assert clock.between(13, 14).all(), clock.describe()


# ---- charting --------------------------------------------------------------------------------

def _charting(every: int, escalated: int, escalate_at: int = 5, jitter: float = 0.0):
    def edit(g):
        g["care_units"] = {u: {"vitals_every_hours": every, "escalated_every_hours": escalated} for u in UNITS}
        g["charting"]["jitter_minutes"] = jitter
        g["charting"]["escalate_at_news2"] = escalate_at
    return edit


def _gaps_hours(vitals: pd.DataFrame) -> pd.Series:
    """Seconds between consecutive charted sets of each encounter, in hours."""
    v = vitals.sort_values(["encounter_id", "event_time_utc"])
    gap = v.groupby("encounter_id").event_time_utc.diff().dropna()
    return gap.dt.total_seconds() / 3600


@pytest.mark.parametrize("every", [3, 5])
def test_care_unit_cadence_without_jitter(tmp_path, every):
    """`care_units.<UNIT>.vitals_every_hours`: with no jitter and the same escalated cadence, every gap
    between charted sets is a whole multiple of the cadence (to the second)."""
    gaps = _gaps_hours(read_day(run_day(tmp_path, _charting(every, every)))["vitals"])
    assert len(gaps) > 100
    assert (np.abs(gaps - every * np.round(gaps / every)) <= 1 / 3600 + 1e-9).all()
    assert (gaps >= every - 1e-6).all()
    assert (np.round(gaps / every) == 1).mean() > 0.8


def test_care_unit_cadence_per_unit(tmp_path):
    """`care_units.<UNIT>` is per unit: ICU sets hourly and ward sets 6-hourly in the same day."""
    def edit(g):
        _charting(6, 6)(g)
        g["care_units"]["MICU"] = {"vitals_every_hours": 1, "escalated_every_hours": 1}
    t = read_day(run_day(tmp_path, _all(edit, _only_scenarios("sepsis", "observation")), encounters=60))
    unit = t["vitals"].care_unit  # the unit the patient is in at that set (transfers move it)
    icu, other = _gaps_hours(t["vitals"][unit == "MICU"]), _gaps_hours(t["vitals"][unit != "MICU"])
    assert len(icu) > 50 and len(other) > 50
    assert (np.abs(icu - 1) <= 1 / 3600 + 1e-9).mean() > 0.95
    assert (np.abs(other - 6 * np.round(other / 6)) <= 1 / 3600 + 1e-9).all() and (other >= 6 - 1e-6).all()


def test_escalation_threshold_and_escalated_cadence(tmp_path):
    """`charting.escalate_at_news2` with `escalated_every_hours`: a reachable threshold adds 1-hourly
    sets between the 6-hourly ones; an unreachable one (20) leaves only the 6-hourly cadence."""
    never = _gaps_hours(read_day(run_day(tmp_path / "never", _charting(6, 1, escalate_at=20)))["vitals"])
    often = _gaps_hours(read_day(run_day(tmp_path / "often", _charting(6, 1, escalate_at=3)))["vitals"])
    assert (never >= 6 - 1e-6).all()
    assert ((often - 1).abs() <= 1 / 3600 + 1e-9).sum() > 50
    assert len(often) > 1.5 * len(never)


def test_first_vitals_minutes(tmp_path):
    """`charting.first_vitals_minutes`: each encounter's first set is charted within that many minutes of arrival."""
    edit = _set("charting.first_vitals_minutes", [41, 44])
    t = read_day(run_day(tmp_path, edit))
    first = t["vitals"].groupby("encounter_id").event_time_utc.min()
    admit = t["encounters"].set_index("encounter_id").admit_time_utc
    minutes = (first - admit[first.index]).dt.total_seconds() / 60
    assert len(minutes) == len(admit)
    assert minutes.between(41 - 1 / 60, 44 + 1 / 60).all(), minutes.describe()


def test_jitter_minutes_bounds_time_off_the_grid(tmp_path):
    """`charting.jitter_minutes`: sets fall within +-jitter of the hourly grid from the first set;
    with 0 they fall exactly on it."""
    def offsets(folder):
        v = read_day(folder)["vitals"]
        first = v.groupby("encounter_id").event_time_utc.transform("min")
        h = (v.event_time_utc - first).dt.total_seconds() / 3600
        return (h - np.round(h)).abs() * 60  # minutes off the grid
    exact = offsets(run_day(tmp_path / "zero", _charting(2, 1, jitter=0)))
    wide = offsets(run_day(tmp_path / "wide", _charting(2, 1, jitter=25)))
    assert (exact <= 1 / 60 + 1e-9).all()
    assert (wide <= 25 + 1 / 60).all() and (wide > 15).any()


def test_missing_probability_per_item(tmp_path):
    """`charting.missing_probability`: 0 charts every item every time (pain only from a patient who can
    report it: not at P or U); a missed blood pressure blanks SBP, DBP and MAP; the share left blank
    follows the probability."""
    items = ("heart_rate", "resp_rate", "sbp", "spo2", "temp_c", "consciousness", "pain_score")
    full = read_day(run_day(tmp_path / "full", _set("charting.missing_probability", {k: 0.0 for k in items})))
    v = full["vitals"]
    assert v[[*items[:-1], "dbp", "map"]].notna().all(axis=None)
    assert (v.pain_score.isna() == v.consciousness.isin(["P", "U"])).all()
    gappy = read_day(run_day(tmp_path / "gappy", _set("charting.missing_probability",
                                                      {**{k: 0.0 for k in items}, "sbp": 0.5, "temp_c": 0.9})))
    v = gappy["vitals"]
    assert v[["heart_rate", "resp_rate", "spo2", "consciousness"]].notna().all(axis=None)
    assert (v.pain_score.isna() == v.consciousness.isin(["P", "U"])).all()
    assert v.sbp.isna().mean() == pytest.approx(0.5, abs=0.06)
    assert (v.sbp.isna() == v.dbp.isna()).all() and (v.sbp.isna() == v["map"].isna()).all()
    assert v.temp_c.isna().mean() == pytest.approx(0.9, abs=0.04)


def test_missing_items_are_missed_independently(tmp_path):
    """`charting.missing_probability` is per item: two items at 0.5 are both blank about a quarter of
    the time (independent draws), not half (one draw shared by the items)."""
    items = ("heart_rate", "resp_rate", "sbp", "spo2", "temp_c", "consciousness", "pain_score")
    probs = {**{k: 0.0 for k in items}, "heart_rate": 0.5, "resp_rate": 0.5, "spo2": 0.5}
    v = read_day(run_day(tmp_path, _set("charting.missing_probability", probs), encounters=40))["vitals"]
    assert len(v) > 1000
    for a, b in (("heart_rate", "resp_rate"), ("heart_rate", "spo2"), ("resp_rate", "spo2")):
        assert v[a].isna().mean() == pytest.approx(0.5, abs=0.05)
        assert (v[a].isna() & v[b].isna()).mean() == pytest.approx(0.25, abs=0.05), (a, b)
