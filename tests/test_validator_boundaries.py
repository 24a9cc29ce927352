"""Validator rules at their boundaries, on each side: the last accepted value and the first rejected one.

Built on the small valid day of tests/test_validate.py: one value is moved exactly onto a limit
(the day must still validate clean) or one step past it (exactly the expected rule must fire, at
the expected line and field). Limits come from the contracts themselves, so a rule that is
loosened or tightened by one step in the validator or a schema fails here.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import numpy as np
import pytest

from data_generator import contracts
from data_generator.timeutil import local_midnight
from data_generator.validation import validate_day
from tests.test_validate import BATCH, TZ, day_tables, edit, found, write_day

H = 3600
_ids = itertools.count()


def _validate(tmp_path, change=None, text_edit=None):
    tables = day_tables()
    if change is not None:
        change(tables)
    folder = write_day(tmp_path / f"day{next(_ids)}", tables)
    if text_edit is not None:
        text_edit(folder)
    return validate_day(folder, BATCH)


def _rules(report) -> set[tuple[str, str, int, str]]:
    return {(v.file, v.rule, v.line, v.field) for v in report.violations}


# Rows of the fixture day belonging to encounter 0 (its admit and discharge are moved below).
WINDOWED = {"vitals": ("vitals.csv", "event_time"), "labs": ("labs.csv", "event_time"),
            "notes": ("notes.jsonl", "note_time")}


def _place_event(table: str, edge: str, offset: int):
    def change(t):
        enc = t["encounters"]
        at = (enc["admit_time"] if edge == "admit" else enc["discharge_time"])[0] + offset
        col = WINDOWED[table][1]
        t[table][col] = t[table][col].copy()
        t[table][col][0] = at
        if table == "labs":  # keep its result after collection
            t["labs"]["result_time"] = t["labs"]["result_time"].copy()
            t["labs"]["result_time"][0] = at + 600
    return change


@pytest.mark.parametrize("table", sorted(WINDOWED))
@pytest.mark.parametrize("edge", ["admit", "discharge"])
def test_event_exactly_at_the_window_edge_is_accepted(tmp_path, table, edge):
    """An event at exactly admit_time or discharge_time lies inside its encounter's window."""
    report = _validate(tmp_path, _place_event(table, edge, 0))
    assert report.ok, report.summary()


@pytest.mark.parametrize("table", sorted(WINDOWED))
@pytest.mark.parametrize("edge,offset", [("admit", -1), ("discharge", 1)])
def test_event_one_second_outside_the_window_is_rejected(tmp_path, table, edge, offset):
    """An event one second before admission or after discharge is one time_window violation."""
    report = _validate(tmp_path, _place_event(table, edge, offset))
    file, col = WINDOWED[table]
    first_row_line = 1 if file.endswith(".jsonl") else 2  # CSV line 1 is the header
    assert _rules(report) == {(file, "time_window", first_row_line, col)}


def test_result_after_discharge_is_accepted(tmp_path):
    """Only collection must lie in the window: a culture may be resulted a day after discharge."""
    def change(t):
        t["labs"]["result_time"] = t["labs"]["result_time"].copy()
        t["labs"]["result_time"][2] = t["encounters"]["discharge_time"][0] + 24 * H
    assert _validate(tmp_path, change).ok


def _set(table: str, col: str, row: int, value):
    def change(t):
        t[table][col] = np.array(t[table][col], copy=True)
        t[table][col][row] = value
    return change


def _both(*changes):
    def change(t):
        for c in changes:
            c(t)
    return change


def test_discharge_must_be_after_admission(tmp_path):
    """admit_time < discharge_time: equal times break the row rule, one second later does not."""
    admit = day_tables()["encounters"]["admit_time"][1]
    same = _validate(tmp_path, _set("encounters", "discharge_time", 1, admit))
    assert ("encounters.csv", "row_rule", 3, "admit_time") in _rules(same)
    later = _validate(tmp_path, _set("encounters", "discharge_time", 1, admit + 1))
    assert not found(later, "row_rule", "encounters.csv")


def test_result_must_be_after_collection(tmp_path):
    """result_time > event_time: a result at the collection second is rejected, one second later accepted."""
    collected = day_tables()["labs"]["event_time"][0]
    assert _rules(_validate(tmp_path, _set("labs", "result_time", 0, collected))) == \
        {("labs.csv", "row_rule", 2, "result_time")}
    assert _validate(tmp_path, _set("labs", "result_time", 0, collected + 1)).ok


def test_registration_not_before_birth(tmp_path):
    """date_of_birth <= registered_date: registered on the birth date is fine, the day before is not."""
    born = day_tables()["patients"]["date_of_birth"][0]
    assert _validate(tmp_path, _set("patients", "registered_date", 0, born)).ok
    assert _rules(_validate(tmp_path, _set("patients", "registered_date", 0, born - 1))) == \
        {("patients.csv", "row_rule", 2, "date_of_birth")}


# Row 3 of the fixture vitals (line 5): SBP 134, DBP 80, MAP 98.
@pytest.mark.parametrize("sbp,dbp,map_,broken", [
    (134, 133, 133, None),            # dbp one below sbp, map on both edges
    (134, 134, 134, "dbp < sbp"),
    (134, 80, 80, None),              # map == dbp
    (134, 80, 79, "dbp <= map"),
    (134, 80, 134, None),             # map == sbp
    (134, 80, 135, "map <= sbp"),
])
def test_blood_pressure_row_rules(tmp_path, sbp, dbp, map_, broken):
    """dbp < sbp, dbp <= map <= sbp: each accepted on its edge and rejected one mmHg past it."""
    report = _validate(tmp_path, _both(_set("vitals", "sbp", 3, sbp), _set("vitals", "dbp", 3, dbp),
                                       _set("vitals", "map", 3, map_)))
    details = {v.detail for v in found(report, "row_rule", "vitals.csv", 5)}
    if broken is None:
        assert report.ok, report.summary()
    else:
        assert details == {broken}
        assert {v.rule for v in report.violations} == {"row_rule"}


def _move_encounter_0(new_admit: int):
    """Shift encounter 0 and every event of it so that it is admitted at `new_admit`."""
    def change(t):
        shift = new_admit - t["encounters"]["admit_time"][0]
        for table, cols in (("encounters", ("admit_time", "discharge_time")), ("vitals", ("event_time",)),
                            ("labs", ("event_time", "result_time")), ("notes", ("note_time",))):
            mine = t[table]["encounter_id"] == t["encounters"]["encounter_id"][0]
            for col in cols:
                t[table][col] = np.where(mine, t[table][col] + shift, t[table][col])
    return change


@pytest.mark.parametrize("admit,ok", [
    (local_midnight(BATCH, TZ), True),
    (local_midnight(BATCH, TZ) - 1, False),
    (local_midnight(BATCH + dt.timedelta(days=1), TZ) - 1, True),   # 23:59:59 of a 23-hour DST day
    (local_midnight(BATCH + dt.timedelta(days=1), TZ), False),
])
def test_batch_date_edges_in_local_time(tmp_path, admit, ok):
    """Admissions from local 00:00:00 to 23:59:59 of the batch date pass; a second outside fails."""
    report = _validate(tmp_path, _move_encounter_0(int(admit)))
    if ok:
        assert report.ok, report.summary()
    else:
        assert _rules(report) == {("encounters.csv", "batch_date", 2, "admit_time")}


def _limits(schema_props: dict) -> list[tuple[str, float | None, float | None, int]]:
    out = []
    for col, prop in schema_props.items():
        types = prop.get("type")
        types = types if isinstance(types, list) else [types]
        if "minimum" in prop or "maximum" in prop:
            step_digits = 0 if "integer" in types else prop.get("x-decimals", 2)
            out.append((col, prop.get("minimum"), prop.get("maximum"), step_digits))
    return out


NUMERIC = [("vitals", 3, *lim) for lim in _limits(contracts.load_contract("vitals")["properties"])] + \
          [("encounters", 1, *lim) for lim in _limits(contracts.load_contract("encounters")["properties"])]


@pytest.mark.parametrize("table,row,col,low,high,digits", NUMERIC, ids=[f"{n[0]}.{n[2]}" for n in NUMERIC])
def test_column_limits_on_both_sides(tmp_path, table, row, col, low, high, digits):
    """Each numeric column's contract minimum and maximum are accepted; one step beyond is rejected."""
    file = contracts.file_name(contracts.load_contract(table))
    step = 10.0 ** -digits
    for bound, rule, beyond in ((low, "minimum", -step), (high, "maximum", step)):
        if bound is None:
            continue
        on_edge = _validate(tmp_path, _set(table, col, row, bound))
        assert not found(on_edge, rule, file, None, col), (col, bound)
        past = _validate(tmp_path, _set(table, col, row, round(bound + beyond, digits)))
        assert found(past, rule, file, row + 2, col), (col, bound + beyond)


def _loinc_limits() -> dict[str, tuple[float | None, float | None]]:
    out = {}
    for cond in contracts.load_contract("labs").get("allOf", []):
        loinc = cond.get("if", {}).get("properties", {}).get("loinc_code", {}).get("const")
        value = cond.get("then", {}).get("properties", {}).get("value", {})
        if loinc and ("minimum" in value or "maximum" in value):
            out[loinc] = (value.get("minimum"), value.get("maximum"))
    return out


@pytest.mark.parametrize("row", [0, 1, 3])  # lactate, sodium, BNP in the fixture
def test_lab_value_limits_per_loinc_on_both_sides(tmp_path, row):
    """A lab value exactly at its LOINC's possible minimum/maximum passes; 0.01 beyond fails."""
    loinc = day_tables()["labs"]["loinc_code"][row]
    low, high = _loinc_limits()[loinc]
    for bound, rule, beyond in ((low, "minimum", -0.01), (high, "maximum", 0.01)):
        if bound is None:
            continue
        on_edge = _validate(tmp_path, _set("labs", "value", row, float(bound)))
        assert not found(on_edge, rule, "labs.csv", None, "value"), (loinc, bound)
        past = _validate(tmp_path, _set("labs", "value", row, round(bound + beyond, 2)))
        assert found(past, rule, "labs.csv", row + 2, "value"), (loinc, bound + beyond)


@pytest.mark.parametrize("file,old,new,field", [
    ("vitals.csv", ",0.28,", ",0.285,", "fio2"),
    ("labs.csv", ",134.00,", ",134.005,", "value"),
])
def test_decimal_places_one_more_is_rejected(tmp_path, file, old, new, field):
    """FiO2 and lab values carry two decimals: two pass, a third is a 'decimals' violation."""
    assert _validate(tmp_path).ok
    report = _validate(tmp_path, text_edit=lambda folder: edit(folder, file, old, new))
    assert _rules(report) == {(file, "decimals", 2 if file == "vitals.csv" else 3, field)}


def test_fixture_rows_used_above_are_what_the_tests_assume():
    """Guard for the tests above: the fixture rows they edit hold the values they assume."""
    t = day_tables()
    assert (t["vitals"]["sbp"][3], t["vitals"]["dbp"][3], t["vitals"]["map"][3]) == (134, 80, 98)
    assert list(t["labs"]["loinc_code"][[0, 1, 3]]) == ["2524-7", "2951-2", "30934-4"]
    assert t["vitals"]["encounter_id"][0] == t["labs"]["encounter_id"][0] == t["notes"]["encounter_id"][0] \
        == t["encounters"]["encounter_id"][0]
    assert json.dumps(sorted(WINDOWED)) == json.dumps(["labs", "notes", "vitals"])
