"""Defects on feed days (`datagen feed --defects`): every answer-key line of a dirty feed day holds
in its files, read back with pandas and json; the feed's own late rows and corrections are all
listed (late_or_corrected), the superseded version found in an earlier feed day; the clean feed
days are the bytes of a run without defects; parallel and sequential runs write the same bytes;
`validate` on a dirty feed day reports per kind what the feed contracts caught; README's worked
example scores its own late/correction checks as the table it shows."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from data_generator import cli, feed
from data_generator.defects import apply_defects, load_profile
from data_generator.defects.catch import catch_report, read_truth
from data_generator.defects.score import read_flags, score
from data_generator.feed import feed_backfill, feed_folder
from data_generator.validation import validate_feed_day
from tests.conftest import ROOT, copy_config, edit_yaml
from tests.test_defects import first_line, read_rows
from tests.test_feed import _short_stays, _small

START, END, MODE = dt.date(2026, 1, 10), dt.date(2026, 1, 12), "sample"
IDENT = {"adt_events.csv": "event_id", "patients.csv": "event_id", "encounters.csv": "event_id",
         "vitals.csv": "vital_id", "labs.csv": "lab_id", "notes.jsonl": "note_id"}
OWN_TIME = {"vitals.csv": "event_time", "labs.csv": "reported_time", "notes.jsonl": "note_time"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(config, {"dirty": root of a 3-day feed with a hostile profile, "clean": the same without
    defects}, the profile) of a small hospital whose feed has many late rows and corrections."""
    base = tmp_path_factory.mktemp("feed_defects")
    config = copy_config(base, _small)
    for scenario in (config.parent / "scenarios").glob("*.yaml"):
        edit_yaml(scenario, _short_stays)
    profile = base / "config" / "defects" / "hostile.yaml"

    def often(data):  # the few ADT messages of a small hospital: duplicates, moves, orphans, offsets often
        data["rates"]["duplicates"]["exact_row"] = data["rates"]["time"]["out_of_order"] = 0.2
        data["rates"]["referential"]["orphan_encounter"] = data["rates"]["time"]["tz_wrong"] = 0.1

    edit_yaml(profile, often)
    roots = {}
    for name, defects in (("dirty", profile), ("clean", None)):
        roots[name] = base / name
        roots[name].mkdir()
        done = feed_backfill(config, START, END, MODE, roots[name], workers=1, defects=defects)
        assert len(done.done) == 3
    return config, roots, profile


def _days(root: Path) -> list[Path]:
    return [feed_folder(root, MODE, START + dt.timedelta(days=k)) for k in range((END - START).days + 1)]


def _dirty(clean: Path) -> Path:
    return clean.with_name(clean.name + ".dirty")


def _check_line(d: dict, dirty: dict, clean: dict) -> None:
    """One answer-key line against the dirty and clean files ((header, rows) by file name)."""
    header, rows = dirty[d["file"]]
    _, clean_rows = clean[d["file"]]
    ident = IDENT[d["file"]]
    if d["line"] is None:  # schema drift: a column of the whole file
        assert d["original"] is None or d["original"] not in header, d
        assert d["new"] is None or d["new"] in header, d
        return
    at = d["line"] - first_line(d["file"])
    row = rows[at]
    assert row[ident] == d["key"], d
    same_key = [{c: r[c] for c in header if c in r} for r in clean_rows if r[ident] == d["key"]]  # drift aside
    row = {c: row[c] for c in header if c in clean_rows[0]}
    if d["kind"] == "late_arrival":
        when = row[OWN_TIME[d["file"]]]
        assert (when, row["delivery_date"]) == (d["original"], d["new"]) and when[:10] < d["new"], d
        assert row in same_key, "listed as delivered: unchanged"
    elif d["kind"] == "corrected_result":
        assert row["result_status"] == "C" and (row["result_time"], row["reported_time"]) == (d["original"], d["new"])
        assert row in same_key, d
    elif d["kind"] == "exact_row":
        assert rows[at] == rows[at - 1] and row in same_key, d
    elif d["kind"] == "near_duplicate_patient":
        assert row["patient_id"] == d["new"] and all(r["patient_id"] != d["new"] for r in clean_rows), d
        assert any(r["patient_id"] == d["original"] for r in same_key), d
    elif d["kind"] == "out_of_order":
        assert int(d["new"]) == d["line"] != int(d["original"]) and row in same_key, d  # moved, unchanged
    else:  # a changed cell: the new value is in the dirty file, the original was in a clean row of that key
        assert row[d["column"]] == d["new"] != d["original"], d
        assert any(r[d["column"]] == d["original"] for r in same_key), d


def test_every_answer_key_line_holds_in_the_dirty_feed_files(runs):
    """Each dirty feed day's `_defects.jsonl` is true of its files; ADT messages get duplicates,
    moves and orphans; every kind that makes sense on a feed shows up in three days."""
    kinds, adt = set(), set()
    for day in _days(runs[1]["dirty"]):
        truth = read_truth(_dirty(day))
        files = {d["file"] for d in truth}
        dirty = {f: read_rows(_dirty(day) / f) for f in files}
        clean = {f: read_rows(day / f) for f in files}
        for d in truth:
            _check_line(d, dirty, clean)
        kinds |= {d["kind"] for d in truth}
        adt |= {d["kind"] for d in truth if d["file"] == "adt_events.csv"}
        manifest = json.loads((_dirty(day) / "_manifest.json").read_text())
        assert manifest["feed"] is True and manifest["defects"]["total"] == len(truth)
    assert {"exact_row", "out_of_order", "orphan_encounter"} <= adt
    assert kinds >= {"late_arrival", "corrected_result", "exact_row", "near_duplicate_patient", "unit_label_kept",
                     "swapped_pair", "mcar", "tz_dropped", "out_of_order", "discharge_before_admit",
                     "orphan_encounter", "patient_mismatch", "renamed_column"}
    assert "outside_window" not in kinds  # a feed day holds pieces of stays: no window to leave


def test_every_late_row_and_correction_of_the_feed_is_listed(runs):
    """late_or_corrected lists exactly the clean feed's late rows (own day before the delivery date)
    and C rows; each correction's superseded F version, when delivered in the range, is the row
    of that lab_id reported at the listed time, with another value."""
    versions: dict[tuple[str, str], dict] = {}
    listed = []
    for day in _days(runs[1]["dirty"]):
        truth = read_truth(_dirty(day))
        for file, col in OWN_TIME.items():
            _, rows = read_rows(day / file)
            late = sorted(r[IDENT[file]] for r in rows if r[col][:10] < r["delivery_date"])
            assert late == sorted(d["key"] for d in truth if d["kind"] == "late_arrival" and d["file"] == file)
        _, labs = read_rows(day / "labs.csv")
        fixed = sorted(r["lab_id"] for r in labs if r["result_status"] == "C")
        assert fixed == sorted(d["key"] for d in truth if d["kind"] == "corrected_result")
        versions.update({(r["lab_id"], r["reported_time"]): r for r in labs})
        listed += [d for d in truth if d["kind"] == "corrected_result"]
    superseded = [(d, versions.get((d["key"], d["original"]))) for d in listed]
    found = [(d, first) for d, first in superseded if first is not None]
    assert len(listed) >= 3 and found
    for d, first in found:
        assert first["result_status"] == "F" and first["value"] != d["detail"].rsplit(" ", 1)[1], d


def test_clean_feed_days_are_unchanged_and_parallel_equals_sequential(runs, tmp_path, monkeypatch):
    """The clean feed days of the run with defects are byte-identical to a run without; a parallel
    run (two workers that derive their batches themselves) writes the same clean and dirty bytes; a
    rerun skips the day whose copies are up to date and redoes the one whose dirty copy is gone."""
    config, roots, profile = runs
    for day in _days(roots["dirty"]):
        twin = feed_folder(roots["clean"], MODE, dt.date.fromisoformat(day.name))
        assert sorted(p.name for p in day.iterdir()) == sorted(p.name for p in twin.iterdir())
        for path in twin.iterdir():
            assert (day / path.name).read_bytes() == path.read_bytes(), (day.name, path.name)
    assert not _dirty(twin).exists()
    monkeypatch.setattr(feed, "_batches", type(feed._batches)())
    first = END - dt.timedelta(days=1)
    feed_backfill(config, first, END, MODE, tmp_path, workers=2, defects=profile)
    for day in _days(roots["dirty"])[1:]:
        for folder in (day, _dirty(day)):
            ours = tmp_path / folder.relative_to(roots["dirty"])
            assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in folder.iterdir())
            for path in folder.iterdir():
                assert (ours / path.name).read_bytes() == path.read_bytes(), (folder.name, path.name)
    shutil.rmtree(_dirty(feed_folder(tmp_path, MODE, END)))
    again = feed_backfill(config, first, END, MODE, tmp_path, workers=1, defects=profile)
    assert again.skipped == [first] and again.done == [END] and _dirty(feed_folder(tmp_path, MODE, END)).is_dir()


def test_validate_reports_what_the_feed_contracts_catch(runs, capsys):
    """`datagen validate` on a dirty feed day checks it against the feed contracts and prints the
    per-kind catch table; resent ADT messages (unique event_id), dropped offsets and swapped
    pressures are always caught, late rows and orphan encounters never (no rule of one day sees them)."""
    day = _days(runs[1]["dirty"])[-1]
    assert cli.main(["validate", str(_dirty(day)), "--show", "0"]) == 1
    out = capsys.readouterr().out
    assert "adt_events.csv" in out and "caught by the contracts" in out
    assert re.search(r"late_or_corrected +late_arrival +\d+ +0 ", out)
    caught = {}
    for day in _days(runs[1]["dirty"]):
        truth = read_truth(_dirty(day))
        report = validate_feed_day(_dirty(day), max_violations=10**7)
        for pair, (n, c) in catch_report(truth, report.violations).by_kind.items():
            caught.setdefault(pair[1], [0, 0])
            caught[pair[1]][0] += n
            caught[pair[1]][1] += c
        adt_dups = [d for d in truth if d["kind"] == "exact_row" and d["file"] == "adt_events.csv"]
        seen = {(v.file, v.line) for v in report.violations if v.rule == "unique"}
        assert all((d["file"], d["line"]) in seen for d in adt_dups)
    for kind in ("tz_dropped", "swapped_pair", "renamed_column"):
        assert caught[kind][0] and caught[kind][1] == caught[kind][0], kind
    for kind in ("late_arrival", "corrected_result", "orphan_encounter"):
        assert caught[kind][0] and caught[kind][1] == 0, kind


def test_readme_worked_example_scores_late_and_corrected_checks(tmp_path, monkeypatch, capsys):
    """README's feed dq-score example, run on the committed feed day's realistic dirty copy, prints
    the table README shows (its checks find every late row and correction: recall and precision 1)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^### Dirty feed days.*?(?=^##)", readme, re.S | re.M).group(0)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    day = tmp_path / "data" / "feed" / MODE / "2026-01-17"
    shutil.copytree(ROOT / "data" / "feed" / MODE / day.name, day)
    apply_defects(day, load_profile("realistic", ROOT / "config"))
    monkeypatch.chdir(tmp_path)
    exec(code, {})  # the README's own code
    assert capsys.readouterr().out == shown
    result = score(read_truth(_dirty(day)), read_flags(tmp_path / "flags.csv")).classes["late_or_corrected"]
    assert result.recall == result.precision == 1


def test_feed_command_takes_defects_and_refuses_a_bad_profile_first(runs, tmp_path, capsys):
    """`datagen feed --defects PROFILE` writes the feed day and its dirty copy (the same bytes as the
    library run); an unknown profile is one config line (exit 3) before any day is written."""
    config, roots, _ = runs
    args = ["feed", "--start", END.isoformat(), "--end", END.isoformat(), "--mode", MODE, "--config", str(config),
            "--workers", "1", "--out-root"]
    assert cli.main([*args, str(tmp_path), "--defects", "hostile"]) == 0
    assert "each with its dirty copy (hostile)" in capsys.readouterr().out
    made = _dirty(feed_folder(tmp_path, MODE, END))
    assert (made / "_defects.jsonl").read_bytes() == (_dirty(_days(roots["dirty"])[-1]) / "_defects.jsonl").read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main([*args, str(empty), "--defects", "filthy"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "filthy.yaml" in err and "no such defect profile" in err
    assert list(empty.iterdir()) == []
