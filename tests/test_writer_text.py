"""The writer's text at scale: CSV quoting put in at its place across many rows and columns,
JSON escapes over mixed columns, numbers printed alike however many distinct values a column
has, and str columns taken from their code units."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from data_generator import writer
from data_generator.timeutil import format_rfc3339, zone

UTC = zone("UTC")
TEXTS = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "é ünïcode", "", None, ",", '"']


def _schema(file: str, **props) -> dict:
    return {"x-file": file, "type": "object", "properties": props}


def _fixed(value: float, places: int) -> str:
    """The contract's fixed-point text, printed by Python's integer formatting."""
    scaled = int(np.rint(value * 10**places))
    sign, scaled = ("-" if scaled < 0 else ""), abs(scaled)
    if not places:
        return f"{sign}{scaled}"
    return f"{sign}{scaled // 10**places}.{scaled % 10**places:0{places}d}"


@pytest.fixture(scope="module")
def mixed():
    """3,000 rows (several CSV batches): two free-text columns, an optional timestamp with gaps
    to their left, numbers and an identifier; written in three uneven chunks."""
    rng = np.random.default_rng(5)
    n = 3000
    times = rng.integers(1_760_000_000, 1_770_000_000, n).astype(float)
    times[rng.random(n) < 0.2] = np.nan
    value = np.round(rng.normal(5, 3, n), 2)
    value[rng.random(n) < 0.1] = np.nan
    table = {"id": np.array([f"ID-{i:05d}" for i in range(n)]),
             "t": times,
             "a": np.array([TEXTS[i] for i in rng.integers(0, len(TEXTS), n)], dtype=object),
             "x": value,
             "b": np.array([TEXTS[i] for i in rng.integers(0, len(TEXTS), n)], dtype=object)}
    schema = _schema("t.csv", id={"type": "string"}, t={"type": ["string", "null"], "format": "date-time"},
                     a={"type": ["string", "null"]}, x={"type": ["number", "null"], "x-decimals": 2},
                     b={"type": ["string", "null"]})
    return table, schema


def test_csv_quoted_cells_at_their_place(tmp_path, mixed):
    """Every row reads back (through Python's csv module) as the values written, with quoted
    cells in both free-text columns, across chunks and the CSV writer's batches."""
    table, schema = mixed
    path = tmp_path / "t.csv"
    with writer.TableWriter(path, schema, UTC) as out:
        for rows in (slice(0, 1), slice(1, 1700), slice(1700, None)):
            out.write({k: v[rows] for k, v in table.items()})
    with open(path, newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert len(back) == 3000
    stamps = format_rfc3339(np.nan_to_num(table["t"]).astype(np.int64), UTC)
    for i, row in enumerate(back):
        assert row["id"] == table["id"][i]
        assert row["t"] == ("" if np.isnan(table["t"][i]) else stamps[i])
        assert row["a"] == (table["a"][i] or "") and row["b"] == (table["b"][i] or ""), i
        assert row["x"] == ("" if np.isnan(table["x"][i]) else _fixed(table["x"][i], 2))
    raw = path.read_text(encoding="utf-8")
    assert '"say ""hi"""' in raw and '"a,b"' in raw and "\nID-" in raw


def test_jsonl_escapes_over_mixed_columns(tmp_path, mixed):
    """JSONL lines equal json.dumps of each row (ensure_ascii off), for a column where only some
    rows need escapes, one where every row does, and one never null."""
    table, _ = mixed
    rng = np.random.default_rng(9)
    n = len(table["id"])
    present = [t for t in TEXTS if t]
    texts = np.array([present[i] for i in rng.integers(0, len(present), n)], dtype=object)
    rows = {"id": table["id"], "a": table["a"],
            "all": np.array([f"line\n{i}\t\x01\\" for i in range(n)], dtype=object), "c": texts}
    schema = _schema("t.jsonl", id={"type": "string"}, a={"type": ["string", "null"]},
                     all={"type": "string"}, c={"type": "string"})
    path = tmp_path / "t.jsonl"
    writer.write_table(path, rows, schema, UTC)
    expected = "".join(json.dumps({k: (None if v[i] in ("", None) else str(v[i])) for k, v in rows.items()},
                                  ensure_ascii=False, separators=(",", ":")) + "\n" for i in range(n))
    assert path.read_bytes().decode("utf-8") == expected


@pytest.mark.parametrize("places", [0, 1, 2, 3])
def test_numbers_print_alike_whatever_their_spread(places):
    """A column of few distinct values (printed once each and looked up) and the same values
    next to a far outlier (printed one by one) give the same text, the contract's fixed point."""
    rng = np.random.default_rng(places)
    values = np.round(rng.normal(0, 4, 500), places)
    values[::7] = np.nan
    kind = {"type": ["number", "null"], "x-decimals": places} if places else {"type": ["integer", "null"]}
    schema = _schema("t.csv", v=kind)
    near = writer.format_columns({"v": values}, schema, UTC)["v"].to_pylist()
    far = writer.format_columns({"v": np.append(values, 1e9)}, schema, UTC)["v"].to_pylist()
    expected = [None if np.isnan(v) else _fixed(v, places) for v in values]
    assert near == expected and far[:-1] == expected


def test_str_columns_from_code_units():
    """numpy str columns print as their values: ASCII of one or several widths, non-ASCII, and
    empty (missing), also from a strided view."""
    schema = _schema("t.csv", s={"type": ["string", "null"]})
    cases = [["ENC-1", "ENC-22", ""], ["P0000001", "P0000002"], ["é", "ab", ""], ["x"] * 3]
    for values in cases:
        array = np.array(values)
        expected = [v or None for v in values]
        assert writer.format_columns({"s": array}, schema, UTC)["s"].to_pylist() == expected
        doubled = np.array([v for v in values for _ in (0, 1)])[::2]
        assert writer.format_columns({"s": doubled}, schema, UTC)["s"].to_pylist() == expected


def test_timestamps_with_gaps():
    """A date-time column with missing values prints the others as format_rfc3339 does."""
    schema = _schema("t.csv", t={"type": ["string", "null"], "format": "date-time"})
    tz = zone("America/New_York")
    epochs = np.array([1772953199.0, np.nan, 1772953200.0, np.nan, 1793514600.0])
    got = writer.format_columns({"t": epochs}, schema, tz)["t"].to_pylist()
    printed = format_rfc3339(np.nan_to_num(epochs).astype(np.int64), tz)
    assert got == [printed[0], None, printed[2], None, printed[4]]
