"""The five file contracts: well-formed, self-consistent, and judged the same by a second validator."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from data_generator import contracts
from data_generator.contracts import FILES, Violation, column_type, columns, file_name
from data_generator.errors import ContractError
from data_generator.generators.timeline import ID_FORMATS, table_ids
from data_generator.validation import validate_day
from tests.test_validate import BATCH, write_day

REQUIRED_LOINCS = {"6690-2", "718-7", "777-3", "2951-2", "2823-3", "2075-0", "1963-8", "3094-0",
                   "2160-0", "2345-7", "2524-7", "33959-8", "1988-5", "30934-4", "89579-7",
                   "1920-8", "1742-6", "1975-2", "1751-7", "6301-6", "2744-1", "2019-8",
                   "2703-7", "33037-3", "2339-0", "600-7", "1959-6"}
CROSS_ROW = {"foreign_key", "unique", "time_window", "row_rule", "batch_date", "unreferenced",
             "decimals"}


@pytest.mark.parametrize("name", FILES)
def test_schema_is_valid_draft_2020_12(name):
    """Each contract is a valid 2020-12 schema with version, title, file and closed columns."""
    schema = contracts.load_contract(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["schema_version"] == 1 and schema["title"] == name
    assert file_name(schema) in (f"{name}.csv", f"{name}.jsonl")
    assert schema["required"] == columns(schema)
    assert schema["additionalProperties"] is False
    for col, prop in schema["properties"].items():
        kind = column_type(prop)
        assert ("x-decimals" in prop) == (kind == "number"), col


@pytest.mark.parametrize("name", FILES)
def test_cross_row_rules_name_real_columns(name):
    """Every x-* rule refers to columns and resources that exist, with timestamps where needed."""
    everything = contracts.contracts()
    schema = everything[name]
    cols = set(columns(schema))
    assert schema["x-primaryKey"] in cols
    for fk in schema.get("x-foreignKeys", []):
        other = everything[fk["reference"]["resource"]]
        assert set(fk["fields"]) <= cols and set(fk["reference"]["fields"]) <= set(columns(other))
    for ref in schema.get("x-referencedBy", []):
        assert set(ref["by"]["fields"]) <= set(columns(everything[ref["by"]["resource"]]))
    if "x-timeWindow" in schema:
        w = schema["x-timeWindow"]
        other = everything[w["resource"]]["properties"]
        assert column_type(schema["properties"][w["field"]]) == "date-time"
        assert column_type(other[w["start"]]) == column_type(other[w["end"]]) == "date-time"
    for rule in schema.get("x-rowRules", []):
        assert {rule["left"], rule["right"]} <= cols and rule["op"] in {"<", "<=", ">", ">="}
    if "x-batchDate" in schema:
        assert schema["x-batchDate"]["field"] in cols


def test_every_required_loinc_has_limits():
    """labs declares a per-LOINC rule for each required test, each with its source."""
    rules = contracts.load_contract("labs")["allOf"]
    codes = {r["if"]["properties"]["loinc_code"]["const"] for r in rules}
    assert codes >= REQUIRED_LOINCS
    assert all("source" in r["description"] or "[L10]" in r["description"] for r in rules)


def test_unknown_contract_is_an_error():
    """Asking for a contract that does not exist raises ContractError, not KeyError."""
    with pytest.raises(ContractError):
        contracts.load_contract("medications")


def test_loaded_contract_is_a_copy():
    """Mutating a loaded schema does not change the next load (the cache stays clean)."""
    contracts.load_contract("vitals")["properties"].clear()
    assert "heart_rate" in contracts.load_contract("vitals")["properties"]


def test_violation_text():
    """A violation prints as 'file:line field: rule detail (value)'."""
    v = Violation("vitals.csv", 12, "event_time", "format", "2026-13-01T00:00:00Z", "date-time")
    assert str(v) == "vitals.csv:12 event_time: format date-time ('2026-13-01T00:00:00Z')"
    assert str(Violation("labs.csv", None, None, "missing_file")) == "labs.csv: missing_file"


def _second_opinion(name: str) -> Draft202012Validator:
    schema = contracts.load_contract(name)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_python_jsonschema_format_checker_is_active():
    """python-jsonschema's format extras are installed: it rejects a bad date-time and date."""
    checker = Draft202012Validator.FORMAT_CHECKER
    assert not checker.conforms("2026-13-01T00:00:00-05:00", "date-time")
    assert not checker.conforms("2026-02-30", "date")
    assert checker.conforms("2026-03-08T03:00:00-04:00", "date-time")


def _rows(path: Path, schema: dict) -> list[dict]:
    """CSV rows typed as the schema says (empty -> None), the same reading validate_day does."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cast = {"integer": int, "number": float}
    return [{k: None if v == "" else cast.get(column_type(schema["properties"][k]), str)(v)
             for k, v in row.items()} for row in rows]


def _write_rows(path: Path, schema: dict, rows: list[dict]) -> None:
    def text(col, v):
        if v is None:
            return ""
        if column_type(schema["properties"][col]) == "number" and isinstance(v, float):
            return f"{v:.{schema['properties'][col]['x-decimals']}f}"
        return str(v)

    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(columns(schema))
        out.writerows([[text(c, row[c]) for c in columns(schema)] for row in rows])


VARIANTS = [  # (file, row, field, value): valid and invalid, near the edges of the contract
    ("vitals", 0, "heart_rate", 299), ("vitals", 0, "heart_rate", 300),
    ("vitals", 0, "heart_rate", 0), ("vitals", 0, "spo2", 100), ("vitals", 0, "spo2", 101),
    ("vitals", 0, "temp_c", 45.0), ("vitals", 0, "temp_c", 45.1), ("vitals", 0, "fio2", 0.2),
    ("vitals", 0, "fio2", 1.0), ("vitals", 0, "consciousness", "X"),
    ("vitals", 0, "consciousness", None), ("vitals", 0, "vital_id", "VIT-2026-1"),
    ("vitals", 0, "event_time", "2026-03-08T25:00:00-05:00"),
    ("vitals", 0, "event_time", "2026-03-08T01:40:00Z"),
    ("vitals", 0, "event_time", "2026-02-30T01:40:00-05:00"),
    ("labs", 0, "value", 30.0), ("labs", 0, "value", 30.01), ("labs", 1, "value", 49.0),
    ("labs", 1, "value", 225.0), ("labs", 2, "value", 1.0), ("labs", 2, "value_text", None),
    ("labs", 3, "value", None), ("labs", 0, "flag", "X"), ("labs", 0, "loinc_code", "2524"),
    ("labs", 0, "unit", None),
    ("encounters", 0, "acuity", 6), ("encounters", 0, "primary_dx_code", "U07.1"),
    ("encounters", 0, "primary_dx_code", "J18.9"), ("encounters", 0, "encounter_type", "ward"),
    ("encounters", 0, "discharge_disposition", "expired"),
    ("patients", 0, "date_of_birth", "2024-02-29"), ("patients", 0, "date_of_birth", "2026-02-29"),
    ("patients", 0, "phone", "617-555-0100"), ("patients", 0, "zip", "2110"),
    ("patients", 0, "sex", "X"), ("patients", 0, "state", "Ma"),
]


@pytest.mark.parametrize(("name", "row", "col", "value"), VARIANTS)
def test_second_opinion_agrees(tmp_path, name, row, col, value):
    """python-jsonschema and validate_day agree on whether a changed row meets its contract."""
    day = write_day(tmp_path / "day")
    schema = contracts.load_contract(name)
    path = day / file_name(schema)
    rows = _rows(path, schema)
    assert _second_opinion(name).is_valid(rows[row])  # the fixture row itself is valid
    rows[row][col] = value
    _write_rows(path, schema, rows)
    theirs = _second_opinion(name).is_valid(rows[row])
    report = validate_day(day, BATCH)
    ours = not [v for v in report.violations
                if v.file == path.name and v.line == row + 2 and v.rule not in CROSS_ROW]
    assert ours == theirs, report.summary()
    assert {v.rule for v in report.violations} <= CROSS_ROW | {
        "type", "required", "enum", "pattern", "format", "minimum", "maximum", "any_of"}


def test_second_opinion_on_every_fixture_row(tmp_path):
    """Every row of the valid fixture day is valid for python-jsonschema too (notes included)."""
    import json

    day = write_day(tmp_path / "day")
    for name in FILES:
        schema = contracts.load_contract(name)
        path = day / file_name(schema)
        if path.suffix == ".csv":
            rows = _rows(path, schema)
        else:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        checker = _second_opinion(name)
        assert rows and all(checker.is_valid(r) for r in rows), name


def test_jsonschema_rs_needs_validate_formats():
    """jsonschema_rs skips 'format' unless asked, which is why the validator turns it on."""
    import jsonschema_rs

    items = {"type": "array", "items": {"type": "string", "format": "date-time"}}
    bad = ["2026-13-01T00:00:00-05:00"]
    assert jsonschema_rs.validator_for(items).is_valid(bad)
    assert not jsonschema_rs.validator_for(items, validate_formats=True).is_valid(bad)


@pytest.mark.parametrize("name", list(ID_FORMATS))
def test_row_ids_outgrow_their_width_within_the_contract(name):
    """IDs are zero-padded to at least their width; a day with more rows than that width holds
    numbers them on with one more digit, and the contract accepts both (a 100,000-encounter day)."""
    column, prefix, width = ID_FORMATS[name]
    last = 10 ** width - 1
    ids = table_ids(name, dt.date(2026, 1, 15), last, 2).tolist()
    assert ids == [f"{prefix}-20260115-{last}", f"{prefix}-20260115-{last + 1}"]
    pattern = contracts.load_contract(name)["properties"][column]["pattern"]
    assert all(re.fullmatch(pattern, i) for i in ids)
    assert not re.fullmatch(pattern, f"{prefix}-20260115-{'1'.zfill(width - 1)}")  # one digit short
