"""Parquet days: typed columns, deterministic bytes, DuckDB reads them, the same contracts apply."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_generator import contracts, writer
from data_generator.publish import MANIFEST, publish_day, verify_manifest
from data_generator.validation import day_format, validate_day
from tests.test_validate import BATCH, TZ, H, day_tables, found, write_day


def write_parquet_day(folder: Path, tables: dict[str, dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in (tables or day_tables()).items():
        schema = contracts.load_contract(name)
        writer.write_table(writer.data_file(folder, schema, "parquet"), table, schema, TZ,
                           fmt="parquet")
    return folder


def corrupted(change) -> dict[str, dict]:
    """The fixture tables with `change(tables)` applied (the writer does not judge content)."""
    tables = day_tables()
    change(tables)
    return tables


def set_value(table: str, col: str, row: int, value):
    def change(tables):
        column = np.array(tables[table][col], copy=True)
        column[row] = value
        tables[table][col] = column
    return change


CORRUPTIONS = {
    "heart_rate_900": (set_value("vitals", "heart_rate", 1, 900.0), "maximum", "vitals",
                       "heart_rate", 2),
    "duplicate_lab_id": (set_value("labs", "lab_id", 2, "LAB-20260308-0000001"), "unique",
                         "labs", "lab_id", 3),
    "vital_before_admission": (set_value("vitals", "event_time", 0,
                                         day_tables()["encounters"]["admit_time"][0] - H),
                               "time_window", "vitals", "event_time", 1),
    "bad_enum": (set_value("vitals", "o2_device", 2, "oxygen_tent"), "enum", "vitals",
                 "o2_device", 3),
    "orphan_note": (set_value("notes", "encounter_id", 1, "ENC-20260308-00009"), "foreign_key",
                    "notes", "encounter_id", 2),
    "result_before_collection": (set_value("labs", "result_time", 0,
                                           day_tables()["labs"]["event_time"][0] - 60),
                                 "row_rule", "labs", "result_time", 1),
}


def test_parquet_day_validates(tmp_path):
    """A day written as Parquet passes validate_day, with the same row counts as CSV."""
    day = write_parquet_day(tmp_path / "day")
    assert day_format(day) == "parquet"
    report = validate_day(day, BATCH)
    assert report.ok, report.summary()
    assert report.rows == {"patients.parquet": 2, "encounters.parquet": 2, "vitals.parquet": 4,
                           "labs.parquet": 4, "notes.parquet": 2}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_parquet_corruption_is_reported(tmp_path, case):
    """A broken value in a Parquet file is reported with its rule, field and 1-based row."""
    change, rule, table, field, row = CORRUPTIONS[case]
    day = write_parquet_day(tmp_path / "day", corrupted(change))
    report = validate_day(day, BATCH)
    assert found(report, rule, f"{table}.parquet", row, field), report.summary()


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_parquet_and_csv_same_verdict(tmp_path, case):
    """The same data as CSV and as Parquet gets the same violations (CSV lines are rows + 1)."""
    tables = corrupted(CORRUPTIONS[case][0])
    text = validate_day(write_day(tmp_path / "csv", tables), BATCH)
    typed = validate_day(write_parquet_day(tmp_path / "parquet", tables), BATCH)
    assert not text.ok and text.counts == typed.counts

    def shape(report, line_shift):
        return sorted((v.file.rsplit(".", 1)[0], v.line - line_shift * v.file.endswith(".csv"),
                       v.field, v.rule, v.value) for v in report.violations)

    assert shape(text, 1) == shape(typed, 0)


def test_parquet_wrong_storage_type_and_decimals(tmp_path):
    """A column stored with the wrong type, or a number with too many decimals, is reported."""
    day = write_parquet_day(tmp_path / "day")
    path = day / "vitals.parquet"
    table = pq.read_table(path)
    hr = table.column("heart_rate").cast(pa.float64())
    temp = pa.array([38.94, 38.5, 37.0, None], pa.float64())
    table = table.set_column(table.schema.get_field_index("heart_rate"), "heart_rate", hr)
    table = table.set_column(table.schema.get_field_index("temp_c"), "temp_c", temp)
    pq.write_table(table, path)
    report = validate_day(day, BATCH)
    assert found(report, "type", "vitals.parquet", None, "heart_rate")
    assert found(report, "decimals", "vitals.parquet", 1, "temp_c")


def test_parquet_timestamp_without_zone_breaks_pattern(tmp_path):
    """A timestamp column with no time zone is like CSV text without an offset: 'pattern'."""
    day = write_parquet_day(tmp_path / "day")
    path = day / "notes.parquet"
    table = pq.read_table(path)
    i = table.schema.get_field_index("note_time")
    table = table.set_column(i, "note_time", table.column(i).cast(pa.timestamp("s")))
    pq.write_table(table, path)
    report = validate_day(day, BATCH)
    assert [v.line for v in found(report, "pattern", "notes.parquet", None, "note_time")] == [1, 2]


def test_parquet_column_types(tmp_path):
    """Timestamps carry the zone, integers are int64, numbers float64, dates date32, and
    enum / x-dictionary strings are dictionary-encoded; IDs and free text are plain strings."""
    day = write_parquet_day(tmp_path / "day")
    vitals = pq.read_schema(day / "vitals.parquet")
    assert pa.types.is_timestamp(vitals.field("event_time").type)
    assert vitals.field("event_time").type.tz == "America/New_York"
    assert vitals.field("heart_rate").type == pa.int64()
    assert vitals.field("temp_c").type == pa.float64()
    assert vitals.field("o2_device").type == pa.dictionary(pa.int32(), pa.string())
    assert vitals.field("vital_id").type == pa.string()
    patients = pq.read_schema(day / "patients.parquet")
    assert patients.field("date_of_birth").type == pa.date32()
    assert patients.field("sex").type == pa.dictionary(pa.int32(), pa.string())
    labs = pq.read_schema(day / "labs.parquet")
    for col in ("panel", "loinc_code", "unit", "flag"):
        assert pa.types.is_dictionary(labs.field(col).type), col
    notes = pq.read_schema(day / "notes.parquet")
    assert notes.field("text").type == pa.string()
    assert writer.arrow_schema(contracts.load_contract("vitals"), TZ).field(
        "event_time").type == pa.timestamp("s", tz="America/New_York")


def test_parquet_values_round_to_decimals(tmp_path):
    """Parquet numbers are the printed CSV numbers (rounded to x-decimals, no -0.0)."""
    day = write_parquet_day(tmp_path / "day")
    temp = pq.read_table(day / "vitals.parquet").column("temp_c").to_pylist()
    assert temp == [38.9, 38.5, 37.0, None]


def test_parquet_bytes_deterministic(tmp_path):
    """Writing the same day twice gives identical Parquet bytes (no clock time inside)."""
    a, b = write_parquet_day(tmp_path / "a"), write_parquet_day(tmp_path / "b")
    for path in sorted(a.iterdir()):
        assert path.read_bytes() == (b / path.name).read_bytes(), path.name


def test_duckdb_reads_parquet_like_csv(tmp_path):
    """DuckDB loads the Parquet and CSV forms of a table with the same rows and values."""
    csv_day = write_day(tmp_path / "csv")
    pq_day = write_parquet_day(tmp_path / "parquet")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    queries = {
        "vitals": ("vital_id, epoch(event_time)::BIGINT, heart_rate, temp_c, fio2, o2_device, "
                   "consciousness", "{'event_time': 'TIMESTAMPTZ'}"),
        "labs": ("lab_id, epoch(result_time)::BIGINT, value, value_text, flag",
                 "{'result_time': 'TIMESTAMPTZ'}"),
        "patients": ("patient_id, date_of_birth, address, last_name",
                     "{'date_of_birth': 'DATE'}")}
    for name, (cols, types) in queries.items():
        from_csv = con.execute(
            f"SELECT {cols} FROM read_csv('{csv_day / (name + '.csv')}', header=true, "
            f"timestampformat='%Y-%m-%dT%H:%M:%S%z', types={types}) ORDER BY 1").fetchall()
        from_parquet = con.execute(
            f"SELECT {cols} FROM read_parquet('{pq_day / (name + '.parquet')}') ORDER BY 1"
        ).fetchall()
        assert from_csv == from_parquet and len(from_csv) == len(
            next(iter(day_tables()[name].values())))
    notes = con.execute(f"SELECT count(*), max(length(text)) FROM "
                        f"read_parquet('{pq_day / 'notes.parquet'}')").fetchone()
    assert notes == (2, max(len(t) for t in day_tables()["notes"]["text"]))
    instants = con.execute(f"SELECT epoch(event_time)::BIGINT FROM "
                           f"read_parquet('{pq_day / 'vitals.parquet'}') ORDER BY vital_id")
    assert [r[0] for r in instants.fetchall()] == day_tables()["vitals"]["event_time"].tolist()


def test_parquet_manifest_checked(tmp_path):
    """A published Parquet day records Parquet row counts; a changed file is 'manifest'."""
    staging = write_parquet_day(tmp_path / "staging")
    target = tmp_path / "out" / BATCH.isoformat()
    target.parent.mkdir()
    publish_day(staging, target, {"batch_date": BATCH.isoformat()})
    assert validate_day(target).ok and verify_manifest(target) == []
    assert json.loads((target / MANIFEST).read_text())["files"]["vitals.parquet"]["rows"] == 4
    table = pq.read_table(target / "labs.parquet")
    value = pa.array([4.3, 134.0, None, 1180.0], pa.float64())
    pq.write_table(table.set_column(table.schema.get_field_index("value"), "value", value),
                   target / "labs.parquet")
    assert found(validate_day(target), "manifest", "labs.parquet", None, "sha256")


def test_mixed_formats_reported(tmp_path):
    """A CSV file left beside a Parquet day is reported; the Parquet files are checked."""
    day = write_parquet_day(tmp_path / "day")
    write_day(tmp_path / "day", {"vitals": day_tables()["vitals"]})
    report = validate_day(day, BATCH)
    assert found(report, "mixed_formats", "vitals.csv")
    assert report.rows["vitals.parquet"] == 4


def test_parquet_row_groups_independent_of_chunks(tmp_path, monkeypatch):
    """Row groups hold ROW_GROUP_ROWS rows however the table was chunked: same bytes."""
    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 3)
    schema = contracts.load_contract("vitals")
    table = day_tables()["vitals"]
    writer.write_table(tmp_path / "one.parquet", table, schema, TZ, fmt="parquet")
    with writer.TableWriter(tmp_path / "many.parquet", schema, TZ, fmt="parquet") as out:
        for rows in (slice(0, 1), slice(1, 2), slice(2, 4)):
            out.write({k: np.asarray(v)[rows] for k, v in table.items()})
    assert out.rows == 4
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "many.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "many.parquet").num_row_groups == 2


def test_parquet_multi_row_group_rows(tmp_path, monkeypatch):
    """Violations in a later row group carry the row number within the whole file."""
    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 3)
    day = write_parquet_day(tmp_path / "day", corrupted(set_value("vitals", "spo2", 3, 101)))
    assert pq.ParquetFile(day / "vitals.parquet").num_row_groups == 2
    assert found(validate_day(day, BATCH), "maximum", "vitals.parquet", 4, "spo2")


def test_parquet_batch_date(tmp_path):
    """Admissions are checked against the batch date in the column's own zone."""
    day = write_parquet_day(tmp_path / "day")
    report = validate_day(day, BATCH + dt.timedelta(days=1))
    assert [v.line for v in found(report, "batch_date", "encounters.parquet")] == [1, 2]
