"""End-to-end behaviour of one generated day: completeness, joins, windows, determinism."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd
import pytest

from data_generator.config import load_config
from data_generator.errors import ContractError
from data_generator.generators import vitals as vitals_module
from data_generator.pipeline import build_day, generate_day
from data_generator.validation import validate_day
from tests.conftest import DAY, copy_config

FILES = ("patients.csv", "encounters.csv", "vitals.csv", "labs.csv", "notes.jsonl", "_manifest.json")


def _dir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read(folder):
    enc = pd.read_csv(folder / "encounters.csv")
    return {
        "patients": pd.read_csv(folder / "patients.csv", dtype=str),
        "encounters": enc,
        "vitals": pd.read_csv(folder / "vitals.csv"),
        "labs": pd.read_csv(folder / "labs.csv"),
        "notes": pd.read_json(folder / "notes.jsonl", lines=True, dtype=False),
    }


def test_day_has_five_valid_files_and_manifest(day_dir):
    """A published day holds the five contracted files plus a manifest, and validates clean."""
    assert sorted(p.name for p in day_dir.iterdir()) == sorted(FILES)
    report = validate_day(day_dir, DAY)
    assert report.ok, report.summary()
    assert all(report.rows[f] > 0 for f in FILES[:5])


def test_every_event_inside_its_encounter_window(day_dir):
    """Independent of the validator: vitals, labs and notes times lie within admit..discharge."""
    t = _read(day_dir)
    enc = t["encounters"].assign(
        admit=lambda d: pd.to_datetime(d.admit_time, utc=True),
        discharge=lambda d: pd.to_datetime(d.discharge_time, utc=True))
    assert (enc.discharge > enc.admit).all()
    for name, col in (("vitals", "event_time"), ("labs", "event_time"), ("notes", "note_time")):
        m = t[name].merge(enc, on=["encounter_id", "patient_id"], how="left", validate="many_to_one")
        assert m.admit.notna().all(), f"{name} has orphan encounter ids"
        when = pd.to_datetime(m[col], utc=True)
        assert ((when >= m.admit) & (when <= m.discharge)).all(), name
    labs = t["labs"]
    assert (pd.to_datetime(labs.result_time, utc=True) > pd.to_datetime(labs.event_time, utc=True)).all()


def test_patients_file_is_exactly_the_referenced_patients(day_dir):
    """patients.csv has each patient of the day's encounters once, and nobody else."""
    t = _read(day_dir)
    assert t["patients"].patient_id.is_unique
    assert set(t["patients"].patient_id) == set(t["encounters"].patient_id)
    assert (pd.to_datetime(t["patients"].registered_date) <= pd.Timestamp(DAY)).all()


def test_admissions_fall_on_the_batch_date(day_dir):
    """Every encounter of the batch is admitted on that local date."""
    enc = _read(day_dir)["encounters"]
    assert enc.admit_time.str[:10].eq(DAY.isoformat()).all()


def test_same_seed_gives_identical_bytes(tmp_path, cfg):
    """Same config, seed and date: every file, manifest included, is byte-identical."""
    a = generate_day(cfg, DAY, "sample", _dir(tmp_path / "a"), encounters=40).folder
    b = generate_day(cfg, DAY, "sample", _dir(tmp_path / "b"), encounters=40).folder
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_a_different_seed_gives_different_data(tmp_path, cfg):
    """The seed matters: another seed gives other vitals."""
    from data_generator.pipeline import with_seed

    a = generate_day(cfg, DAY, "sample", _dir(tmp_path / "a"), encounters=30).folder
    b = generate_day(with_seed(cfg, cfg.seed + 1), DAY, "sample", _dir(tmp_path / "b"), encounters=30).folder
    assert (a / "vitals.csv").read_bytes() != (b / "vitals.csv").read_bytes()


def test_editing_note_templates_does_not_change_vitals(tmp_path):
    """RNG streams are per table: a different note template leaves vitals and labs untouched."""
    base = load_config(copy_config(tmp_path / "a"))
    path = copy_config(tmp_path / "b")
    templates = path.parent / "notes" / "templates.yaml"
    templates.write_text(templates.read_text().replace("PROGRESS NOTE, hospital day", "Progress, day"))
    edited = load_config(path)
    _, one = build_day(base, DAY, "sample", 30)
    _, two = build_day(edited, DAY, "sample", 30)
    for col in ("heart_rate", "temp_c", "event_time"):
        np.testing.assert_array_equal(one["vitals"][col], two["vitals"][col])
    np.testing.assert_array_equal(one["labs"]["value"], two["labs"]["value"])
    assert list(one["notes"]["text"]) != list(two["notes"]["text"])


def test_generation_leaves_global_random_state_alone(cfg):
    """No generator touches Python's or numpy's global RNG."""
    random.seed(1)
    np.random.seed(1)
    before = (random.getstate(), np.random.get_state()[1].copy())
    build_day(cfg, DAY, "sample", 20)
    assert random.getstate() == before[0]
    np.testing.assert_array_equal(np.random.get_state()[1], before[1])


def test_ids_are_unique_across_days(tmp_path, cfg):
    """Loading two days into one table never collides on any ID."""
    a = _read(generate_day(cfg, DAY, "sample", tmp_path, encounters=30).folder)
    b = _read(generate_day(cfg, DAY + dt.timedelta(days=1), "sample", tmp_path, encounters=30).folder)
    for table, key in (("encounters", "encounter_id"), ("vitals", "vital_id"), ("labs", "lab_id"),
                       ("notes", "note_id")):
        assert not set(a[table][key]) & set(b[table][key]), key


def test_returning_patients_are_identical_across_days(tmp_path):
    """Readmissions happen, and a returning patient's row is the same on every day."""
    def small_registry(g):
        g["registry"]["start_date"] = "2026-01-01"
        g["registry"]["new_patients_per_day"] = 5
    cfg = load_config(copy_config(tmp_path, small_registry))
    days = [_read(generate_day(cfg, dt.date(2026, 1, 10) + dt.timedelta(days=i), "sample",
                               _dir(tmp_path / "out"), encounters=25).folder)["patients"] for i in range(3)]
    allp = pd.concat(days)
    repeated = allp[allp.patient_id.duplicated(keep=False)]
    assert repeated.patient_id.nunique() > 0
    assert len(repeated.drop_duplicates()) == repeated.patient_id.nunique()


def test_loads_in_duckdb_with_typed_columns(day_dir):
    """DuckDB infers integers, doubles and zoned timestamps, and reads the notes JSONL."""
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()

    def types(name):
        rows = con.execute(f"DESCRIBE SELECT * FROM read_csv_auto('{day_dir / name}')").fetchall()
        return {r[0]: r[1] for r in rows}

    vitals = types("vitals.csv")
    assert vitals["heart_rate"] == "BIGINT"
    assert vitals["temp_c"] == "DOUBLE"
    assert vitals["event_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types("encounters.csv")["admit_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types("labs.csv")["value"] == "DOUBLE"
    assert types("patients.csv")["date_of_birth"] == "DATE"
    n = con.execute(f"SELECT count(*) FROM read_json_auto('{day_dir / 'notes.jsonl'}')").fetchone()[0]
    assert n == len((day_dir / "notes.jsonl").read_text().splitlines())
    joined = con.execute(
        f"SELECT count(*) FROM read_csv_auto('{day_dir / 'vitals.csv'}') v "
        f"JOIN read_csv_auto('{day_dir / 'encounters.csv'}') e USING (encounter_id)").fetchone()[0]
    assert joined == len((day_dir / "vitals.csv").read_text().splitlines()) - 1


def test_a_day_that_breaks_its_contract_publishes_nothing(tmp_path, cfg, monkeypatch):
    """An impossible value fails validation: no day folder, no staging folder, no lock left, previous day kept."""
    out = _dir(tmp_path / "out")
    good = generate_day(cfg, DAY, "sample", out, encounters=10).folder
    before = {p.name: p.read_bytes() for p in good.iterdir()}
    real = vitals_module._chart

    def broken(*args, **kwargs):
        table = real(*args, **kwargs)
        table["heart_rate"] = table["heart_rate"] + 400
        return table

    monkeypatch.setattr(vitals_module, "_chart", broken)
    with pytest.raises(ContractError, match="heart_rate"):
        generate_day(cfg, DAY, "sample", out, encounters=10)
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before
    assert sorted(p.name for p in (out / "sample").iterdir()) == [DAY.isoformat()]
