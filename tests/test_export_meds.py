"""`datagen export-meds`: two published days become a MEDS dataset that the `meds` package's
schemas accept, sorted per subject, each subject in one shard, every code described, and an
ACES in-hospital-mortality task (README's worked example) finds exactly the deaths that
encounters.csv records."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import meds
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from data_generator.cli import main
from tests.conftest import RESEARCH_DAYS, ROOT

DAYS = RESEARCH_DAYS


def _export(out_root, start=DAYS[0], end=DAYS[1]) -> int:
    return main(["export-meds", "--start", start.isoformat(), "--end", end.isoformat(), "--mode", "sample",
                 "--out-root", str(out_root), "--quiet"])


@pytest.fixture(scope="module")
def days(research_days):
    return research_days


@pytest.fixture(scope="module")
def dataset(days):
    assert _export(days) == 0
    return days / "meds" / "sample" / f"{DAYS[0]}_{DAYS[1]}"


def _data(dataset) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((dataset / "data").glob("*.parquet"))])


def _day_file(days, name: str) -> list[pa.Table]:
    nulls = pacsv.ConvertOptions(strings_can_be_null=True)
    return [pacsv.read_csv(days / "sample" / d.isoformat() / name, convert_options=nulls) for d in DAYS]


def test_every_file_matches_the_meds_schemas(dataset):
    """data shards, codes, subject splits and dataset.json validate with the meds package."""
    shards = sorted((dataset / "data").glob("*.parquet"))
    assert shards
    for shard in shards:
        meds.DataSchema.validate(pq.read_table(shard))
    meds.CodeMetadataSchema.validate(pq.read_table(dataset / meds.code_metadata_filepath))
    splits = pq.read_table(dataset / meds.subject_splits_filepath)
    meds.SubjectSplitSchema.validate(splits)
    assert set(splits["split"].to_pylist()) <= {meds.train_split, meds.tuning_split, meds.held_out_split}
    meds.DatasetMetadataSchema.validate(json.loads((dataset / meds.dataset_metadata_filepath).read_text()))


def test_events_are_sorted_described_and_complete(dataset, days):
    """Rows sorted by subject then time; every code in codes.parquet; one birth per subject; a
    death per expired stay; one event per charted vital value, lab result and note."""
    data = _data(dataset)
    keys = list(zip(data["subject_id"].to_pylist(), data["time"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    codes = set(pq.read_table(dataset / meds.code_metadata_filepath)["code"].to_pylist())
    assert set(data["code"].to_pylist()) == codes
    count = lambda pattern: pc.sum(pc.match_substring_regex(data["code"], pattern)).as_py()  # noqa: E731
    subjects = set(data["subject_id"].to_pylist())
    assert count(f"^{meds.birth_code}$") == len(subjects)
    encounters = _day_file(days, "encounters.csv")
    assert count(f"^{meds.death_code}$") == sum(e["discharge_disposition"].to_pylist().count("expired")
                                                 for e in encounters)
    assert count("^ADMISSION//") == count("^DISCHARGE//") == sum(len(e) for e in encounters)
    labs = _day_file(days, "labs.csv")
    lab_codes = [f"LOINC/{c}" for t in labs for c in t["loinc_code"].to_pylist()]
    assert sorted(c for c in data["code"].to_pylist() if c in set(lab_codes)) == sorted(lab_codes)
    notes = sum(len((days / "sample" / d.isoformat() / "notes.jsonl").read_text().splitlines()) for d in DAYS)
    assert count("^NOTE//") == notes
    vitals = _day_file(days, "vitals.csv")
    charted = sum(len(v) - v[c].null_count for v in vitals for c in
                  ("heart_rate", "resp_rate", "sbp", "dbp", "map", "spo2", "temp_c", "consciousness", "fio2",
                   "pain_score"))
    assert count("^(LOINC/(8867-4|9279-1|8480-6|8462-4|8478-0|59408-5|8310-5|3150-0|72514-3)"
                 "|SNOMED/1104441000000107)$") == charted
    for shard in (dataset / "data").glob("*.parquet"):   # a subject is in one shard only
        others = [set(pq.read_table(s)["subject_id"].to_pylist()) for s in (dataset / "data").glob("*.parquet")
                  if s != shard]
        assert not any(set(pq.read_table(shard)["subject_id"].to_pylist()) & o for o in others)


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## MEDS export\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_readme_label_extraction_finds_the_deaths_of_encounters_csv(dataset, days, monkeypatch):
    """README's ACES example, run on the export, labels exactly the stays longer than 24 h, and
    its positives are the expired ones of encounters.csv."""
    monkeypatch.chdir(ROOT)
    code = _readme_example()
    assert f'"data/meds/sample/{DAYS[0]}_{DAYS[1]}"' in code
    namespace = {}
    exec(code.replace(f'"data/meds/sample/{DAYS[0]}_{DAYS[1]}"', repr(str(dataset))), namespace)  # README's code
    labels = namespace["labels"]
    expected, positive = set(), set()
    for enc in _day_file(days, "encounters.csv"):
        for row in enc.to_pylist():
            admit, discharge = row["admit_time"], row["discharge_time"]
            if discharge - admit > dt.timedelta(hours=24):
                key = (int(row["patient_id"][1:]), admit.replace(tzinfo=None))
                expected.add(key)
                if row["discharge_disposition"] == "expired":
                    positive.add(key)
    got = {(r["subject_id"], r["trigger"]) for r in labels.to_dicts()}
    got_positive = {(r["subject_id"], r["trigger"]) for r in labels.to_dicts() if r["label"]}
    assert got == expected
    assert got_positive == positive and positive


def test_same_days_same_bytes_and_stable_splits(dataset, days, tmp_path):
    """A second export is byte-identical; a subject keeps its split in an export of one day."""
    files = {p.relative_to(dataset): p.read_bytes() for p in dataset.rglob("*") if p.is_file()}
    assert _export(days) == 0
    assert {p.relative_to(dataset): p.read_bytes() for p in dataset.rglob("*") if p.is_file()} == files
    shutil.copytree(days / "sample" / DAYS[0].isoformat(), tmp_path / "sample" / DAYS[0].isoformat())
    assert _export(tmp_path, DAYS[0], DAYS[0]) == 0
    one = pq.read_table(tmp_path / "meds" / "sample" / f"{DAYS[0]}_{DAYS[0]}" / meds.subject_splits_filepath)
    both = dict(zip(*pq.read_table(dataset / meds.subject_splits_filepath).to_pydict().values(), strict=True))
    assert all(both[s] == split for s, split in zip(*one.to_pydict().values(), strict=True))
    assert pc.count_distinct(one["split"]).as_py() >= 2


def test_a_missing_day_is_refused_in_one_line(tmp_path, capsys):
    """No day folder: one line naming it, exit 2, no dataset folder."""
    assert _export(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and DAYS[0].isoformat() in err
    assert not (tmp_path / "meds").exists()
