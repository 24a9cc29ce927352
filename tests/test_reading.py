"""The day reader: load_day gives contract-typed pandas tables (IDs and ZIP codes as strings,
nullable integers, zone-aware timestamps) alike from CSV/JSONL and Parquet, and README's
recipes give the same."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pandas as pd
import pytest

from data_generator import load_day
from data_generator.contracts import FILES, column_type, load_contract
from data_generator.errors import ContractError, UsageError
from data_generator.pipeline import generate_day
from data_generator.publish import MANIFEST
from data_generator.reading import read_table, table_file, text_batches
from tests.conftest import DAY, ROOT
from tests.test_parquet import write_parquet_day
from tests.test_validate import day_tables, write_day

SAMPLE = ROOT / "data" / "sample" / DAY.isoformat()
STAMP = re.compile(r"\d{4}-\d\d-\d\dT[0-9:]{8}[+-]\d\d:\d\d")  # an RFC 3339 timestamp
KINDS = {"string": pd.api.types.is_string_dtype, "integer": lambda d: str(d) == "Int64",
         "number": lambda d: str(d) == "float64", "date": lambda d: str(d).startswith("datetime64["),
         "date-time": lambda d: isinstance(d, pd.DatetimeTZDtype)}


def _text_rows(folder, name: str) -> list[dict]:
    path = table_file(folder, name)
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.open(encoding="utf-8")]
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _assert_contract_dtypes(name: str, frame: pd.DataFrame) -> None:
    props = load_contract(name)["properties"]
    assert list(frame.columns) == list(props)
    for col, prop in props.items():
        assert KINDS[column_type(prop)](frame[col].dtype), (name, col, frame[col].dtype)


@pytest.fixture(scope="module")
def sample():
    return load_day(SAMPLE)


def test_committed_day_loads_with_contract_types(sample):
    """The demo day: the five tables, as many rows as the manifest says, each column typed by its contract."""
    manifest = json.loads((SAMPLE / MANIFEST).read_text())
    assert list(sample) == list(FILES)
    for name, frame in sample.items():
        assert len(frame) == manifest["files"][table_file(SAMPLE, name).name]["rows"], name
        _assert_contract_dtypes(name, frame)


def test_identifiers_and_zip_codes_keep_their_text(sample):
    """IDs, MRNs, phones and ZIP codes come back exactly as written, leading zeros included."""
    rows = _text_rows(SAMPLE, "patients")
    for col in ("patient_id", "mrn", "zip", "phone"):
        assert sample["patients"][col].tolist() == [r[col] for r in rows], col
    assert any(r["zip"].startswith("0") for r in rows)  # the demo day holds ZIP codes with a leading zero


def test_timestamps_are_the_instants_written_in_the_day_zone(sample):
    """Every timestamp is the instant its RFC 3339 text says, in the manifest's time zone."""
    zone = json.loads((SAMPLE / MANIFEST).read_text())["timezone"]
    for name, col in (("encounters", "admit_time"), ("vitals", "event_time"), ("notes", "note_time")):
        got = sample[name][col]
        assert str(got.dt.tz) == zone
        written = pd.to_datetime(pd.Series([r[col] for r in _text_rows(SAMPLE, name)]), format="ISO8601", utc=True)
        assert (got.dt.tz_convert("UTC").to_numpy() == written.to_numpy()).all(), (name, col)


def test_integer_vitals_are_nullable_integers(sample):
    """Integer vitals stay integers where some sets lack them: missing cells are <NA>, not NaN floats."""
    vitals, rows = sample["vitals"], _text_rows(SAMPLE, "vitals")
    pain = vitals["pain_score"]
    assert str(pain.dtype) == "Int64" and pain.isna().any()
    assert [None if pd.isna(v) else str(v) for v in pain] == [r["pain_score"] or None for r in rows]


def test_notes_are_read_from_jsonl(sample):
    """Note text comes back character for character from notes.jsonl."""
    assert sample["notes"]["text"].tolist() == [r["text"] for r in _text_rows(SAMPLE, "notes")]


@pytest.fixture(scope="module")
def csv_and_parquet(cfg, tmp_path_factory):
    """The same small day with interventions, published as CSV/JSONL and as Parquet."""
    out = tmp_path_factory.mktemp("reading")
    days = {}
    for fmt in ("csv", "parquet"):
        (out / fmt).mkdir()
        days[fmt] = generate_day(cfg, DAY, "sample", out / fmt, encounters=30, fmt=fmt, interventions=True).folder
    return days


def test_parquet_and_csv_days_load_alike(csv_and_parquet):
    """A Parquet day gives the same frames, dtypes included, as its CSV/JSONL form; interventions come along."""
    text, parquet = (load_day(csv_and_parquet[fmt]) for fmt in ("csv", "parquet"))
    assert list(text) == list(parquet) == [*FILES, "interventions"]
    manifest = json.loads((csv_and_parquet["csv"] / MANIFEST).read_text())
    assert len(text["interventions"]) == manifest["files"]["interventions.csv"]["rows"] > 0
    for name in text:
        _assert_contract_dtypes(name, text[name])
        pd.testing.assert_frame_equal(text[name], parquet[name], obj=name)


def test_zone_comes_from_the_day_or_the_caller(tmp_path):
    """Without a manifest a CSV day is read in UTC and a Parquet day in its columns' zone; the
    manifest's timezone or `tz=` give the local clock (here across New York's DST change)."""
    text, parquet = write_day(tmp_path / "csv"), write_parquet_day(tmp_path / "parquet")
    assert str(load_day(text)["vitals"]["event_time"].dt.tz) == "UTC"
    assert str(load_day(parquet)["vitals"]["event_time"].dt.tz) == "America/New_York"
    (text / MANIFEST).write_text(json.dumps({"timezone": "America/New_York"}))
    local = load_day(text)
    pd.testing.assert_frame_equal(local["vitals"], load_day(parquet)["vitals"])
    assert local["patients"]["zip"].tolist() == ["02110", "01970"]
    offsets = {t.utcoffset().total_seconds() / 3600 for t in local["vitals"]["event_time"]}
    assert offsets == {-5.0, -4.0}
    assert str(load_day(parquet, tz="Europe/Paris")["labs"]["result_time"].dt.tz) == "Europe/Paris"


def test_text_batches_give_cells_as_written(tmp_path):
    """Exporters' view: string columns exactly as in the file, rows numbered across batches."""
    folder = write_day(tmp_path / "day")
    (part,) = text_batches(folder, "vitals")
    assert part.file == "vitals.csv" and part.first_row == 1
    assert part.batch.column("temp_c").to_pylist() == [r["temp_c"] or None for r in _text_rows(folder, "vitals")]
    notes = list(text_batches(folder, "notes", jsonl_rows=1))
    assert [(p.file, p.first_row, len(p.batch)) for p in notes] == [("notes.jsonl", 1, 1), ("notes.jsonl", 2, 1)]
    assert read_table(folder, "vitals").num_rows == len(day_tables()["vitals"]["vital_id"])


@pytest.mark.parametrize(("edit", "where"), [
    (lambda text: text.replace(",118,", ",1x8,", 1), "vitals.csv heart_rate"),
    (lambda text: STAMP.sub("yesterday", text, count=1), "vitals.csv event_time"),
    (lambda text: text.replace("heart_rate", "hr", 1), "vitals.csv"),
])
def test_damage_is_a_contract_error_naming_file_and_column(tmp_path, edit, where):
    """A cell of the wrong type, a bad timestamp or a header off the contract is one ContractError."""
    folder = write_day(tmp_path / "day")
    path = folder / "vitals.csv"
    path.write_text(edit(path.read_text()))
    with pytest.raises(ContractError) as err:
        load_day(folder)
    assert err.value.where.endswith(where)


def test_coerce_leaves_out_cells_that_do_not_parse(tmp_path):
    """With errors="coerce" a damaged cell becomes missing and the rest of the table is read."""
    folder = write_day(tmp_path / "day")
    path = folder / "vitals.csv"
    path.write_text(STAMP.sub("yesterday", path.read_text().replace(",118,", ",1x8,", 1), count=1))
    vitals = load_day(folder, errors="coerce")["vitals"]
    assert len(vitals) == 4 and vitals["heart_rate"].tolist()[1:] == [104, pd.NA, 88]
    assert pd.isna(vitals["heart_rate"][0]) and pd.isna(vitals["event_time"][0])
    assert vitals["event_time"][1:].notna().all()


def test_missing_file_and_unknown_zone_are_named(tmp_path):
    """A day without one of its five files, or a zone that does not exist, is refused clearly."""
    folder = write_day(tmp_path / "day")
    with pytest.raises(UsageError):
        load_day(folder, tz="Mars/Olympus")
    (folder / "labs.csv").unlink()
    with pytest.raises(ContractError) as err:
        load_day(folder)
    assert err.value.where == str(folder / "labs.csv")


# ---------------------------------------------------------------- README's recipes

def _readme_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Loading a day\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_recipes_give_what_load_day_gives(sample, monkeypatch, tmp_path):
    """The README's load_day, plain-pandas and DuckDB recipes run, and agree with load_day."""
    day_copy = tmp_path / "data" / "sample" / DAY.isoformat()
    shutil.copytree(SAMPLE, day_copy)
    monkeypatch.chdir(tmp_path)
    with_load_day, with_pandas, with_duckdb = ({} for _ in range(3))
    blocks = _readme_blocks()
    assert len(blocks) == 3
    for block, namespace in zip(blocks, (with_load_day, with_pandas, with_duckdb), strict=True):
        exec(block, namespace)  # the README's own code
    for name, frame in with_load_day["day"].items():
        pd.testing.assert_frame_equal(frame, sample[name])
    for name in ("patients", "vitals", "notes"):
        ours = with_pandas[name]
        pd.testing.assert_frame_equal(ours, sample[name], check_dtype=False, obj=name)
        for col in ours.columns:
            assert ours[col].dtype.kind == sample[name][col].dtype.kind, (name, col)
            assert str(ours[col].dtype).split("[")[0] == str(sample[name][col].dtype).split("[")[0], (name, col)
    zips = with_duckdb["patients"].df()["zip"].tolist()
    assert zips == sample["patients"]["zip"].tolist()
    types = dict(zip(with_duckdb["vitals"].columns, map(str, with_duckdb["vitals"].types), strict=True))
    assert types["event_time"] == "TIMESTAMP WITH TIME ZONE" and types["heart_rate"] == "BIGINT"
    assert with_duckdb["notes"].shape[0] == len(sample["notes"])
