"""The validator's paths for a day's parts (a CSV file of one block read once and parsed in the
calling thread, compact JSONL blocks read by pyarrow's JSON reader, IDs matched from their bytes,
repeated times checked once per distinct value) give exactly the verdicts of the paths they stand
in for, on damaged files, whether a block holds the whole file or a line or two."""

from __future__ import annotations

import pytest

from data_generator.validation import columns, readers, validate_day
from tests.test_validate import BATCH, _many_rows, day_tables, found, write_day
from tests.test_validation_paths import NOTE

NOTES = {  # line number -> a note line that is compact JSON, damaged or not
    3: NOTE % 3,
    4: (NOTE % 4).replace('"encounter_id":"ENC-20260308-00002","patient_id":"P0000002"',
                          '"patient_id":"P0000002","encounter_id":"ENC-20260308-00002"'),
    5: (NOTE % 5).replace('"author":"Dr. Ré",', ""),
    6: (NOTE % 6).replace("Diuresing", 'He said \\",\\"author\\":\\"x\\" and'),
    7: (NOTE % 7).replace('"Dr. Ré"', '"Dr. \\"Q\\" R\\u00e9"'),
    8: (NOTE % 8).replace('"Dr. Ré"', '""'),
    9: (NOTE % 9) + "\r",
    10: (NOTE % 10).replace("Diuresing well", "Diuresing\\nwell"),
    11: (NOTE % 11).replace('"progress"', '"memo"'),
    12: (NOTE % 12).replace('"author":"Dr. Ré"', '"author":"Dr. Ré","author":"Dr. X"'),
    13: (NOTE % 13).replace("NOTE-20260308-", "NOTE-2026030-"),
    14: (NOTE % 14).replace('"Dr. Ré"', "null"),
}

SLOW = {
    "JSONL decoded by orjson": (readers, "_string_objects", lambda block, cols: None),
    "CSV streamed from its path": (readers, "_whole", lambda path: None),
    "IDs matched by the regex engine": (columns, "fixed_match", lambda text, pattern: None),
    "times checked per row": (columns, "_repeats", lambda text: False),
    "times checked per distinct value": (columns, "_repeats", lambda text: True),
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A day whose notes hold compact lines with and without damage, and whose vitals repeat
    their times and hold a bad ID."""
    tables = day_tables()
    vitals = _many_rows(tables["vitals"], "vital_id", "VIT-20260308-", 5, 7)
    vitals["vital_id"][3] = "VIT-2026030-0000004"  # line 5
    day = write_day(tmp_path_factory.mktemp("read_once") / "day", {**tables, "vitals": vitals})
    notes = (day / "notes.jsonl").read_text(encoding="utf-8").splitlines()[:2] + list(NOTES.values())
    (day / "notes.jsonl").write_bytes(("\n".join(notes) + "\n").encode("utf-8"))
    return day


def _verdict(day) -> tuple[list[str], dict]:
    report = validate_day(day, BATCH)
    return sorted(map(str, report.violations)), dict(report.counts)


@pytest.mark.parametrize("block", [readers.BLOCK_SIZE, 400])
@pytest.mark.parametrize("slow", SLOW)
def test_part_paths_give_the_slow_paths_verdicts(damaged, monkeypatch, slow, block):
    """Turning a path off changes no violation (rule, line, column, value, detail) or count,
    with the whole file in one block and with about one line per block."""
    monkeypatch.setattr(readers, "BLOCK_SIZE", block)
    fast = _verdict(damaged)
    monkeypatch.setattr(*SLOW[slow])
    assert _verdict(damaged) == fast


def test_compact_notes_are_read_by_pyarrow_and_damage_is_found(damaged, monkeypatch):
    """With a line per block, the clean and the null-valued compact lines take pyarrow's JSON
    reader and the others do not; each damaged line is reported where it is."""
    monkeypatch.setattr(readers, "BLOCK_SIZE", 400)
    taken, real = [], readers._string_objects

    def spy(block, cols):
        text = real(block, cols)
        taken.append(text is not None)
        return text

    monkeypatch.setattr(readers, "_string_objects", spy)
    report = validate_day(damaged, BATCH)
    assert sum(taken) >= 6 and not all(taken)
    assert found(report, "column_order", "notes.jsonl", 4)
    assert found(report, "missing_column", "notes.jsonl", 5, "author")
    assert found(report, "min_length", "notes.jsonl", 8, "author")
    assert [v.value for v in found(report, "enum", "notes.jsonl", 11)] == ["memo"]
    assert found(report, "pattern", "notes.jsonl", 13, "note_id")
    assert found(report, "required", "notes.jsonl", 14, "author")
    assert [v.line for v in found(report, "pattern", "vitals.csv", None, "vital_id")] == [5]
    assert not [v for v in report.violations if v.file == "notes.jsonl" and v.line in (3, 6, 7, 9, 10, 12)]
