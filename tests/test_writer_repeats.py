"""The writer's repeated values, printed once and looked up: object columns of a few repeated
objects, numbers of few distinct values over a wide span, timestamps in runs; and UTC offsets
looked up by blocks of hours. Each prints what printing every value on its own prints."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np

from data_generator import writer
from data_generator.timeutil import format_rfc3339, utc_offsets, zone

UTC = zone("UTC")
CATEGORIES = ["A", "nasal_cannula", "", None, "pH, arterial", 'say "hi"', "two\nlines", "é ✓"]


def _schema(file: str, **props) -> dict:
    return {"x-file": file, "type": "object", "properties": props}


def _fresh(values: list) -> np.ndarray:
    """The same values as new objects, one per row (no two rows share a string)."""
    return np.array([None if v is None else "".join([v, "x"])[:-1] for v in values], dtype=object)


def test_repeated_objects_print_as_their_values(tmp_path):
    """A column that repeats a few objects (categories taken by their codes) prints, in CSV and
    JSONL, the same text as the same values held by one object per row."""
    rng = np.random.default_rng(3)
    codes = rng.integers(0, len(CATEGORIES), 2000)
    shared = np.array(CATEGORIES, dtype=object)[codes]
    values = shared.tolist()
    assert len({id(v) for v in values}) <= len(CATEGORIES)
    fresh = _fresh(values)
    schema = _schema("t.csv", s={"type": ["string", "null"]})
    expected = [v or None for v in values]
    assert writer.format_columns({"s": shared}, schema, UTC)["s"].to_pylist() == expected
    assert writer.format_columns({"s": fresh}, schema, UTC)["s"].to_pylist() == expected
    rows = np.arange(len(values))
    for file in ("t.csv", "t.jsonl"):  # a row number beside, so that no CSV line is blank
        schema = _schema(file, i={"type": "integer"}, s={"type": ["string", "null"]})
        shared_bytes = writer.table_bytes({"i": rows, "s": shared}, schema, UTC)
        assert shared_bytes == writer.table_bytes({"i": rows, "s": fresh}, schema, UTC)
        text = shared_bytes.decode("utf-8")
        if file == "t.csv":
            back = [row["s"] for row in csv.DictReader(io.StringIO(text, newline=""))]
            assert back == [v or "" for v in values]
        else:
            assert [json.loads(line)["s"] for line in text.splitlines()] == expected


def test_object_columns_of_no_row_one_row_or_one_repeated_object():
    """The edge sizes: no rows, one row, one object repeated (the looked-up path's smallest)."""
    schema = _schema("t.csv", s={"type": ["string", "null"]})
    for values in ([], ["only"], ["same"] * 5, [None] * 3, ["a", "b", "a"]):
        column = np.array(values, dtype=object)
        assert writer.format_columns({"s": column}, schema, UTC)["s"].to_pylist() == [v or None for v in values]


def test_few_numbers_over_a_wide_span():
    """Numbers of few distinct values far apart (reference ranges) with gaps print as each
    value printed on its own, for decimals and integers."""
    rng = np.random.default_rng(4)
    values = np.array([4.0, 11.3, 150.0, 450.0, 0.05, -2.5, np.nan])[rng.integers(0, 7, 3000)]
    cells = writer.format_columns({"x": values, "n": np.round(values * 100)},
                                  _schema("t.csv", x={"type": ["number", "null"], "x-decimals": 2},
                                          n={"type": ["integer", "null"]}), UTC)
    assert cells["x"].to_pylist() == [None if np.isnan(v) else f"{v:.2f}" for v in values]
    assert cells["n"].to_pylist() == [None if np.isnan(v) else str(int(round(v * 100))) for v in values]


def test_timestamps_in_runs():
    """Timestamps that come in runs (with missing values inside and between runs, across a DST
    change) print as format_rfc3339 prints each one."""
    tz = zone("America/New_York")
    rng = np.random.default_rng(5)
    starts = 1772953199 + np.sort(rng.integers(-3 * 86400, 3 * 86400, 300))
    epochs = np.repeat(starts, rng.integers(1, 9, len(starts))).astype(float)
    epochs[rng.random(len(epochs)) < 0.05] = np.nan
    got = writer.format_columns({"t": epochs}, _schema("t.csv", t={"type": ["string", "null"],
                                                                    "format": "date-time"}), tz)["t"]
    printed = format_rfc3339(np.nan_to_num(epochs).astype(np.int64), tz)
    assert got.to_pylist() == [None if np.isnan(e) else p for e, p in zip(epochs, printed, strict=True)]


def test_utc_offsets_across_blocks_of_hours():
    """Offsets looked up by blocks of hours equal the standard library's for each value, over
    spans that cross several blocks, in zones with hourly and half-hourly changes."""
    rng = np.random.default_rng(6)
    for name in ("America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"):
        tz = zone(name)
        for start in (1_700_000_000, 1_774_000_000):
            epoch = start + rng.integers(0, 200 * 86400, 500)
            expected = [dt.datetime.fromtimestamp(int(e), tz).utcoffset().total_seconds() for e in epoch]
            assert utc_offsets(epoch, tz).tolist() == expected
