"""The validator: a valid day passes; each kind of broken contract is caught with code and place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_generator import contracts, writer
from data_generator.timeutil import local_midnight, zone
from data_generator.validation import batches, readers, validate_day

BATCH = dt.date(2026, 3, 8)  # a daylight-saving change day in New York
TZ = zone("America/New_York")
H = 3600


def obj(*values):
    return np.array(values, dtype=object)


def day_tables(batch: dt.date = BATCH, tz=TZ) -> dict[str, dict]:
    """A small valid day: 2 patients, 2 encounters, vitals, labs (incl. a culture), notes."""
    t0 = local_midnight(batch, tz)
    ymd = batch.strftime("%Y%m%d")
    enc = obj(f"ENC-{ymd}-00001", f"ENC-{ymd}-00002")
    pid = obj("P0000001", "P0000002")
    admit = np.array([t0 + H + 1800, t0 + 14 * H])
    patients = {
        "patient_id": pid, "mrn": obj("MRN0000001", "MRN0000002"),
        "first_name": obj("Ana", "Bo"), "last_name": obj("O'Neil, Jr.", 'Quote "Q"'),
        "sex": obj("F", "M"),
        "date_of_birth": np.array(["1950-02-01", "1988-12-31"], dtype="datetime64[D]"),
        "address": obj("1 Main St, Apt 2", "2 Line\nBreak Rd"), "city": obj("Boston", "Salem"),
        "state": obj("MA", "MA"), "zip": obj("02110", "01970"),
        "phone": obj("(617) 555-0100", "(978) 555-0199"),
        "registered_date": np.array(["2010-05-05", "2020-01-01"], dtype="datetime64[D]"),
    }
    encounters = {
        "encounter_id": enc, "patient_id": pid, "admit_time": admit,
        "discharge_time": admit + np.array([50 * H, 30 * H]),
        "scenario": obj("sepsis", "chf_exacerbation"), "outcome": obj("recovered", "improved"),
        "acuity": np.array([2, 3]), "encounter_type": obj("ICU", "inpatient"),
        "care_unit": obj("MICU", "Cardiology"), "primary_dx_code": obj("A41.9", "I50.23"),
        "primary_dx_desc": obj("Sepsis, unspecified organism", "Acute on chronic HF"),
        "discharge_disposition": obj("home", "home_health"),
    }
    vitals = {
        "vital_id": obj(*(f"VIT-{ymd}-{i:07d}" for i in range(1, 5))),
        "encounter_id": enc[[0, 0, 0, 1]], "patient_id": pid[[0, 0, 0, 1]],
        "event_time": admit[[0, 0, 0, 1]] + np.array([600, 2 * H, 30 * H, H]),
        "heart_rate": np.array([118.0, 104.0, np.nan, 88.0]),
        "resp_rate": np.array([24, 22, 18, 16]),
        "sbp": np.array([92, 101, 118, 134]), "dbp": np.array([50, 58, 70, 80]),
        "map": np.array([64, 72, 86, 98]), "spo2": np.array([91, 94, 97, 96]),
        "temp_c": np.array([38.94, 38.5, 37.0, np.nan]),
        "consciousness": obj("C", "A", "A", None),
        "o2_device": obj("nasal_cannula", "nasal_cannula", "room_air", ""),
        "fio2": np.array([0.28, 0.24, 0.21, np.nan]),
        "pain_score": np.array([3.0, np.nan, 1.0, 0.0]),
        "care_unit": obj("MED-WARD", "MED-WARD", "MICU", "OBS"),
    }
    labs = {
        "lab_id": obj(*(f"LAB-{ymd}-{i:07d}" for i in range(1, 5))),
        "encounter_id": enc[[0, 0, 0, 1]], "patient_id": pid[[0, 0, 0, 1]],
        "event_time": admit[[0, 0, 0, 1]] + 1200,
        "result_time": admit[[0, 0, 0, 1]] + np.array([3000, 4000, 30 * H, 5000]),
        "panel": obj("Lactate", "BMP", "Blood culture", "BNP"),
        "loinc_code": obj("2524-7", "2951-2", "600-7", "30934-4"),
        "test_name": obj("Lactate", "Sodium", "Blood culture", "BNP"),
        "value": np.array([4.2, 134.0, np.nan, 1180.0]),
        "value_text": obj(None, None, "Growth detected: gram-negative rods", None),
        "unit": obj("mmol/L", "mmol/L", None, "pg/mL"),
        "ref_low": np.array([0.5, 136.0, np.nan, np.nan]),
        "ref_high": np.array([2.2, 145.0, np.nan, 100.0]),
        "flag": obj("H", "L", "A", "H"),
    }
    notes = {
        "note_id": obj(f"NOTE-{ymd}-000001", f"NOTE-{ymd}-000002"),
        "encounter_id": enc, "patient_id": pid, "note_time": admit + 3 * H,
        "note_type": obj("admission_hp", "progress"), "author": obj("Dr. Lee, MD", "Dr. Ré"),
        "text": obj("Admitted with fever, \"rigors\" and\nhypotension; cultures sent.",
                    "Diuresing well, weight down 1 kg overnight."),
    }
    return {"patients": patients, "encounters": encounters, "vitals": vitals, "labs": labs,
            "notes": notes}


def write_day(folder: Path, tables: dict[str, dict] | None = None, tz=TZ) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in (tables or day_tables()).items():
        schema = contracts.load_contract(name)
        writer.write_table(folder / contracts.file_name(schema), table, schema, tz)
    return folder


def edit(folder: Path, file: str, old: str, new: str, count: int = 1) -> None:
    """Replace text in one written file (the first `count` occurrences)."""
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def found(report, rule: str, file: str, line: int | None = None, field: str | None = None):
    return [v for v in report.violations if v.rule == rule and v.file == file
            and (line is None or v.line == line) and (field is None or v.field == field)]


@pytest.fixture
def day(tmp_path):
    return write_day(tmp_path / "day")


def test_valid_day_passes(day):
    """The fixture day meets every contract, so any violation below comes from its corruption."""
    report = validate_day(day, BATCH)
    assert report.ok, report.summary()
    assert report.rows == {"patients.csv": 2, "encounters.csv": 2, "vitals.csv": 4,
                           "labs.csv": 4, "notes.jsonl": 2}


def test_malformed_timestamp(day):
    """An impossible month in a timestamp is a 'format' violation at its line and field."""
    edit(day, "vitals.csv", "2026-03-08T01:40:00-05:00", "2026-13-08T01:40:00-05:00")
    report = validate_day(day, BATCH)
    assert found(report, "format", "vitals.csv", 2, "event_time")


def test_timestamp_without_offset(day):
    """A timestamp with no UTC offset breaks the pattern (explicit offsets are required)."""
    edit(day, "vitals.csv", "2026-03-08T01:40:00-05:00", "2026-03-08T01:40:00")
    report = validate_day(day, BATCH)
    assert found(report, "pattern", "vitals.csv", 2, "event_time")


def test_orphan_encounter(day):
    """A vital pointing at an encounter that is not in encounters.csv is a foreign_key violation."""
    edit(day, "vitals.csv", "VIT-20260308-0000004,ENC-20260308-00002",
         "VIT-20260308-0000004,ENC-20260308-00009")
    report = validate_day(day, BATCH)
    assert [(v.line, v.field) for v in found(report, "foreign_key", "vitals.csv")] == \
        [(5, "encounter_id")]


def test_patient_encounter_mismatch(day):
    """Vitals naming a real encounter with another real patient break the composite key."""
    edit(day, "vitals.csv", "ENC-20260308-00002,P0000002", "ENC-20260308-00002,P0000001")
    report = validate_day(day, BATCH)
    assert found(report, "foreign_key", "vitals.csv", 5, "encounter_id,patient_id")


def test_event_outside_encounter(day):
    """A note written before its encounter's admission is a time_window violation."""
    edit(day, "notes.jsonl", '"note_time":"2026-03-08T05:30:00-04:00"',
         '"note_time":"2026-03-08T00:30:00-05:00"')
    report = validate_day(day, BATCH)
    assert found(report, "time_window", "notes.jsonl", 1, "note_time")


def test_duplicate_id(day):
    """A repeated primary key is reported once, at the second occurrence."""
    edit(day, "labs.csv", "LAB-20260308-0000003", "LAB-20260308-0000001")
    report = validate_day(day, BATCH)
    assert [(v.line, v.value) for v in found(report, "unique", "labs.csv")] == \
        [(4, "LAB-20260308-0000001")]


def test_digest_collision_is_not_a_duplicate(day, monkeypatch):
    """Keys are compared by digest first; when every key shares one digest, only the key that
    really repeats is reported (so a collision can never pass as a duplicate)."""
    monkeypatch.setattr(batches, "text_digest", lambda text: np.zeros(len(text), dtype=np.uint64))
    edit(day, "labs.csv", "LAB-20260308-0000003", "LAB-20260308-0000001")
    report = validate_day(day, BATCH)
    assert [(v.line, v.value) for v in found(report, "unique", "labs.csv")] == \
        [(4, "LAB-20260308-0000001")]
    assert not found(report, "unique", "vitals.csv")


def test_digest_tells_strings_apart():
    """Equal strings share a digest whatever their batch; different ones of any length do not."""
    a = batches.text_digest(pa.array(["LAB-1", None, "LAB-2", "ENC-20260308-00001", "é"]))
    b = batches.text_digest(pa.array(["x", "é", "LAB-2", "LAB-1"]).slice(1))
    assert a[1] == 0 and (a[0], a[2], a[4]) == (b[2], b[1], b[0])
    assert len(set(a.tolist())) == 5


def test_bad_enum(day):
    """A value outside an enum (o2 device) is an 'enum' violation."""
    edit(day, "vitals.csv", "room_air", "oxygen_tent")
    report = validate_day(day, BATCH)
    assert found(report, "enum", "vitals.csv", 4, "o2_device")


def test_extra_and_missing_column(day):
    """Renaming a header column gives one extra_column and one missing_column."""
    edit(day, "encounters.csv", ",care_unit,", ",ward,")
    report = validate_day(day, BATCH)
    assert found(report, "extra_column", "encounters.csv", 1, "ward")
    assert found(report, "missing_column", "encounters.csv", 1, "care_unit")


def test_misordered_columns(day):
    """Swapping two header names is a column_order violation."""
    edit(day, "patients.csv", "first_name,last_name", "last_name,first_name")
    report = validate_day(day, BATCH)
    assert found(report, "column_order", "patients.csv", 1)


def test_jsonl_extra_key(day):
    """A JSONL object with an unknown key is an extra_column on its line."""
    edit(day, "notes.jsonl", '"author":"Dr. Ré"', '"author":"Dr. Ré","ward":"5B"')
    report = validate_day(day, BATCH)
    assert found(report, "extra_column", "notes.jsonl", 2, "ward")


def test_row_rule_dbp_not_below_sbp(day):
    """A diastolic pressure at or above systolic breaks the dbp < sbp row rule."""
    edit(day, "vitals.csv", ",134,80,98,", ",134,134,134,")
    report = validate_day(day, BATCH)
    rules = {(v.line, v.field, v.detail) for v in found(report, "row_rule", "vitals.csv")}
    assert (5, "dbp", "dbp < sbp") in rules


def test_lab_value_outside_loinc_limit(day):
    """A lactate of 45 mmol/L is beyond lactate's possible maximum (but fine for sodium)."""
    edit(day, "labs.csv", ",4.20,", ",45.00,")
    report = validate_day(day, BATCH)
    assert [(v.line, v.field, v.value) for v in found(report, "maximum", "labs.csv")] == \
        [(2, "value", 45.0)]


def test_culture_needs_text(day):
    """A blood culture with a number instead of coded text breaks its per-LOINC rule."""
    edit(day, "labs.csv", ",,Growth detected: gram-negative rods,", ",7.00,,")
    report = validate_day(day, BATCH)
    assert found(report, "type", "labs.csv", 4, "value")
    assert found(report, "required", "labs.csv", 4, "value_text")


def test_lab_without_value_or_text(day):
    """A lab row with neither value nor value_text fails the row-wise anyOf rule."""
    edit(day, "labs.csv", ",134.00,", ",,")
    report = validate_day(day, BATCH)
    assert found(report, "any_of", "labs.csv", 3)


def test_wrong_batch_date(day):
    """Validating the day against another batch date flags every admission."""
    report = validate_day(day, BATCH + dt.timedelta(days=1))
    assert [v.line for v in found(report, "batch_date", "encounters.csv", None,
                                  "admit_time")] == [2, 3]


def test_wrong_decimals(day):
    """A temperature printed without its one decimal place is a 'decimals' violation."""
    edit(day, "vitals.csv", ",38.9,", ",38.94,")
    report = validate_day(day, BATCH)
    assert found(report, "decimals", "vitals.csv", 2, "temp_c")


def test_unparseable_integer(day):
    """A word in an integer column is a 'type' violation, not a crash."""
    edit(day, "encounters.csv", ",2,ICU,", ",two,ICU,")
    report = validate_day(day, BATCH)
    assert [(v.line, v.value) for v in found(report, "type", "encounters.csv", None,
                                              "acuity")] == [(2, "two")]


def test_missing_value_in_required_column(day):
    """An empty cell in a non-nullable column is 'required'."""
    edit(day, "patients.csv", ",Salem,", ",,")
    report = validate_day(day, BATCH)
    assert found(report, "required", "patients.csv", 3, "city")


def test_unreferenced_patient(day):
    """A patient no encounter refers to is 'unreferenced'."""
    path = day / "patients.csv"
    path.write_text(path.read_text() + "P0000003,MRN0000003,Cy,Do,F,1970-01-01,3 Elm,Lynn,MA,"
                    "01901,(781) 555-0123,2015-01-01\n")
    report = validate_day(day, BATCH)
    assert found(report, "unreferenced", "patients.csv", 4, "patient_id")


def test_missing_file(day):
    """A missing file is one missing_file violation; the other files are still checked."""
    (day / "labs.csv").unlink()
    edit(day, "vitals.csv", "room_air", "oxygen_tent")
    report = validate_day(day, BATCH)
    assert found(report, "missing_file", "labs.csv")
    assert found(report, "enum", "vitals.csv")


def test_ragged_row(day):
    """A CSV row with too many fields is a 'parse' violation at its line; later rows still count."""
    edit(day, "vitals.csv", "VIT-20260308-0000002,", "VIT-20260308-0000002,EXTRA,")
    edit(day, "vitals.csv", ",134,80,98,", ",134,134,98,")
    report = validate_day(day, BATCH)
    assert found(report, "parse", "vitals.csv", 3)
    assert found(report, "row_rule", "vitals.csv", 5)  # line numbers survive the skipped row


def test_garbage_bytes(day):
    """Binary garbage in a CSV and a JSONL file is reported (encoding, parse, json), not raised."""
    (day / "vitals.csv").write_bytes(b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n" * 3)
    with open(day / "notes.jsonl", "ab") as f:
        f.write(b"\xff\xfe{not json\n")
    report = validate_day(day, BATCH)
    assert not report.ok
    assert found(report, "encoding", "vitals.csv", 1)
    assert found(report, "missing_column", "vitals.csv", 1, "vital_id")
    assert found(report, "encoding", "notes.jsonl", 3)
    assert found(report, "json", "notes.jsonl", 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=300), name=st.sampled_from(["vitals.csv", "notes.jsonl",
                                                           "labs.csv", "encounters.csv"]),
       keep=st.integers(0, 400))
def test_arbitrary_bytes_never_crash(tmp_path_factory, junk, name, keep):
    """Any bytes spliced into any file give a report, never an exception."""
    folder = write_day(tmp_path_factory.mktemp("fuzz"))
    raw = (folder / name).read_bytes()
    (folder / name).write_bytes(raw[:keep] + junk + raw[keep:])
    report = validate_day(folder, BATCH)
    assert isinstance(report.ok, bool)
    assert all(isinstance(str(v), str) for v in report.violations)


def test_violation_text_and_summary(day):
    """Violations print as 'file:line field: rule detail (value)'; the summary counts them."""
    edit(day, "vitals.csv", "2026-03-08T01:40:00-05:00", "2026-13-08T01:40:00-05:00")
    report = validate_day(day, BATCH)
    v = found(report, "format", "vitals.csv", 2, "event_time")[0]
    assert str(v) == "vitals.csv:2 event_time: format date-time ('2026-13-08T01:40:00-05:00')"
    assert any(line.startswith("1 violations (format 1)") for line in report.summary())


def test_violations_capped_counts_exact(day):
    """max_violations caps the list but not the per-rule counts."""
    edit(day, "vitals.csv", "ENC-20260308-00001", "ENC-20260308-00009", count=3)
    report = validate_day(day, BATCH, max_violations=1)
    assert len(report.violations) == 1
    assert report.counts["foreign_key"] == 3


def _many_rows(table: dict, ids: str, prefix: str, copies: int, width: int) -> dict:
    """`table` repeated `copies` times with fresh IDs (same encounters, so still valid)."""
    out = {k: np.concatenate([np.asarray(v)] * copies) for k, v in table.items()}
    out[ids] = obj(*(f"{prefix}{i:0{width}d}" for i in range(1, len(out[ids]) + 1)))
    return out


def test_line_numbers_across_csv_batches(tmp_path, monkeypatch):
    """With tiny read blocks, violations deep in a CSV (after a skipped ragged row) keep their
    line numbers, and a duplicate key in another batch is still found."""
    monkeypatch.setattr(readers, "BLOCK_SIZE", 1024)
    tables = day_tables()
    vitals = _many_rows(tables["vitals"], "vital_id", "VIT-20260308-", 100, 7)
    vitals["heart_rate"][349] = 900.0  # data row 349 -> line 351
    vitals["vital_id"][389] = vitals["vital_id"][9]  # line 391 repeats line 11
    day = write_day(tmp_path / "day", {**tables, "vitals": vitals})
    assert (day / "vitals.csv").stat().st_size > 20 * 1024
    edit(day, "vitals.csv", "VIT-20260308-0000005,", "VIT-20260308-0000005,EXTRA,")  # line 6
    report = validate_day(day, BATCH)
    assert found(report, "parse", "vitals.csv", 6)
    assert [v.line for v in found(report, "maximum", "vitals.csv", None, "heart_rate")] == [351]
    assert [v.line for v in found(report, "unique", "vitals.csv")] == [391]
    assert report.rows["vitals.csv"] == 399


def test_line_numbers_across_jsonl_batches(tmp_path, monkeypatch):
    """JSONL read in small blocks reports a bad note on its physical line."""
    monkeypatch.setattr(readers, "BLOCK_SIZE", 512)
    tables = day_tables()
    notes = _many_rows(tables["notes"], "note_id", "NOTE-20260308-", 60, 6)
    notes["note_type"][100] = "memo"  # line 101
    day = write_day(tmp_path / "day", {**tables, "notes": notes})
    assert (day / "notes.jsonl").stat().st_size > 20 * 512
    report = validate_day(day, BATCH)
    assert [v.line for v in report.violations] == [101] and found(report, "enum", "notes.jsonl")
    assert report.rows["notes.jsonl"] == 120


def test_quoted_line_breaks_across_csv_batches(tmp_path, monkeypatch):
    """Records holding line breaks, split over read blocks, are still one record each."""
    monkeypatch.setattr(readers, "BLOCK_SIZE", 256)
    tables = day_tables()
    patients = _many_rows(tables["patients"], "patient_id", "P", 50, 7)
    patients["mrn"] = obj(*(f"MRN{i:07d}" for i in range(1, 101)))
    patients["zip"][80] = "ABCDE"  # record 81 -> line 82
    encounters = {k: np.concatenate([np.asarray(v)] * 50) for k, v in tables["encounters"].items()}
    encounters["encounter_id"] = obj(*(f"ENC-20260308-{i:05d}" for i in range(1, 101)))
    encounters["patient_id"] = patients["patient_id"]
    day = write_day(tmp_path / "day", {**tables, "patients": patients, "encounters": encounters})
    report = validate_day(day, BATCH)
    assert [(v.line, v.field) for v in found(report, "pattern", "patients.csv")] == [(82, "zip")]
    assert report.rows["patients.csv"] == 100
