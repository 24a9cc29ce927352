"""Patient timelines: one life per patient across days, believable readmissions, days independent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_generator.backfill import backfill
from data_generator.contracts import load_contract
from data_generator.generators.encounters import day_encounters
from data_generator.generators.lifetimes import day_index, day_lives, derive_lives
from data_generator.generators.registry import derive_registry
from data_generator.pipeline import generate_day
from data_generator.writer import write_table
from tests.conftest import CONFIG

END = dt.date(2026, 1, 15)
DAYS = 90
WINDOW = 30 * 86400


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory, cfg):
    """90 raw days at the default volume: each day's encounters computed alone and written as CSV,
    read back with pandas; plus each day's in-memory encounters (for what no file holds)."""
    out = tmp_path_factory.mktemp("lives")
    schema = load_contract("encounters")
    memory = {}
    for k in range(DAYS):
        date = END - dt.timedelta(days=DAYS - 1 - k)
        enc = day_encounters(cfg, date, "raw", derive_registry(cfg, date))
        write_table(out / f"{date}.csv", enc.table, schema, cfg.tz)
        memory[date] = enc
    frame = pd.concat([pd.read_csv(p, dtype=str) for p in sorted(out.glob("*.csv"))], ignore_index=True)
    for col in ("admit_time", "discharge_time"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame.sort_values(["patient_id", "admit_time"]).reset_index(drop=True), memory


def _next_admit(frame: pd.DataFrame) -> pd.Series:
    same = frame["patient_id"].shift(-1) == frame["patient_id"]
    return frame["admit_time"].shift(-1).where(same)


def test_no_patient_is_in_two_beds_or_admitted_after_death(backfilled):
    """Across 90 independently computed days no stay starts before the same patient's previous one ended,
    and nobody has an encounter after one that ended in death."""
    frame, _ = backfilled
    nxt = _next_admit(frame)
    assert len(frame) > 9000
    assert int((nxt < frame["discharge_time"]).sum()) == 0
    assert int((nxt.notna() & (frame["discharge_disposition"] == "expired")).sum()) == 0
    assert frame["patient_id"].duplicated().any()  # patients do come back


def test_readmission_rates_follow_the_index_scenario(backfilled):
    """30-day readmission of live discharges is 8-20% overall, higher after heart failure, lower after hip."""
    frame, _ = backfilled
    nxt = _next_admit(frame)
    cutoff = frame["discharge_time"].max() - pd.Timedelta(days=30)
    live = (frame["discharge_disposition"] != "expired") & (frame["discharge_time"] <= cutoff)
    back = (nxt - frame["discharge_time"]).dt.total_seconds() <= WINDOW
    rate = back[live].mean()
    by = back[live].groupby(frame.loc[live, "scenario"]).mean()
    assert 0.08 <= rate <= 0.20, rate
    assert by["heart_failure"] > rate > by["post_op_hip"], by.to_dict()


def test_daily_volume_follows_the_config(backfilled, cfg):
    """The timelines admit about volume.raw x weekday factor per day."""
    frame, _ = backfilled
    per_day = len(frame) / DAYS
    assert abs(per_day / cfg.generator["volume"]["raw"] - 1) < 0.08, per_day


def test_conditions_persist_and_agree_with_diagnoses(backfilled):
    """A patient's chronic conditions are the same at every stay and license the diagnosis: COPD for a COPD
    exacerbation, heart failure for I50, the patient's own diabetes type for E10/E11 (never both types)."""
    _, memory = backfilled
    seen: dict[int, list] = {}
    for enc in memory.values():
        for p, hist, code in zip(enc.patient_index.tolist(), enc.history, enc.table["primary_dx_code"], strict=True):
            assert seen.setdefault(p, hist) == hist
            assert not {"type 1 diabetes", "type 2 diabetes"} <= set(hist)
            for prefix, condition in (("J44", "COPD"), ("I50", "heart failure"), ("E10", "type 1 diabetes"),
                                      ("E11", "type 2 diabetes")):
                if code.startswith(prefix):
                    assert condition in hist, (p, code, hist)


def test_gated_scenarios_split_among_their_conditions_as_configured(backfilled, cfg):
    """`timelines.requires`: DKA stays split between type 1 (E10) and type 2 (E11) patients as configured
    (69/31), although type 1 patients are far fewer."""
    frame, _ = backfilled
    dka = frame[frame["scenario"] == "dka"]
    share = cfg.generator["timelines"]["requires"]["dka"]["type 1 diabetes"]
    assert len(dka) > 300
    assert dka["primary_dx_code"].str.startswith("E10").mean() == pytest.approx(share, abs=0.08)


def test_hip_replacement_at_most_once_per_side_months_apart(backfilled, cfg):
    """No patient has the same hip replaced twice, and a second side comes at least min_days_between later."""
    frame, _ = backfilled
    rule = cfg.generator["timelines"]["once_per_side"]["post_op_hip"]
    hips = frame[frame["scenario"] == "post_op_hip"]
    side = hips["primary_dx_code"].map(rule["sides"])
    for _, group in hips.assign(side=side).groupby("patient_id"):
        if len(group) > 1:
            assert len(group) == 2 and set(group["side"]) != {"right"} and set(group["side"]) != {"left"}
            assert (group["admit_time"].iloc[1] - group["admit_time"].iloc[0]).days >= rule["min_days_between"]
    assert len(hips) > 100


def test_previous_stay_is_the_patients_real_earlier_stay(backfilled, cfg):
    """Each encounter's previous stay (quoted by the admission H&P) is the patient's preceding stay in the files."""
    frame, memory = backfilled
    titles = {name: sc["title"] for name, sc in cfg.scenarios.items()}
    prev = frame.groupby("patient_id").shift(1)
    checked = 0
    for i in np.flatnonzero(prev["admit_time"].notna().to_numpy()):
        row = frame.iloc[i]
        enc = memory[row["admit_time"].date()]
        k = int(np.flatnonzero(enc.table["encounter_id"] == row["encounter_id"])[0])
        assert enc.previous_stay[k] == {"date": str(prev["admit_time"].iloc[i].date()),
                                        "scenario": titles[prev["scenario"].iloc[i]]}
        checked += 1
    assert checked > 1000


def _stays_on(lives, d: int) -> list[tuple]:
    s = lives.stays
    rows = np.flatnonzero(s.day == d)
    prev_day = np.where(s.prev[rows] >= 0, s.day[np.maximum(s.prev[rows], 0)], -1)
    return sorted(zip(s.patient[rows].tolist(), s.admit[rows].tolist(), s.discharge[rows].tolist(),
                      s.scen[rows].tolist(), s.branch[rows].tolist(), s.dx[rows].tolist(), prev_day.tolist(),
                      strict=True))


@pytest.mark.parametrize("date", [dt.date(2025, 11, 30), dt.date(2027, 6, 14)])
def test_a_day_derives_few_timelines_and_misses_no_stay(cfg, date):
    """A day derives only the timelines of patients who may come in that day (so its cost does not grow
    with every stay before it), and finds exactly the stays that deriving everyone's timeline finds."""
    registry = derive_registry(cfg, date)
    d = day_index(cfg, date)
    few = day_lives(cfg, "raw", registry, date)
    derived = np.unique(few.stays.patient).size
    everyone = derive_lives(cfg, "raw", registry, date)
    assert _stays_on(few, d) == _stays_on(everyone, d)
    assert len(_stays_on(few, d)) > 60
    assert derived < 0.1 * len(registry), (derived, len(registry))


def test_override_adds_only_patients_who_are_free(cfg):
    """--encounters above the day's own stays adds patients who are alive and out of hospital that day, once each."""
    registry = derive_registry(cfg, END)
    own = day_encounters(cfg, END, "sample", registry)
    big = day_encounters(cfg, END, "sample", registry, 3000)
    assert len(big) == 3000 and len(set(big.patient_index.tolist())) == 3000
    assert set(own.patient_index.tolist()) <= set(big.patient_index.tolist())
    small = day_encounters(cfg, END, "sample", registry, 5)
    assert len(small) == 5 and set(small.patient_index.tolist()) <= set(own.patient_index.tolist())


def test_override_day_keeps_the_scenario_mix(cfg):
    """A large --encounters day has the configured mix (weights x weekday x season), not the mix of
    the patients who come back most often (condition-gated scenarios such as COPD included)."""
    registry = derive_registry(cfg, END)
    big = day_encounters(cfg, END, "sample", registry, 3000)
    mix = cfg.generator["scenarios"]
    weights = {}
    for name, w in mix["weights"].items():
        w *= mix.get("weekday", {}).get(name, [1.0] * 7)[END.weekday()]
        season = mix.get("seasonal", {}).get(name)
        if season:
            w *= 1 + season["amplitude"] * np.cos(2 * np.pi * (END.month - season["peak_month"]) / 12)
        weights[name] = w
    total = sum(weights.values())
    for name in ("copd_exacerbation", "heart_failure", "observation", "sepsis", "pneumonia"):
        assert np.mean(big.scenario == name) == pytest.approx(weights[name] / total, abs=0.03), name


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".locks" not in p.parts}


def test_one_day_alone_equals_that_day_inside_a_backfill(tmp_path, cfg):
    """A day generated on its own has the same bytes as the same day generated inside a parallel backfill."""
    start = END - dt.timedelta(days=2)
    (tmp_path / "bf").mkdir()
    (tmp_path / "alone").mkdir()
    result = backfill(CONFIG, start, END, "sample", tmp_path / "bf", workers=2)
    assert len(result.done) == 3
    alone = generate_day(cfg, END - dt.timedelta(days=1), "sample", tmp_path / "alone").folder
    inside = tmp_path / "bf" / "sample" / alone.name
    assert _files(alone) == _files(inside) and len(_files(alone)) == 6
