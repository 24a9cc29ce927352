"""Derived columns checked by their formula on generated rows read back from the files, not by a bound.

MAP from SBP and DBP, the anion gap from the same draw's electrolytes, lab flags from the value and
its limits, temperatures with real tenths, FiO2 on room air, IDs numbered 1..n in file order across
chunks, patient numbers and registration dates, and the hospital day and length of stay notes quote.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest

from data_generator import pipeline
from data_generator.errors import (
    BusyError,
    ConfigError,
    ContractError,
    OutputError,
    RegistryError,
    UsageError,
)
from data_generator.pipeline import generate_day
from tests.conftest import DAY
from tests.runs import read_day


@pytest.fixture(scope="module")
def tables(day_dir):
    return read_day(day_dir)


def _numbered(ids: pd.Series, prefix: str, width: int) -> list[str]:
    return [f"{prefix}-{DAY:%Y%m%d}-{i:0{width}d}" for i in range(1, len(ids) + 1)]


def test_map_is_dbp_plus_a_third_of_pulse_pressure(tables):
    """Every charted MAP equals DBP + (SBP - DBP)/3 to the nearest mmHg."""
    v = tables["vitals"].dropna(subset=["sbp", "dbp", "map"])
    assert len(v) > 1000
    expected = v.dbp + (v.sbp - v.dbp) / 3
    assert ((v["map"] - expected).abs() <= 0.5 + 1e-9).all()
    assert (v.sbp - v.dbp >= 10).mean() > 0.95  # the formula is tested where it differs from SBP and DBP


def test_blood_pressure_blanks_together(tables):
    """A missed blood pressure blanks SBP, DBP and MAP together, never one of them alone."""
    v = tables["vitals"]
    blank = v[["sbp", "dbp", "map"]].isna()
    assert blank.any(axis=None)
    assert (blank.all(axis=1) | ~blank.any(axis=1)).all()


def test_temperatures_carry_real_tenths(day_dir):
    """Temperatures are charted to a tenth of a degree: every tenths digit occurs, not only .0."""
    text = pd.read_csv(day_dir / "vitals.csv", dtype=str).temp_c.dropna()
    assert text.str.fullmatch(r"\d{2}\.\d").all()
    tenths = text.str[-1]
    assert set(tenths) == set("0123456789")
    assert (tenths != "0").mean() > 0.7


def test_derived_labs_equal_their_formula_on_the_same_draw(tables, cfg):
    """The anion gap (and any `derive` test) equals Na - Cl - HCO3 from the same draw, within rounding."""
    labs = tables["labs"]
    loinc = {name: spec["loinc"] for name, spec in cfg.labs["tests"].items()}
    derived = {name: spec for name, spec in cfg.labs["tests"].items() if "derive" in spec}
    assert "anion_gap" in derived
    draw = ["encounter_id", "event_time", "panel"]
    wide = labs.pivot_table(index=draw, columns="loinc_code", values="value", aggfunc="first")
    for name, spec in derived.items():
        parts = [loinc[t] for t in spec["derive"]]
        rows = wide.dropna(subset=[loinc[name], *parts])
        assert len(rows) > 20, name
        formula = sum(w * rows[loinc[t]] for t, w in spec["derive"].items())
        assert ((rows[loinc[name]] - formula).abs() <= 0.5 * 10 ** -spec["decimals"] + 1e-6).all(), name


def test_lab_flags_follow_value_and_limits(tables, cfg):
    """Each numeric result's flag is N, L, H, LL or HH exactly as its value sits against the
    reference range in the row and the critical limits in the catalogue."""
    labs = tables["labs"].dropna(subset=["value"])
    crit = {spec["loinc"]: spec.get("critical", [None, None]) for spec in cfg.labs["tests"].values()}
    low = labs.loinc_code.map(lambda c: crit[c][0]).astype(float)
    high = labs.loinc_code.map(lambda c: crit[c][1]).astype(float)
    expected = pd.Series("N", index=labs.index)
    expected[labs.value < labs.ref_low] = "L"
    expected[labs.value > labs.ref_high] = "H"
    expected[labs.value < low] = "LL"
    expected[labs.value > high] = "HH"
    assert (labs.flag == expected).all()
    assert set(expected) >= {"N", "L", "H"}


def test_fio2_is_room_air_fraction_only_on_room_air(tables):
    """FiO2 is 0.21 on room air and above 0.21 on any oxygen device."""
    v = tables["vitals"].dropna(subset=["fio2", "o2_device"])
    air = v.o2_device == "room_air"
    assert air.any() and (~air).any()
    assert (v.fio2[air] == 0.21).all()
    assert (v.fio2[~air] > 0.21).all()


@pytest.mark.parametrize("table,column,prefix,width", [
    ("encounters", "encounter_id", "ENC", 5), ("vitals", "vital_id", "VIT", 7),
    ("labs", "lab_id", "LAB", 7), ("notes", "note_id", "NOTE", 6)])
def test_ids_number_rows_from_one_in_file_order(tables, table, column, prefix, width):
    """Row IDs embed the batch date and number the file's rows 1..n in order."""
    ids = tables[table][column]
    assert list(ids) == _numbered(ids, prefix, width)


def test_ids_continue_across_chunks(tmp_path, cfg, monkeypatch):
    """A day generated in several chunks numbers vitals, labs and notes on from the previous chunk."""
    monkeypatch.setattr(pipeline, "CHUNK_ENCOUNTERS", 7)
    folder = generate_day(cfg, DAY, "sample", tmp_path, encounters=30).folder
    t = read_day(folder)
    for table, column, prefix, width in (("vitals", "vital_id", "VIT", 7), ("labs", "lab_id", "LAB", 7),
                                         ("notes", "note_id", "NOTE", 6)):
        ids = t[table][column]
        assert list(ids) == _numbered(ids, prefix, width), table
        # rows stay grouped by encounter in encounter order, so chunks follow one another
        first_row = t[table].groupby("encounter_id", sort=False).head(1).encounter_id
        assert list(first_row) == sorted(first_row), table


def test_any_number_of_workers_writes_the_same_bytes(tmp_path, cfg, monkeypatch):
    """A day of five chunks charted by one, two or three worker processes is byte-identical, IDs
    included (each chunk numbers its rows from 1; the day numbers them on in chunk order)."""
    monkeypatch.setattr(pipeline, "CHUNK_ENCOUNTERS", 7)
    files = {}
    for workers in (1, 2, 3):
        (tmp_path / str(workers)).mkdir()
        folder = generate_day(cfg, DAY, "sample", tmp_path / str(workers), encounters=33, interventions=True,
                              workers=workers).folder
        files[workers] = {f.name: f.read_bytes() for f in sorted(folder.iterdir())}
    assert files[1] == files[2] == files[3]
    assert len(files[1]) == 7 and files[1]["interventions.csv"].count(b"\n") > 1


def test_an_error_in_a_worker_is_the_same_one_line_error(tmp_path, cfg, monkeypatch):
    """A user-actionable error raised while a worker process charts a chunk reaches the caller as
    the same error (type and line), and nothing is published."""
    monkeypatch.setattr(pipeline, "CHUNK_ENCOUNTERS", 7)
    chart = pipeline._ChunkJob._chart

    def failing(self, k):
        if k == 2:
            raise ConfigError("scenarios/sepsis.yaml: notes.plan", "cannot be rendered", found="x", hint="fix it")
        return chart(self, k)

    monkeypatch.setattr(pipeline._ChunkJob, "_chart", failing)
    with pytest.raises(ConfigError) as err:
        generate_day(cfg, DAY, "sample", tmp_path, encounters=33, workers=2)
    assert err.value.line() == "config: scenarios/sepsis.yaml: notes.plan: cannot be rendered (got 'x'); fix it"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", [UsageError, ConfigError, ContractError, RegistryError, OutputError, BusyError])
def test_errors_cross_process_boundaries_whole(kind):
    """Every error kind pickles (as a worker's result does) to the same type, fields and line."""
    error = kind("where", "what went wrong", found=[1, "a"], hint="what to do")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is kind and again.line() == error.line() == str(again)
    assert (again.where, again.found, again.hint) == ("where", [1, "a"], "what to do")


def test_patient_number_sets_registration_date(tables, cfg):
    """Patient P(k+1) is registered on start_date + k // new_patients_per_day (k from the patient ID)."""
    p = tables["patients"]
    k = p.patient_id.str[1:].astype(int) - 1
    per_day = cfg.generator["registry"]["new_patients_per_day"]
    expected = (pd.Timestamp(cfg.start_date) + pd.to_timedelta(k // per_day, unit="D")).dt.strftime("%Y-%m-%d")
    assert (p.registered_date == expected).all()
    assert p.mrn.is_unique


def test_age_in_admission_notes_is_age_on_the_day(tables):
    """An admission note's 'N-year-old' / 'N y/o' is the patient's completed age on the batch date."""
    t = tables
    dob = t["patients"].set_index("patient_id").date_of_birth
    notes = t["notes"][t["notes"].note_type == "admission_hp"]
    quoted = notes.text.str.extract(r"\b(\d{1,3})(?:-year-old| y/o)\b")[0].dropna().astype(int)
    assert len(quoted) > 0.5 * len(notes)
    days = (pd.Timestamp(DAY) - pd.to_datetime(notes.loc[quoted.index].patient_id.map(dob))).dt.days
    assert (quoted == np.floor(days / 365.25).astype(int)).all()


def _quote_pattern(template: str, variable: str) -> re.Pattern | None:
    """A regex for the number a template prints for `{{ variable }}`, from the literal words before it."""
    m = re.search(r"([A-Za-z][A-Za-z ,(]{3,30})\{\{\s*" + re.escape(variable) + r"\s*\}\}", template)
    if m is None:
        return None
    return re.compile(re.escape(m.group(1)) + r"(\d+(?:\.\d+)?)")


def _quotes(notes: pd.DataFrame, cfg, note_type: str, variable: str) -> pd.DataFrame:
    patterns = [p for tpl in cfg.notes["note_types"][note_type]["templates"]
                if (p := _quote_pattern(tpl, variable)) is not None]
    if not patterns:
        pytest.skip(f"no {note_type} template quotes {variable}")
    rows = notes[notes.note_type == note_type]
    value = pd.Series(np.nan, index=rows.index)
    for pattern in patterns:
        found = rows.text.str.extract(pattern.pattern)[0].astype(float)
        value = value.fillna(found)
    return rows.assign(quoted=value).dropna(subset=["quoted"])


def test_progress_notes_quote_the_hospital_day(tables, cfg):
    """A progress note's day number is 1 + local calendar days from the admission date to its note_time."""
    enc = tables["encounters"].set_index("encounter_id")
    notes = _quotes(tables["notes"], cfg, "progress", "note_day")
    assert len(notes) > 20
    local = notes.note_time_utc.dt.tz_convert(str(cfg.tz)).dt.date
    admitted = notes.encounter_id.map(enc.admit_time_utc).dt.tz_convert(str(cfg.tz)).dt.date
    days = np.array([(a - b).days for a, b in zip(local, admitted, strict=True)])
    assert (notes.quoted.to_numpy() == days + 1).all()
    assert notes.quoted.max() >= 2


def test_discharge_summaries_quote_the_length_of_stay(tables, cfg):
    """A discharge summary's length of stay is discharge - admit in days, to one decimal."""
    enc = tables["encounters"].set_index("encounter_id")
    notes = _quotes(tables["notes"], cfg, "discharge_summary", "encounter.los_days")
    assert len(notes) > 20
    days = (notes.encounter_id.map(enc.discharge_time_utc) - notes.encounter_id.map(enc.admit_time_utc)
            ).dt.total_seconds() / 86400
    assert ((notes.quoted - days).abs() <= 0.05 + 1e-9).all()
