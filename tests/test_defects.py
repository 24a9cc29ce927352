"""Defect profiles: each class applied alone leaves in the dirty files exactly what its answer key
says; profiles are checked by their schema; the clean day is never touched; the same seed gives
the same defects; the contracts catch every contract-detectable defect of a hostile day; and
`dq-score` scores the answer key itself as perfect and a partial flag file as partial.

The dirty files are read back with pandas and json (not the engine's reader) and compared with
the clean day.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from data_generator.backfill import backfill
from data_generator.config import load_config
from data_generator.defects import TRUTH, apply_defects, load_profile
from data_generator.defects.catch import catch_report, read_truth
from data_generator.defects.kinds import KINDS
from data_generator.defects.profile import classes
from data_generator.defects.score import read_flags, score
from data_generator.errors import ConfigError
from data_generator.pipeline import generate_day
from data_generator.validation import validate_day
from tests.conftest import CONFIG, DAY, ROOT, datagen

CATALOGUE = ROOT / "config" / "reference" / "defects.yaml"
# Kinds the contracts catch every time, by construction (README's table says why).
CONTRACT_DETECTABLE = {"exact_row", "near_duplicate_patient", "swapped_pair", "tz_dropped", "outside_window",
                       "discharge_before_admit", "orphan_encounter", "patient_mismatch", "renamed_column",
                       "dropped_column", "extra_column"}
FEED_ONLY = ("late_or_corrected",)  # lists a feed day's own late rows and corrections (tests/test_feed_defects.py)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """A published sample day of 40 encounters, generated once for this module."""
    out = tmp_path_factory.mktemp("clean")
    return generate_day(load_config(CONFIG), DAY, "sample", out, encounters=40).folder


def profile_file(folder: Path, rates: dict) -> Path:
    path = folder / "profile.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "description": "test", "catalogue": str(CATALOGUE),
                                    "rates": rates}))
    return path


def dirty_copy(clean: Path, folder: Path, rates: dict, seed: int | None = None) -> Path:
    """A copy of the clean day in `folder`, and its dirty copy made with `rates`."""
    day = folder / "sample" / clean.name
    shutil.copytree(clean, day)
    return apply_defects(day, load_profile(profile_file(folder, rates)), seed=seed).folder


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    """(header, rows) of a CSV or JSONL file, every cell as text, empty = None."""
    if path.suffix == ".jsonl":
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return (list(records[0]) if records else []), records
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return list(frame.columns), [{k: (v if v != "" else None) for k, v in r.items()} for r in frame.to_dict("records")]


def first_line(file: str) -> int:
    return 1 if file.endswith(".jsonl") else 2


def check_against_files(clean: Path, dirty: Path, truth: list[dict]) -> None:
    """Every answer-key line is true of the files: the new value is in the dirty file where it
    says, the original was in the clean file and is gone."""
    files = {d["file"] for d in truth}
    before = {f: read_rows(clean / f) for f in files}
    after = {f: read_rows(dirty / f) for f in files}
    for d in truth:
        header, rows = after[d["file"]]
        clean_header, clean_rows = before[d["file"]]
        key_col = clean_header[0]
        if d["line"] is None:  # schema drift
            if d["original"] is not None:
                assert d["original"] not in header, d
            if d["new"] is not None:
                assert d["new"] in header, d
            continue
        row = rows[d["line"] - first_line(d["file"])]
        assert row[key_col] == d["key"], d
        if d["kind"] == "exact_row":
            original = next(r for r in clean_rows if r[key_col] == d["key"])
            assert row == original and sum(r[key_col] == d["key"] for r in rows) == 2, d
        elif d["kind"] == "near_duplicate_patient":
            twin_of = next(r for r in clean_rows if r["patient_id"] == d["original"])
            assert d["new"] == row["patient_id"] and all(r["patient_id"] != d["new"] for r in clean_rows)
            drifted = {c for c in header if row[c] != twin_of[c]}
            assert {"patient_id", "mrn"} < drifted and "sex" not in drifted, d
        elif d["kind"] == "out_of_order":
            assert int(d["new"]) == d["line"] != int(d["original"]), d
            assert clean_rows[int(d["original"]) - first_line(d["file"])][key_col] == d["key"], d
        else:
            original = next(r for r in clean_rows if r[key_col] == d["key"])
            assert row[d["column"]] == d["new"] != d["original"] == original[d["column"]], d


@pytest.mark.parametrize("cls", [c for c in classes() if c not in FEED_ONLY])
def test_each_class_alone_is_recorded_exactly(clean, tmp_path, cls):
    """One class at a time: each of its kinds is injected, and every line of the answer key holds
    in the files (new value there, original gone); rows no defect touched are unchanged."""
    rate = 1.0 if cls == "schema_drift" else 0.15
    dirty = dirty_copy(clean, tmp_path, {cls: dict.fromkeys(classes()[cls], rate)})
    truth = read_truth(dirty)
    assert {d["kind"] for d in truth} == set(classes()[cls]), "every kind of the class is injected"
    assert {d["class"] for d in truth} == {cls}
    check_against_files(clean, dirty, truth)
    manifest = json.loads((dirty / "_manifest.json").read_text())
    assert manifest["defects"]["counts"] == {cls: len(truth)}
    assert manifest["batch_date"] == DAY.isoformat()
    if cls != "schema_drift":
        touched = {(d["file"], d["key"]) for d in truth}
        for file in ("vitals.csv", "labs.csv", "notes.jsonl"):
            _, before = read_rows(clean / file)
            _, after = read_rows(dirty / file)
            key = next(iter(before[0]))
            untouched = [r for r in before if (file, r[key]) not in touched]
            kept = {r[key]: r for r in after if (file, r[key]) not in touched}
            assert all(kept[r[key]] == r for r in untouched), file


def test_unit_mixups_follow_the_catalogue(clean, tmp_path):
    """A glucose value sent in mmol/L is the mg/dL value / 18.016, its unit column left or changed as
    the kind says; a temperature sent in Fahrenheit is C * 1.8 + 32."""
    dirty = dirty_copy(clean, tmp_path, {"unit_mixup": {"unit_label_kept": 0.3, "unit_label_changed": 0.3}})
    truth = read_truth(dirty)
    _, labs = read_rows(dirty / "labs.csv")
    glucose = [d for d in truth if d["detail"].startswith("glucose_mmol")]
    assert glucose
    for d in glucose:
        assert float(d["new"]) == pytest.approx(float(d["original"]) / 18.016, abs=0.006)
        unit = labs[d["line"] - 2]["unit"]
        assert unit == ("mmol/L" if d["kind"] == "unit_label_changed" else "mg/dL"), d
    temps = [d for d in truth if d["column"] == "temp_c"]
    assert temps and all(float(d["new"]) == pytest.approx(float(d["original"]) * 1.8 + 32, abs=0.06) for d in temps)


def test_profiles_ship_and_match_the_engine():
    """light, realistic and hostile load; the profile schema's kinds are exactly the engine's; hostile
    switches every kind on."""
    kinds = [k for ks in classes().values() for k in ks]
    assert sorted(kinds) == sorted(KINDS)
    for name in ("light", "realistic", "hostile"):
        assert load_profile(name, ROOT / "config").rates
    assert set(load_profile("hostile", ROOT / "config").rates) == set(KINDS)


@pytest.mark.parametrize(("rates", "where"), [
    ({"duplicates": {"exact_row": 1.5}}, "rates.duplicates.exact_row"),
    ({"duplicates": {"exact_row": -0.1}}, "rates.duplicates.exact_row"),
    ({"smudges": {"exact_row": 0.1}}, "rates"),
    ({"time": {"time_travel": 0.1}}, "rates.time"),
    ({"late_or_corrected": {"late_arrival": 0.5}}, "rates.late_or_corrected.late_arrival"),
])
def test_a_bad_profile_is_a_config_error(tmp_path, rates, where):
    """A rate outside 0..1, an unknown class or kind, or a feed-only listing that is neither 0 nor 1, is a
    config error naming the key."""
    with pytest.raises(ConfigError) as err:
        load_profile(profile_file(tmp_path, rates))
    assert err.value.where == f"{tmp_path / 'profile.yaml'}: {where}"


def test_a_catalogue_naming_a_missing_column_is_a_config_error(tmp_path):
    """The catalogue is checked against the contracts: a unit mix-up on a column that does not exist."""
    data = yaml.safe_load(CATALOGUE.read_text())
    data["unit_mixup"][0]["column"] = "valeur"
    (tmp_path / "cat.yaml").write_text(yaml.safe_dump(data))
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "description": "x", "catalogue": "cat.yaml", "rates": {}}))
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert err.value.where.endswith("cat.yaml: unit_mixup.0.column") and "valeur" in err.value.problem


def test_same_seed_same_defects_other_seed_others(clean, tmp_path):
    """Two runs with the day's seed give byte-identical dirty folders; another seed other defects."""
    rates = yaml.safe_load((ROOT / "config" / "defects" / "realistic.yaml").read_text())["rates"]
    one = dirty_copy(clean, tmp_path / "one", rates)
    two = dirty_copy(clean, tmp_path / "two", rates)
    other = dirty_copy(clean, tmp_path / "other", rates, seed=7)
    for name in sorted(p.name for p in one.iterdir()):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert (one / TRUTH).read_bytes() != (other / TRUTH).read_bytes()


def test_no_defects_writes_the_clean_bytes_back(clean, tmp_path):
    """With every rate 0 the dirty files are the clean files byte for byte (rows are written back as read)."""
    dirty = dirty_copy(clean, tmp_path, {})
    for name in ("patients.csv", "encounters.csv", "vitals.csv", "labs.csv", "notes.jsonl"):
        assert (dirty / name).read_bytes() == (clean / name).read_bytes(), name
    assert (dirty / TRUTH).read_text() == ""


def test_contracts_catch_every_contract_detectable_defect_of_a_hostile_day(clean, tmp_path):
    """In a hostile day, every defect of a contract-detectable kind is reported by `validate` on its
    line (or header); semantic kinds are caught partly or not at all."""
    dirty = dirty_copy(clean, tmp_path, yaml.safe_load((ROOT / "config/defects/hostile.yaml").read_text())["rates"])
    report = validate_day(dirty, max_violations=10**7)
    caught = catch_report(read_truth(dirty), report.violations).by_kind
    for (_, kind), (injected, found) in caught.items():
        if kind in CONTRACT_DETECTABLE:
            assert injected and found == injected, kind
    assert caught[("time", "out_of_order")][1] == 0 and caught[("text", "copy_forward")][1] == 0
    assert {k for _, k in caught} == set(KINDS) - {k for c in FEED_ONLY for k in classes()[c]}


def test_dq_score_of_the_truth_is_perfect_and_of_a_partial_flag_file_partial(clean, tmp_path):
    """The answer key scored against itself gives precision = recall = 1 per class; a flag file with
    half of the duplicates and as many wrong duplicate flags gives recall 0.5 and precision 0.5 there."""
    dirty = dirty_copy(clean, tmp_path, {"duplicates": {"exact_row": 0.05}, "swapped_values": {"swapped_pair": 0.2}})
    truth = read_truth(dirty)
    perfect = score(truth, read_flags(dirty / TRUTH))
    assert all(c.precision == 1 and c.recall == 1 for c in perfect.classes.values())
    dups = [d for d in truth if d["class"] == "duplicates"]
    half = dups[: len(dups) // 2]
    flags = tmp_path / "flags.csv"
    with open(flags, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", "key", "column", "class"])
        out.writerows([d["file"], d["key"], "", "duplicates"] for d in half)
        out.writerows(["labs.csv", f"LAB-NOT-{i}", "", "duplicates"] for i in range(len(half)))
        out.writerow(["vitals", next(d["key"] for d in truth if d["column"] == "sbp"), "sbp", ""])
    result = score(truth, read_flags(flags)).classes
    assert result["duplicates"].recall == len(half) / len(dups) and result["duplicates"].precision == 0.5
    swaps = [d for d in truth if d["class"] == "swapped_values"]
    assert result["swapped_values"].recall == 1 / len(swaps) and result["swapped_values"].precision == 1


def test_cli_generate_with_defects_leaves_the_clean_day_as_without(clean, tmp_path):
    """`generate --defects realistic` publishes the same clean bytes as a run without it, the dirty day
    beside it; `validate` on the dirty day reports per kind what the contracts caught; `dq-score` runs
    on a CSV flag file and writes JSON."""
    gen = datagen("generate", "--date", DAY.isoformat(), "--mode", "sample", "--encounters", "40", "--out-root",
                  str(tmp_path), "--config", str(CONFIG), "--defects", "realistic")
    assert gen.returncode == 0, gen.stderr
    day = tmp_path / "sample" / DAY.isoformat()
    for path in clean.iterdir():
        assert (day / path.name).read_bytes() == path.read_bytes(), path.name
    dirty = day.with_name(day.name + ".dirty")
    assert f"wrote {dirty}:" in gen.stdout
    checked = datagen("validate", str(dirty), "--show", "0")
    assert checked.returncode == 1
    assert "caught by the contracts" in checked.stdout and "exact_row" in checked.stdout
    flags = tmp_path / "flags.csv"
    flags.write_text("file,key,column\nvitals.csv,VIT-NOPE,sbp\n")
    scored = datagen("dq-score", "--truth", str(dirty / TRUTH), "--flags", str(flags), "--json",
                     str(tmp_path / "s.json"))
    assert scored.returncode == 0, scored.stderr
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["overall"]["precision"] == 0 and result["unattributed_flags"] == 1


def test_cli_refuses_a_bad_profile_before_writing_anything(tmp_path):
    """An unknown profile name is one config line (exit 3) and no day is written."""
    gen = datagen("generate", "--date", DAY.isoformat(), "--mode", "sample", "--encounters", "5", "--out-root",
                  str(tmp_path), "--config", str(CONFIG), "--defects", "filthy")
    assert gen.returncode == 3 and gen.stderr.count("\n") == 1 and "filthy.yaml" in gen.stderr
    assert "no such defect profile" in gen.stderr and "hostile" in gen.stderr
    assert list(tmp_path.iterdir()) == []


def test_backfill_writes_each_dirty_day_and_resumes(tmp_path):
    """`backfill` with a profile writes each day's dirty copy (its own seed stream per date); a rerun
    skips the days whose dirty copy is up to date and redoes one whose dirty copy is gone."""
    start, end = dt.date(2025, 3, 1), dt.date(2025, 3, 2)
    profile = ROOT / "config" / "defects" / "hostile.yaml"
    first = backfill(CONFIG, start, end, "sample", tmp_path, encounters=4, defects=profile)
    assert len(first.done) == 2
    keys = [(tmp_path / "sample" / f"{d}.dirty" / TRUTH).read_text() for d in ("2025-03-01", "2025-03-02")]
    assert all(keys) and keys[0] != keys[1]
    shutil.rmtree(tmp_path / "sample" / "2025-03-02.dirty")
    again = backfill(CONFIG, start, end, "sample", tmp_path, encounters=4, defects=profile)
    assert again.skipped == [start] and again.done == [end]
    assert (tmp_path / "sample" / "2025-03-02.dirty" / TRUTH).read_text() == keys[1]


def test_readme_worked_example_prints_the_table_it_shows(tmp_path, monkeypatch, capsys):
    """README's dq-score example, run on the demo day's realistic dirty copy, prints the table README shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Dirty data on purpose.*?(?=^## )", readme, re.S | re.M).group(0)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    day = tmp_path / "data" / "sample" / DAY.isoformat()
    shutil.copytree(ROOT / "data" / "sample" / DAY.isoformat(), day)
    apply_defects(day, load_profile("realistic", ROOT / "config"))
    monkeypatch.chdir(tmp_path)
    exec(code, {})  # the README's own code
    assert capsys.readouterr().out == shown


def test_late_or_corrected_lists_nothing_on_a_batch_day(clean, tmp_path):
    """A batch day has no delivery date and no result status: the feed-only class switched on lists
    nothing and the dirty files are the clean bytes."""
    dirty = dirty_copy(clean, tmp_path, {"late_or_corrected": {"late_arrival": 1, "corrected_result": 1}})
    assert (dirty / TRUTH).read_text() == ""
    for name in ("patients.csv", "encounters.csv", "vitals.csv", "labs.csv", "notes.jsonl"):
        assert (dirty / name).read_bytes() == (clean / name).read_bytes(), name
