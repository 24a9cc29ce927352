"""Publishing: the day folder is swapped in whole, failures leave the old one, manifests verify."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack

import pytest

from data_generator import publish
from data_generator.errors import OutputError
from data_generator.locks import day_lock, exclusive
from data_generator.publish import MANIFEST, publish_day, staging_dir, verify_manifest
from data_generator.validation import validate_day
from tests.test_validate import BATCH, write_day

META = {"batch_date": BATCH.isoformat(), "seed": 42, "schema_version": 1}


def _publish(tmp_path, name="2026-03-08", meta=META):
    target = tmp_path / "out" / name
    target.parent.mkdir(exist_ok=True)
    staging = write_day(staging_dir(target))
    publish_day(staging, target, meta)
    return target, staging


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_staging_dir_is_fresh_and_beside_target(tmp_path):
    """staging_dir gives an empty '.tmp-<name>-<pid>' folder next to the target."""
    target = tmp_path / "2026-03-08"
    first = staging_dir(target)
    (first / "junk").write_text("x")
    again = staging_dir(target)
    assert again == tmp_path / f".tmp-2026-03-08-{os.getpid()}"
    assert list(again.iterdir()) == []


def test_publish_new_target(tmp_path):
    """A first publish moves the staging folder into place with a manifest; nothing is left."""
    target, staging = _publish(tmp_path)
    assert not staging.exists()
    assert sorted(p.name for p in target.iterdir()) == [
        MANIFEST, "encounters.csv", "labs.csv", "notes.jsonl", "patients.csv", "vitals.csv"]
    assert _leftovers(target.parent) == []
    assert validate_day(target).ok


def test_manifest_content_and_determinism(tmp_path):
    """The manifest holds the caller's keys plus per-file rows/bytes/sha256, and no clock time."""
    a, _ = _publish(tmp_path, "a")
    b, _ = _publish(tmp_path, "b")
    text = (a / MANIFEST).read_text()
    assert text == (b / MANIFEST).read_text() and text.endswith("}\n")
    manifest = json.loads(text)
    assert {k: manifest[k] for k in META} == META
    assert manifest["files"]["vitals.csv"]["rows"] == 4
    assert manifest["files"]["patients.csv"]["rows"] == 2  # a quoted line break is not a row
    assert manifest["files"]["notes.jsonl"]["bytes"] == (a / "notes.jsonl").stat().st_size
    assert len(manifest["files"]["labs.csv"]["sha256"]) == 64
    assert verify_manifest(a) == []


def test_replaces_existing_target(tmp_path):
    """Publishing over an existing day replaces it whole and removes the old copy."""
    target, _ = _publish(tmp_path)
    (target / "stale.txt").write_text("from the previous run")
    _publish(tmp_path, meta={**META, "seed": 7})
    assert not (target / "stale.txt").exists()
    assert json.loads((target / MANIFEST).read_text())["seed"] == 7
    assert _leftovers(target.parent) == []


def test_failed_swap_leaves_previous_day(tmp_path, monkeypatch):
    """If the final rename fails, the previous folder is back in place and staging is gone."""
    target, _ = _publish(tmp_path)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    staging = write_day(staging_dir(target))
    (staging / "vitals.csv").write_text("changed\n")
    real = os.rename

    def failing(src, dst):
        if str(src) == str(staging):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(publish.os, "rename", failing)
    with pytest.raises(OutputError):
        publish_day(staging, target, META)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert not staging.exists() and _leftovers(target.parent) == []


def test_failure_before_swap_leaves_previous_day(tmp_path):
    """A manifest that cannot be written aborts publishing without touching the target."""
    target, _ = _publish(tmp_path)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    staging = write_day(staging_dir(target))
    with pytest.raises(TypeError):
        publish_day(staging, target, {"not_json": object()})
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert not staging.exists()


def test_modified_file_is_reported(tmp_path):
    """Changing one byte after publishing is a 'manifest' violation, also from validate_day."""
    target, _ = _publish(tmp_path)
    path = target / "labs.csv"
    path.write_bytes(path.read_bytes().replace(b"4.20", b"4.30"))
    problems = verify_manifest(target)
    assert [(v.file, v.field, v.rule) for v in problems] == [("labs.csv", "sha256", "manifest")]
    report = validate_day(target)
    assert [v.file for v in report.violations if v.rule == "manifest"] == ["labs.csv"]


def test_missing_and_unlisted_files_are_reported(tmp_path):
    """A listed file that is gone, or a file the manifest does not list, is reported."""
    target, _ = _publish(tmp_path)
    (target / "notes.jsonl").unlink()
    (target / "extra.csv").write_text("a\n")
    files = {v.file for v in verify_manifest(target)}
    assert files == {"notes.jsonl", "extra.csv"}


def test_batch_date_from_manifest(tmp_path):
    """validate_day without a date checks admissions against the manifest's batch_date."""
    target, _ = _publish(tmp_path, meta={**META, "batch_date": "2026-03-09"})
    report = validate_day(target)
    assert report.counts["batch_date"] == 2


def test_overlapping_day_locks_leave_no_lock_folder(tmp_path):
    """Two runs holding day locks in one folder (a parallel backfill or feed) finish in either
    order and leave no `.locks` folder behind, whichever of them made it (the parallel feed left an
    empty one beside its days)."""
    for first_out in (0, 1):
        days = [tmp_path / "sample" / "2026-01-15", tmp_path / "sample" / "2026-01-16"]
        with ExitStack() as held:
            holds = [ExitStack() for _ in days]
            for stack, day in zip(holds, days, strict=True):
                held.enter_context(stack)
                stack.enter_context(exclusive(day_lock(day), f"day folder {day}"))
            assert (tmp_path / "sample" / ".locks").is_dir()
            holds[first_out].close()
            assert (tmp_path / "sample" / ".locks").is_dir()  # the other lock is still there
        assert not (tmp_path / "sample" / ".locks").exists()
