"""The writer: exact decimals, empty cells, CSV quoting, JSONL shape, DST offsets, determinism."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from data_generator import contracts, writer
from data_generator.errors import ContractError
from data_generator.timeutil import format_rfc3339, zone
from data_generator.validation import validate_day
from tests.test_validate import BATCH, TZ, day_tables, obj, write_day

UTC = zone("UTC")


def _schema(file: str, **props) -> dict:
    """A small contract for writer tests: column name -> property schema."""
    return {"x-file": file, "type": "object", "properties": props}


def test_round_trip_validates(tmp_path):
    """A day written by the writer passes the validator (writer and contracts agree)."""
    report = validate_day(write_day(tmp_path / "day"), BATCH)
    assert report.ok, report.summary()


def test_byte_identical_on_repeat(tmp_path):
    """Writing the same tables twice gives the same bytes in every file."""
    a, b = write_day(tmp_path / "a"), write_day(tmp_path / "b")
    for path in sorted(a.iterdir()):
        assert path.read_bytes() == (b / path.name).read_bytes(), path.name


def test_decimals_exact():
    """Numbers print with exactly x-decimals places, rounded, with no negative zero."""
    schema = _schema("t.csv", x={"type": ["number", "null"], "x-decimals": 1},
                     y={"type": ["number", "null"], "x-decimals": 2})
    cells = writer.format_columns(
        {"x": np.array([37.0, 36.96, -0.04, 100.0, np.nan]),
         "y": np.array([0.21, 1.0, 0.2, 1180.0, -3.456])}, schema, UTC)
    assert cells["x"].to_pylist() == ["37.0", "37.0", "0.0", "100.0", None]
    assert cells["y"].to_pylist() == ["0.21", "1.00", "0.20", "1180.00", "-3.46"]


def test_integers_from_float_with_nan():
    """Integer columns accept float64 with NaN (-> empty) and print without decimals."""
    schema = _schema("t.csv", n={"type": ["integer", "null"]})
    cells = writer.format_columns({"n": np.array([72.0, np.nan, 0.0])}, schema, UTC)
    assert cells["n"].to_pylist() == ["72", None, "0"]


def test_non_integer_in_integer_column_is_an_error():
    """72.4 in an integer column is a ContractError, not silently rounded."""
    schema = _schema("t.csv", n={"type": ["integer", "null"]})
    with pytest.raises(ContractError):
        writer.format_columns({"n": np.array([72.4])}, schema, UTC)


def test_columns_must_match_contract(tmp_path):
    """A table missing a schema column (or with an extra one) is refused before writing."""
    tables = day_tables()
    del tables["vitals"]["pain_score"]
    with pytest.raises(ContractError):
        write_day(tmp_path / "day", tables)


def test_empty_cells_for_missing(tmp_path):
    """NaN, None and "" all become empty, unquoted CSV cells."""
    schema = _schema("t.csv", a={"type": ["number", "null"], "x-decimals": 1},
                     b={"type": ["string", "null"]}, c={"type": ["string", "null"]})
    path = tmp_path / "t.csv"
    writer.write_table(path, {"a": np.array([np.nan]), "b": obj(None), "c": obj("")}, schema, UTC)
    assert path.read_text() == "a,b,c\n,,\n"


def test_csv_quoting(tmp_path):
    """Commas, quotes and line breaks are quoted (RFC 4180); plain text is not."""
    schema = _schema("t.csv", s={"type": "string"}, n={"type": "integer"})
    texts = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "é ünïcode"]
    path = tmp_path / "t.csv"
    writer.write_table(path, {"s": obj(*texts), "n": np.arange(6)}, schema, UTC)
    raw = path.read_text(encoding="utf-8")
    assert raw.startswith('s,n\nplain,0\n"a,b",1\n"say ""hi""",2\n"two\nlines",3\n')
    with open(path, newline="", encoding="utf-8") as f:
        assert [r["s"] for r in csv.DictReader(f)] == texts
    back = pacsv.read_csv(io.BytesIO(path.read_bytes()),
                          parse_options=pacsv.ParseOptions(newlines_in_values=True),
                          convert_options=pacsv.ConvertOptions(column_types={"s": pa.string()}))
    assert back.column("s").to_pylist() == texts


def test_dst_offsets_new_york():
    """Timestamps carry the offset in force at that instant, across both 2026 DST changes."""
    schema = _schema("t.csv", t={"type": "string", "format": "date-time"})
    epochs = np.array([1772953199, 1772953200,  # 2026-03-08 06:59:59Z / 07:00:00Z
                       1793511000, 1793514600])  # 2026-11-01 05:30Z / 06:30Z
    cells = writer.format_columns({"t": epochs}, schema, TZ)
    assert cells["t"].to_pylist() == [
        "2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00",
        "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"]


def test_timestamps_print_as_timeutil():
    """The writer's timestamps (printed by Arrow) are timeutil.format_rfc3339's (printed by
    numpy), across DST in New York and over the years 1 to 9999 in UTC."""
    schema = _schema("t.csv", t={"type": "string", "format": "date-time"})
    rng = np.random.default_rng(7)
    cases = [(TZ, rng.integers(-2208988800, 4102444800, 2000)),      # 1900 to 2100
             (UTC, rng.integers(-62135596800, 253402300800, 2000))]  # 0001 to 9999
    for tz, epochs in cases:
        epochs = np.sort(epochs)
        assert (writer.format_columns({"t": epochs}, schema, tz)["t"].to_pylist()
                == format_rfc3339(epochs, tz).tolist())


def test_dates():
    """datetime64[D] prints as YYYY-MM-DD, NaT as empty."""
    schema = _schema("t.csv", d={"type": ["string", "null"], "format": "date"})
    days = np.array(["1950-02-01", "NaT"], dtype="datetime64[D]")
    assert writer.format_columns({"d": days}, schema, UTC)["d"].to_pylist() == ["1950-02-01", None]


def test_jsonl_shape(tmp_path):
    """JSONL: one compact object per line, schema key order, null, JSON numbers, raw UTF-8."""
    schema = _schema("t.jsonl", id={"type": "string"}, n={"type": ["integer", "null"]},
                     x={"type": ["number", "null"], "x-decimals": 1},
                     t={"type": "string", "format": "date-time"}, s={"type": ["string", "null"]})
    table = {"id": obj("a", "b"), "n": np.array([3.0, np.nan]), "x": np.array([37.0, np.nan]),
             "t": np.array([0, 60]), "s": obj('Ré "q"\nx', None)}
    path = tmp_path / "t.jsonl"
    assert writer.write_table(path, table, schema, UTC) == 2
    raw = path.read_bytes().decode("utf-8")
    assert raw == ('{"id":"a","n":3,"x":37.0,"t":"1970-01-01T00:00:00+00:00","s":"Ré \\"q\\"\\nx"}\n'
                   '{"id":"b","n":null,"x":null,"t":"1970-01-01T00:01:00+00:00","s":null}\n')
    first = json.loads(raw.splitlines()[0])
    assert list(first) == ["id", "n", "x", "t", "s"] and isinstance(first["n"], int)


def test_jsonl_strings_escape_as_json_dumps(tmp_path):
    """JSONL strings are what json.dumps(ensure_ascii=False) writes: every control character,
    quote and backslash escaped, everything else (DEL, non-ASCII, U+2028) as it is."""
    schema = _schema("t.jsonl", s={"type": ["string", "null"]})
    texts = ["plain", 'q"uote', "back\\slash", "\b\f\n\r\t", "".join(map(chr, range(1, 32))),
             "\x7f é ✓ \u2028", None, "plain again"]
    path = tmp_path / "t.jsonl"
    writer.write_table(path, {"s": obj(*texts)}, schema, UTC)
    expected = "".join('{"s":' + json.dumps(t, ensure_ascii=False) + "}\n" for t in texts)
    assert path.read_bytes().decode("utf-8") == expected


def test_empty_table(tmp_path):
    """Zero rows write the header only (CSV) or nothing (JSONL)."""
    schema = contracts.load_contract("vitals")
    empty = {c: np.array([], dtype=object) for c in contracts.columns(schema)}
    for c in ("event_time", "heart_rate", "resp_rate", "sbp", "dbp", "map", "spo2", "pain_score"):
        empty[c] = np.array([], dtype=np.int64)
    for c in ("temp_c", "fio2"):
        empty[c] = np.array([], dtype=float)
    path = tmp_path / "vitals.csv"
    assert writer.write_table(path, empty, schema, TZ) == 0
    assert path.read_text() == ",".join(contracts.columns(schema)) + "\n"


def test_chunked_writing_matches_single_chunk(tmp_path, monkeypatch):
    """Writing in several chunks gives the same bytes as one chunk."""
    tables = day_tables()
    schema = contracts.load_contract("vitals")
    writer.write_table(tmp_path / "one.csv", tables["vitals"], schema, TZ)
    monkeypatch.setattr(writer, "CHUNK_ROWS", 3)
    writer.write_table(tmp_path / "many.csv", tables["vitals"], schema, TZ)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()


@pytest.mark.parametrize("name", ["vitals", "notes", "patients"])
def test_table_writer_chunks_match_one_write(tmp_path, name):
    """Appending uneven chunks with TableWriter gives the bytes of one write_table call."""
    table = day_tables()[name]
    schema = contracts.load_contract(name)
    n = len(next(iter(table.values())))
    writer.write_table(tmp_path / "one", table, schema, TZ)
    with writer.TableWriter(tmp_path / "many", schema, TZ) as out:
        for rows in (slice(0, 1), slice(1, 1), slice(1, n)):
            out.write({k: np.asarray(v)[rows] for k, v in table.items()})
    assert out.close() == n
    assert (tmp_path / "one").read_bytes() == (tmp_path / "many").read_bytes()


def test_table_writer_without_chunks_writes_header(tmp_path):
    """A TableWriter closed before any chunk leaves a header-only CSV."""
    schema = contracts.load_contract("encounters")
    with writer.TableWriter(tmp_path / "encounters.csv", schema, TZ) as out:
        pass
    assert out.rows == 0
    assert (tmp_path / "encounters.csv").read_text() == ",".join(contracts.columns(schema)) + "\n"


def test_data_file_names():
    """CSV/JSONL names stay the contract's; Parquet is <stem>.parquet; other formats are refused."""
    notes = contracts.load_contract("notes")
    assert writer.data_file("d", notes).name == "notes.jsonl"
    assert writer.data_file("d", notes, "parquet").name == "notes.parquet"
    with pytest.raises(ContractError):
        writer.data_file("d", notes, "xlsx")
