"""`datagen validate` as a tool on folders someone else wrote or corrupted: each class of
problem is reported with file, line and field, counted in the summary, and exits 1."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data_generator.config import load_config
from data_generator.pipeline import generate_day
from data_generator.publish import MANIFEST, manifest_for
from tests.conftest import CONFIG, ROOT

DATE = dt.date(2026, 1, 15)
SUMMARY = re.compile(r"^\s*(\d+) violations \((.*)\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One valid sample day (6 encounters), generated once for the module."""
    out = tmp_path_factory.mktemp("pristine")
    return generate_day(load_config(CONFIG), DATE, "sample", out, encounters=6).folder


@pytest.fixture
def day(pristine, tmp_path) -> Path:
    """A private copy of the valid day at tmp_path/sample/<date>, free to corrupt."""
    folder = tmp_path / "sample" / DATE.isoformat()
    shutil.copytree(pristine, folder)
    return folder


# ---------------------------------------------------------------- editing a day like a person would

def read_csv(folder: Path, name: str) -> list[list[str]]:
    with open(folder / name, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_csv(folder: Path, name: str, records: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(records)
    (folder / name).write_text(buf.getvalue(), encoding="utf-8")


def set_cell(folder: Path, name: str, line: int, field: str, value: str) -> str:
    """Set `field` on CSV line `line` (line 1 is the header); returns the old value."""
    records = read_csv(folder, name)
    col = records[0].index(field)
    old, records[line - 1][col] = records[line - 1][col], value
    write_csv(folder, name, records)
    return old


def cell(folder: Path, name: str, line: int, field: str) -> str:
    records = read_csv(folder, name)
    return records[line - 1][records[0].index(field)]


def edit_note(folder: Path, line: int, **changes) -> None:
    lines = (folder / "notes.jsonl").read_text(encoding="utf-8").splitlines()
    lines[line - 1] = json.dumps({**json.loads(lines[line - 1]), **changes}, ensure_ascii=False,
                                 separators=(",", ":"))
    (folder / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def resync_manifest(folder: Path) -> None:
    """Rewrite the manifest's per-file sizes and checksums, as someone who edited the files
    and 'fixed' the manifest would: only the contract problems remain."""
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["files"] = manifest_for(folder)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def same_length_change(folder: Path, name: str, line: int, field: str) -> None:
    """Change one letter of a text cell: still valid, same size and row count, new sha256."""
    old = cell(folder, name, line, field)
    set_cell(folder, name, line, field, old[:-1] + ("x" if old[-1] != "x" else "y"))


# ---------------------------------------------------------------- running the tool

def validate(folder: Path) -> subprocess.CompletedProcess:
    """`python -m data_generator validate` on the day folder, as a real process."""
    root = folder.parent.parent
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "data_generator", "validate", "--date", DATE.isoformat(),
                           "--mode", "sample", "--out-root", str(root)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def counts(stdout: str) -> dict[str, int]:
    """The summary line `N violations (rule n, rule n)` as {rule: n}; checks N is their sum."""
    found = SUMMARY.findall(stdout)
    assert len(found) == 1, stdout
    total, rules = found[0]
    parsed = {rule: int(n) for rule, n in (part.rsplit(" ", 1) for part in rules.split(", "))}
    assert sum(parsed.values()) == int(total), stdout
    return parsed


def reported(stdout: str, where: str, rule: str) -> bool:
    """A listed violation at `where` ('file:line field' or 'file') with rule code `rule`."""
    return any(line.strip().startswith(f"{where}: {rule}") for line in stdout.splitlines())


def assert_found(folder: Path, where: str, rule: str, n: int = 1) -> str:
    """The tool exits 1, lists `rule` at `where`, and the summary counts exactly {rule: n}."""
    r = validate(folder)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith(f"{folder}:"), r.stdout
    assert reported(r.stdout, where, rule), r.stdout
    assert counts(r.stdout) == {rule: n}, r.stdout
    assert "Traceback" not in r.stderr
    return r.stdout


# ---------------------------------------------------------------- one class of problem per folder

def test_clean_folder_exits_0(day):
    """An untouched day: exit 0, row counts per file, the ok line, no violations."""
    r = validate(day)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok: every row meets its contract" in r.stdout
    assert "vitals.csv:" in r.stdout and not SUMMARY.search(r.stdout)


def test_missing_file(day):
    """A deleted file is 'missing_file' naming it (a whole-file problem: no line or field)."""
    (day / "labs.csv").unlink()
    resync_manifest(day)
    assert_found(day, "labs.csv", "missing_file")


def test_missing_column(day):
    """A dropped column is 'missing_column' at the header line, naming the column."""
    records = read_csv(day, "vitals.csv")
    col = records[0].index("spo2")
    write_csv(day, "vitals.csv", [r[:col] + r[col + 1:] for r in records])
    resync_manifest(day)
    assert_found(day, "vitals.csv:1 spo2", "missing_column")


def test_extra_column(day):
    """An added column is 'extra_column' at the header line, naming the column."""
    records = read_csv(day, "encounters.csv")
    write_csv(day, "encounters.csv", [[*records[0], "ward_note"]] + [[*r, "x"] for r in records[1:]])
    resync_manifest(day)
    assert_found(day, "encounters.csv:1 ward_note", "extra_column")


def test_bad_type(day):
    """Text in an integer column is 'type' at its line and field."""
    set_cell(day, "vitals.csv", 3, "heart_rate", "abc")
    resync_manifest(day)
    out = assert_found(day, "vitals.csv:3 heart_rate", "type")
    assert "'abc'" in out


def test_out_of_range_value(day):
    """A heart rate of 400 is 'maximum' at its line and field."""
    set_cell(day, "vitals.csv", 5, "heart_rate", "400")
    resync_manifest(day)
    assert_found(day, "vitals.csv:5 heart_rate", "maximum")


def test_duplicate_id(day):
    """A lab_id used twice is 'unique' at the second occurrence."""
    first = cell(day, "labs.csv", 2, "lab_id")
    set_cell(day, "labs.csv", 7, "lab_id", first)
    resync_manifest(day)
    out = assert_found(day, "labs.csv:7 lab_id", "unique")
    assert first in out


def test_orphan_encounter_id(day):
    """A lab naming an encounter that does not exist is 'foreign_key' on encounter_id."""
    set_cell(day, "labs.csv", 4, "encounter_id", "ENC-20260115-00099")
    resync_manifest(day)
    out = assert_found(day, "labs.csv:4 encounter_id", "foreign_key")
    assert "encounters.csv" in out


def test_event_outside_its_window(day):
    """A vital charted before its encounter's admission is 'time_window' on event_time."""
    set_cell(day, "vitals.csv", 2, "event_time", "2026-01-14T23:00:00+00:00")
    resync_manifest(day)
    out = assert_found(day, "vitals.csv:2 event_time", "time_window")
    assert "2026-01-14T23:00:00+00:00" in out


def test_note_outside_its_window(day):
    """JSONL lines are numbered too: a note after discharge is 'time_window' at its line."""
    edit_note(day, 3, note_time="2027-01-01T00:00:00+00:00")
    resync_manifest(day)
    assert_found(day, "notes.jsonl:3 note_time", "time_window")


def test_manifest_checksum_mismatch(day):
    """A file edited without updating the manifest is 'manifest' on the file's sha256."""
    same_length_change(day, "patients.csv", 2, "first_name")
    assert_found(day, "patients.csv sha256", "manifest")


def test_edited_file_without_resync_reports_both(day):
    """Editing a value and not the manifest reports the value and the checksum."""
    set_cell(day, "vitals.csv", 3, "heart_rate", "400")  # same length as a 2-3 digit rate or longer
    r = validate(day)
    assert r.returncode == 1
    found = counts(r.stdout)
    assert found["maximum"] == 1 and found["manifest"] >= 1, r.stdout
    assert reported(r.stdout, "vitals.csv sha256", "manifest")


def test_non_utf8_ragged_row_prints_no_traceback(day):
    """Garbage bytes that make a ragged CSV row: reported (encoding, parse, manifest), stderr silent."""
    raw = (day / "labs.csv").read_bytes()
    (day / "labs.csv").write_bytes(raw[:500] + b"\x00\xff\xfe\n,," + raw[500:])
    r = validate(day)
    assert r.returncode == 1
    assert {"encoding", "parse", "manifest"} <= set(counts(r.stdout)), r.stdout
    assert r.stderr == "", r.stderr


# ---------------------------------------------------------------- several problems at once

def test_several_problems_each_counted(day):
    """Many problems in one folder: every one listed at its place, the summary counts each rule."""
    (day / "labs.csv").unlink()
    records = read_csv(day, "vitals.csv")
    col = records[0].index("pain_score")
    write_csv(day, "vitals.csv", [r[:col] + r[col + 1:] for r in records])
    set_cell(day, "vitals.csv", 3, "heart_rate", "abc")
    set_cell(day, "vitals.csv", 4, "heart_rate", "400")
    set_cell(day, "vitals.csv", 6, "resp_rate", "999")
    set_cell(day, "vitals.csv", 8, "vital_id", cell(day, "vitals.csv", 2, "vital_id"))
    set_cell(day, "vitals.csv", 9, "encounter_id", "ENC-20260115-00099")
    set_cell(day, "vitals.csv", 10, "event_time", "2026-01-14T23:00:00+00:00")
    records = read_csv(day, "patients.csv")
    write_csv(day, "patients.csv", [[*records[0], "nickname"]] + [[*r, ""] for r in records[1:]])
    edit_note(day, 2, note_time="2027-01-01T00:00:00+00:00")
    resync_manifest(day)
    same_length_change(day, "encounters.csv", 2, "primary_dx_desc")

    r = validate(day)
    assert r.returncode == 1, r.stdout + r.stderr
    assert counts(r.stdout) == {"missing_file": 1, "missing_column": 1, "extra_column": 1, "type": 1,
                                "maximum": 2, "unique": 1, "foreign_key": 1, "time_window": 2,
                                "manifest": 1}
    for where, rule in [("labs.csv", "missing_file"), ("vitals.csv:1 pain_score", "missing_column"),
                        ("patients.csv:1 nickname", "extra_column"), ("vitals.csv:3 heart_rate", "type"),
                        ("vitals.csv:4 heart_rate", "maximum"), ("vitals.csv:6 resp_rate", "maximum"),
                        ("vitals.csv:8 vital_id", "unique"), ("vitals.csv:9 encounter_id", "foreign_key"),
                        ("vitals.csv:10 event_time", "time_window"), ("notes.jsonl:2 note_time", "time_window"),
                        ("encounters.csv sha256", "manifest")]:
        assert reported(r.stdout, where, rule), f"{where}: {rule} not in\n{r.stdout}"


def test_show_limits_the_list_not_the_counts(day):
    """Past --show, the list ends with '+N more' while the summary still counts every row."""
    records = read_csv(day, "vitals.csv")
    col = records[0].index("heart_rate")
    for rec in records[1:31]:
        rec[col] = "400"
    write_csv(day, "vitals.csv", records)
    resync_manifest(day)
    r = validate(day)
    assert r.returncode == 1
    assert counts(r.stdout) == {"maximum": 30}
    assert r.stdout.rstrip().endswith("+10 more"), r.stdout
