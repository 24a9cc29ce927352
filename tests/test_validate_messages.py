"""What `validate` says: manifest findings name what the manifest records and what the folder
holds (no doubled word), and a value outside an enum lists what is allowed instead of cutting
the list short."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_generator import contracts, writer
from data_generator.publish import MANIFEST, publish_day
from data_generator.timeutil import local_midnight
from data_generator.validation import validate_day
from data_generator.validation.columns import SHOW_ALLOWED
from tests.test_validate import BATCH, TZ, edit, found, obj, write_day


@pytest.fixture
def published(tmp_path):
    """The small valid day of test_validate, published with its manifest."""
    target = tmp_path / BATCH.isoformat()
    publish_day(write_day(tmp_path / "staging"), target, {"batch_date": BATCH.isoformat()})
    return target


def _recorded(folder, name: str) -> dict:
    return json.loads((folder / MANIFEST).read_text())["files"][name]


def test_changed_file_says_what_the_manifest_records_and_what_it_has(published):
    """A file that lost a row: rows, bytes and sha256 each say both numbers, once each."""
    before = _recorded(published, "vitals.csv")
    lines = (published / "vitals.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (published / "vitals.csv").write_text("".join(lines[:-1]), encoding="utf-8")
    report = validate_day(published)
    rows = found(report, "manifest", "vitals.csv", None, "rows")
    assert [v.detail for v in rows] == [f"records {before['rows']}, the file has {before['rows'] - 1}"]
    sha = found(report, "manifest", "vitals.csv", None, "sha256")[0]
    assert sha.detail.startswith(f"records {before['sha256'][:12]}...") and sha.value is None
    assert not any("manifest manifest" in line for line in report.summary())


def test_missing_and_unlisted_files_say_which(published):
    """A listed file that is gone and a file the manifest does not list read differently."""
    (published / "notes.jsonl").unlink()
    (published / "extra.csv").write_text("a\n", encoding="utf-8")
    report = validate_day(published)
    assert [v.detail for v in found(report, "manifest", "notes.jsonl")] == [
        "lists this file, which is not in the folder"]
    assert [v.detail for v in found(report, "manifest", "extra.csv")] == ["does not list this file"]


def test_manifest_batch_date_other_than_the_one_checked_is_reported(published):
    """Checking a day as another date than its manifest records is a 'manifest' finding on batch_date."""
    report = validate_day(published, BATCH.replace(day=9))
    assert found(report, "manifest", MANIFEST, None, "batch_date")
    assert not found(validate_day(published, BATCH), "manifest", MANIFEST)


def test_malformed_manifest_batch_date_is_reported_even_with_a_date_given(published):
    """A manifest batch_date that is no date is reported whether or not the caller gives one."""
    manifest = json.loads((published / MANIFEST).read_text())
    (published / MANIFEST).write_text(json.dumps({**manifest, "batch_date": "15/01/2026"}))
    for date in (None, BATCH):
        assert found(validate_day(published, date), "manifest", MANIFEST, None, "batch_date")


def test_enum_lists_every_allowed_value_when_few(tmp_path):
    """An unknown o2_device lists all of the contract's devices (none cut off mid-word)."""
    day = write_day(tmp_path / "day")
    edit(day, "vitals.csv", "room_air", "oxygen_tent")
    (v,) = found(validate_day(day, BATCH), "enum", "vitals.csv", 4, "o2_device")
    allowed = contracts.load_contract("vitals")["properties"]["o2_device"]["enum"]
    assert len(allowed) <= SHOW_ALLOWED
    assert v.detail.split("|") == ["null" if a is None else a for a in allowed]


def test_long_enum_lists_the_first_values_then_how_many_more(tmp_path):
    """An unknown intervention kind (14 allowed) lists the first SHOW_ALLOWED, then '+N more'."""
    day = write_day(tmp_path / "day")
    schema = contracts.load_contract("interventions")
    t0 = np.array([local_midnight(BATCH, TZ) + 2 * 3600])  # within the first encounter's stay
    writer.write_table(day / "interventions.csv", {
        "intervention_id": obj("INT-20260308-0000001"), "encounter_id": obj("ENC-20260308-00001"),
        "patient_id": obj("P0000001"), "start_time": t0, "end_time": t0 + 3600,
        "kind": obj("oxygen_tent"), "detail": obj("2 L/min")}, schema, TZ)
    (v,) = found(validate_day(day, BATCH), "enum", "interventions.csv", 2, "kind")
    allowed = schema["properties"]["kind"]["enum"]
    assert len(allowed) > SHOW_ALLOWED
    listed, more = v.detail.split(" ")[0], v.detail.split(" ", 1)[1]
    assert listed.split("|") == allowed[:SHOW_ALLOWED]
    assert more == f"+{len(allowed) - SHOW_ALLOWED} more"
