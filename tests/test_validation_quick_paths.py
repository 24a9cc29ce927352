"""The validator's vectorised integer pass and its reading of compact JSONL blocks give the
verdicts of the slower paths they stand in for: on integer cells of every shape, and on blocks
that differ from a clean one by one escape."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from data_generator.validation import batches, columns, readers, validate_day
from tests.test_validate import BATCH, _many_rows, day_tables, found, write_day

RATES = {  # vitals line -> heart_rate cell of digits (limits 1..299)
    2: "0", 3: "300", 4: "0072", 5: "299", 6: "1", 7: "1234567890123456", 10: "",
}
OTHER = {8: "-5", 9: "72.0", 14: "+70"}  # cells typed value by value
SBP = {11: "60", 12: "400", 13: "0120"}  # lines whose sbp breaks a row rule or its limit


@pytest.fixture(scope="module")
def integers(tmp_path_factory):
    """Two days whose vitals hold integer cells of many shapes: one only of digits (read by the
    vectorised pass), one with a sign too (read value by value)."""
    days = {}
    for name, extra in (("digits", {}), ("signed", OTHER)):
        tables = day_tables()
        vitals = _many_rows(tables["vitals"], "vital_id", "VIT-20260308-", 5, 7)
        day = write_day(tmp_path_factory.mktemp(name) / "day", {**tables, "vitals": vitals})
        lines = (day / "vitals.csv").read_text(encoding="utf-8").split("\n")
        header = lines[0].split(",")
        for cells, column in ((RATES | extra, "heart_rate"), (SBP, "sbp")):
            for number, value in cells.items():
                row = lines[number - 1].split(",")
                row[header.index(column)] = value
                lines[number - 1] = ",".join(row)
        (day / "vitals.csv").write_text("\n".join(lines), encoding="utf-8")
        days[name] = day
    return days


@pytest.mark.parametrize("name", ["digits", "signed"])
def test_integer_pass_gives_the_value_by_value_verdicts(integers, monkeypatch, name):
    """Turning the vectorised pass off changes no violation (rule, line, column, value, detail)."""
    fast = validate_day(integers[name], BATCH)
    monkeypatch.setattr(columns, "_quick_pass", lambda column: None)
    slow = validate_day(integers[name], BATCH)
    assert sorted(map(str, slow.violations)) == sorted(map(str, fast.violations))
    assert fast.counts == slow.counts


def test_integer_cells_are_reported_where_they_are(integers):
    """Out-of-limit, over-long and unparseable heart rates and the row rules of changed sbp are
    reported on their lines (so the comparison above compares something)."""
    rates = pacsv.read_csv(integers["digits"] / "vitals.csv", convert_options=pacsv.ConvertOptions(
        column_types={"heart_rate": pa.string()})).column("heart_rate").combine_chunks()
    assert batches.plain_integers(rates) is not None  # the digits day is read by the vectorised pass
    for name in ("digits", "signed"):
        report = validate_day(integers[name], BATCH)
        assert [v.value for v in found(report, "minimum", "vitals.csv", 2, "heart_rate")] == [0]
        assert [v.value for v in found(report, "maximum", "vitals.csv", 3, "heart_rate")] == [300]
        assert not [v for v in report.violations if v.line in (4, 5, 6, 10) and v.field == "heart_rate"]
        assert found(report, "maximum", "vitals.csv", 7, "heart_rate")
        assert found(report, "row_rule", "vitals.csv", 11) and found(report, "maximum", "vitals.csv", 12, "sbp")
        assert not [v for v in report.violations if v.line == 13]
    signed = validate_day(integers["signed"], BATCH)
    assert found(signed, "type", "vitals.csv", 9, "heart_rate") and found(signed, "minimum", "vitals.csv", 8)
    assert not found(signed, "maximum", "vitals.csv", 14)


def test_plain_integers_are_their_typed_values():
    """A cell the byte-level read takes is plain digits and has the value typed_values gives it;
    a column with any other character is left to be typed value by value."""
    rng = random.Random(5)
    cells = [None if rng.random() < 0.1 else "".join(rng.choice("0123456789") for _ in range(
        rng.choice([0, 1, 2, 3, 15, 16, 18]))) for _ in range(3000)]
    text = pa.array(cells, pa.string())
    values, ok = batches.plain_integers(text)
    typed = batches.typed_values(text, {"type": ["integer", "null"]})
    assert all(v == t and isinstance(t, int) for v, t, good in zip(values, typed, ok, strict=True) if good)
    assert [bool(g) for g in ok] == [c is not None and 1 <= len(c) <= 15 for c in cells]
    sliced = batches.plain_integers(text.slice(7, 50))
    assert (sliced[0] == values[7:57]).all() and (sliced[1] == ok[7:57]).all()
    for other in (["5", "+5"], ["-1"], ["7", "1.0"], [" 5"]):
        assert batches.plain_integers(pa.array(other)) is None


@pytest.mark.parametrize("escape, reported", [("\\ud800", True), ("\\udc00", True),
                                              ("\\ud83d\\ude00", False), ("\\u00e9", False)])
def test_a_compact_block_with_one_escape_reads_as_line_by_line(tmp_path, monkeypatch, escape, reported):
    """A clean block but for one escape in a note's text gives the line-by-line reading's
    verdict: a lone surrogate is reported on its line, a pair or another escape is text."""
    day = write_day(tmp_path / "day")
    lines = (day / "notes.jsonl").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace('"text":"', f'"text":"{escape}', 1)
    (day / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast = validate_day(day, BATCH)
    assert bool(found(fast, "json", "notes.jsonl", 2)) == reported
    monkeypatch.setattr(readers, "_string_objects", lambda block, cols: None)
    monkeypatch.setattr(readers, "_plain_objects", lambda *args: None)
    slow = validate_day(day, BATCH)
    assert sorted(map(str, slow.violations)) == sorted(map(str, fast.violations))
