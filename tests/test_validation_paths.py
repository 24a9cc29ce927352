"""The validator's fast paths (clean CSV files read by pyarrow itself, JSONL blocks decoded at
once and read as text, date-times checked from their bytes, keys of other files checked once per
distinct key) give exactly the verdicts of the slower paths they stand in for, on damaged files."""

from __future__ import annotations

import random

import jsonschema_rs
import numpy as np
import pyarrow as pa
import pytest

from data_generator.timeutil import parse_rfc3339
from data_generator.validation import batches, columns, readers, validate_day
from tests.test_validate import BATCH, _many_rows, day_tables, found, write_day

NOTE = ('{"note_id":"NOTE-20260308-%06d","encounter_id":"ENC-20260308-00002","patient_id":"P0000002",'
        '"note_time":"2026-03-08T18:00:00-04:00","note_type":"progress","author":"Dr. Ré",'
        '"text":"Diuresing well, weight down 1 kg overnight."}')
NOTES = {  # line number -> a damaged note line (lines 1 and 2 are the fixture's own)
    3: NOTE % 3,
    4: (NOTE % 4).replace('"author":"Dr. Ré",', "").replace("}", ',"author":"Dr. Ré"}'),
    5: (NOTE % 5).replace("}", ',"note_type":"memo"}'),
    6: (NOTE % 6).replace('"progress"', "7"),
    7: (NOTE % 7).replace('"progress"', "NaN"),
    8: "  " + NOTE % 8 + "\t",
    9: (NOTE % 9).replace("Diuresing", "\\ud800 Diuresing"),
    10: (NOTE % 10).replace("Diuresing", "\\ud83d\\ude00 Diuresing"),
    11: "[1, 2]",
    12: NOTE % 12 + " {}",
    13: (NOTE % 13).replace('"Dr. Ré"', "null"),
}
TIMES = {  # vitals line -> event_time
    2: "2026-02-30T10:00:00-05:00", 3: "2026-03-08T24:00:00-05:00", 4: "2026-03-08T10:60:00-05:00",
    5: "2026-03-08T10:00:60-05:00", 6: "2026-03-08T18:59:60-05:00", 7: "2026-03-08T10:00:00+25:00",
    8: "2026-03-08T10:00:00-05:60", 9: "2026-03-08T15:00:00Z", 10: "2026-03-08T10:00:00.5-05:00",
    11: "2026-13-08T10:00:00-05:00", 12: "2026-03-8T10:00:00-05:00", 13: "2026-03-08t10:00:00-05:00",
    14: "2024-02-29T10:00:00-05:00",
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A day whose notes and vitals hold many kinds of damage, each on its own line."""
    tables = day_tables()
    vitals = _many_rows(tables["vitals"], "vital_id", "VIT-20260308-", 5, 7)
    day = write_day(tmp_path_factory.mktemp("paths") / "day", {**tables, "vitals": vitals})
    lines = (day / "vitals.csv").read_text(encoding="utf-8").split("\n")
    for number, when in TIMES.items():
        cells = lines[number - 1].split(",")
        cells[3] = when
        lines[number - 1] = ",".join(cells)
    for number, rate in ((15, "+5"), (16, "+900"), (17, "+")):
        cells = lines[number - 1].split(",")
        cells[4] = rate
        lines[number - 1] = ",".join(cells)
    (day / "vitals.csv").write_text("\n".join(lines), encoding="utf-8")
    notes = (day / "notes.jsonl").read_text(encoding="utf-8").splitlines()[:2] + list(NOTES.values())
    (day / "notes.jsonl").write_text("\n".join(notes) + "\n", encoding="utf-8")
    return day


SLOW = {
    "CSV read through the checked block stream": (readers, "_survey", lambda path: (True, False)),
    "line by line JSONL": (readers, "_plain_objects", lambda *args: None),
    "JSONL values kept as JSON": (readers, "_as_text", lambda *args: None),
    "no vectorised column pass": (columns, "_quick_pass", lambda column: None),
    "keys not deduplicated": (batches.Column, "deduplicate", lambda self: None),
}


@pytest.mark.parametrize("slow", SLOW)
def test_fast_paths_give_the_slow_paths_verdicts(damaged, monkeypatch, slow):
    """Turning a fast path off changes no violation (rule, line, column, value, detail) or count."""
    fast = validate_day(damaged, BATCH)
    monkeypatch.setattr(*SLOW[slow])
    assert sorted(map(str, validate_day(damaged, BATCH).violations)) == sorted(map(str, fast.violations))


def test_damage_is_reported_where_it_is(damaged):
    """Each damaged note and time is reported on its own line (so the comparison above has
    something to compare); a lone surrogate escape and '+5' are reported, never raised."""
    report = validate_day(damaged, BATCH)
    json_lines = [v.line for v in found(report, "json", "notes.jsonl")]
    assert json_lines == [7, 9, 11, 12]
    assert found(report, "column_order", "notes.jsonl", 4)
    assert [v.value for v in found(report, "enum", "notes.jsonl", 5)] == ["memo"]
    assert found(report, "type", "notes.jsonl", 6) and found(report, "required", "notes.jsonl", 13, "author")
    assert not [v for v in report.violations if v.file == "notes.jsonl" and v.line in (3, 8, 10)]
    bad_times = {v.line for v in report.violations if v.file == "vitals.csv" and v.field == "event_time"
                 and v.rule in ("format", "pattern")}
    assert bad_times == {2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13}  # 6 is a leap second, 14 a leap day
    assert not found(report, "maximum", "vitals.csv", 15)
    assert [v.value for v in found(report, "maximum", "vitals.csv", 16, "heart_rate")] == [900]
    assert found(report, "type", "vitals.csv", 17, "heart_rate")


def test_plain_times_agree_with_the_contract_and_the_parser():
    """A time the byte-level check accepts is a valid RFC 3339 date-time with the epoch
    parse_rfc3339 gives it; it accepts the contracts' form whenever every field is in range."""
    rng = random.Random(11)
    draws = [f"{rng.choice(['2026', '2024', '2000', '1900', '0000', '9999', f'{rng.randrange(10000):04d}'])}"
             f"-{rng.randrange(14):02d}-{rng.choice([29, 30, 31, rng.randrange(33)]):02d}"
             f"T{rng.randrange(25):02d}:{rng.randrange(61):02d}:{rng.randrange(61):02d}"
             f"{rng.choice('+-+-Z')}{rng.randrange(25):02d}:{rng.randrange(61):02d}" for _ in range(20000)]
    draws += [None, "", "2026-03-08T10:00:00-05:00x", "2026-03-08T10:00:00.5-05:00"]
    text = pa.array(draws, pa.string())
    epochs, ok = batches.plain_times(text)
    parsed, parsed_ok = parse_rfc3339(text)
    valid = jsonschema_rs.validator_for({"format": "date-time"}, validate_formats=True)
    assert all(valid.is_valid(t) for t, good in zip(draws, ok, strict=True) if good)
    assert parsed_ok[ok].all() and (epochs[ok] == parsed[ok]).all()
    plain = np.array([t is not None and len(t) == 25 and t[19] in "+-" and valid.is_valid(t)
                      and t[17:19] != "60" for t in draws])
    assert (ok == plain).all() and ok.sum() > 2000
    sliced, sliced_ok = batches.plain_times(text.slice(5, 100))
    assert (sliced == epochs[5:105]).all() and (sliced_ok == ok[5:105]).all()


def test_a_text_columns_words_are_its_cells_whichever_is_read_first():
    """`words` of a CSV column is the text of its distinct cells, read before or after `distinct`
    (a check of decimals reads the words)."""
    from data_generator.validation.batches import Column

    cells = pa.array(["1.50", "2.5", "x", None, "2.5"])
    first = Column(cells, {"type": "number"}).words.to_pylist()
    after = Column(cells, {"type": "number"})
    after.distinct  # noqa: B018 (typed first)
    assert first == after.words.to_pylist() == ["1.50", "2.5", "x", None]
