"""The one writer: an in-memory table to CSV, JSONL or Parquet, exactly as its contract says.

A table is `dict[str, np.ndarray]` with the schema's columns as keys and equal lengths:

- integer columns: int64, or float64 with NaN for missing (values must be whole numbers);
- number columns: float64 with NaN for missing, printed with exactly `x-decimals` decimals;
- string columns: object or str arrays, None or "" for missing;
- date-time columns: int64 epoch seconds (UTC), printed as RFC 3339 with the zone's offset;
- date columns: datetime64[D] (NaT for missing), printed as YYYY-MM-DD.

Formatting is vectorised (per-cell Python only for the few quoted cells) and prints a repeated
value once: numbers are printed by pyarrow compute, once per distinct value when a column has few
(looked up by their place in a narrow span or by their code); timestamps are assembled as
fixed-width byte records in numpy, once per run of equal values; an object column that repeats a
few objects converts each object once; ASCII str arrays become Arrow strings from their code
units. CSV lines come from pyarrow's CSV writer, with the few values that need quotes put in at
their places; JSONL lines are joined by pyarrow compute, each JSON escape one replacement over a
whole column.
Output is byte-deterministic: same table, same bytes.

A table may be written in chunks (`TableWriter.write` per chunk, bounded memory); the bytes do
not depend on how it was chunked. `fmt="csv"` writes the contract's text file (CSV, or JSONL
for notes); `fmt="parquet"` writes `<stem>.parquet` with typed columns: timestamps as
`timestamp("s", tz=<zone>)`, integers int64, numbers float64 rounded to `x-decimals`, dates
date32, and the contract's `enum` or `x-dictionary` strings dictionary-encoded; every column
is nullable (the contract, not the storage, says what is required). Row groups hold
`ROW_GROUP_ROWS` rows whatever the chunking.
"""

from __future__ import annotations

import functools
import importlib.abc
import io
import json
import sys
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data_generator.contracts import column_type, columns, dictionary_encoded, file_name
from data_generator.errors import ContractError
from data_generator.timeutil import DAY, format_date, rfc3339_parts

CHUNK_ROWS = 1 << 18  # bounded memory and string offsets for very large tables
ROW_GROUP_ROWS = 1 << 17  # Parquet rows per row group (the last one may be shorter)
FORMATS = ("csv", "parquet")
# No wall-clock time goes into a Parquet file; these settings fix everything else.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "write_statistics": True,
                   "use_dictionary": True, "version": "2.6", "store_schema": True}
_NEEDS_QUOTES_CHARS = b',"\r\n'  # a CSV value holding one of these is quoted
# Lines without a header, each cell as it is: values that need quotes are put in separately
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")
_RFC3339 = np.dtype([("date", "S11"), ("clock", "S8"), ("offset", "S6")])  # '2026-01-15T' '08:23:00' '-05:00'
_FIRST_DAY, _LAST_DAY = -719162, 2932896  # 0001-01-01 and 9999-12-31, in days since 1970-01-01
_json_string = json.JSONEncoder(ensure_ascii=False).encode  # = json.dumps(s, ensure_ascii=False)
# The characters json.dumps escapes when ensure_ascii is off, and their escapes, backslash first
_JSON_ESCAPES = {char: _json_string(char)[1:-1] for char in ["\\", '"', *map(chr, range(0x20))]}


def data_file(folder: Path, schema: dict, fmt: str = "csv") -> Path:
    """Where a table of `fmt` lives in `folder`: the contract's file, or `<stem>.parquet`."""
    name = file_name(schema)
    if _check_format(fmt, name) == "parquet":
        name = name.rsplit(".", 1)[0] + ".parquet"
    return Path(folder) / name


def write_table(path: Path, table: dict, schema: dict, tz: ZoneInfo, fmt: str = "csv") -> int:
    """Write `table` to `path` as the schema's CSV/JSONL file or as Parquet; returns the rows."""
    with TableWriter(path, schema, tz, fmt) as out:
        out.write(table)
    return out.rows


def arrow_ready() -> None:
    """Build one Arrow array, so that what pyarrow does once per process on its first array is
    done here: it imports pandas when pandas is installed (about 0.2 s; with the test or plots
    extras), unless `arrow_without_pandas` ran first. A day does it before anything is written,
    and before any worker is forked."""
    pa.array([], pa.string())


class _Hidden(importlib.abc.MetaPathFinder):
    """An import finder that finds no `package` (nor its modules)."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] == self.package:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def arrow_without_pandas() -> None:
    """pyarrow's first array in a process, made with pandas hidden: for a process that hands
    pyarrow no pandas objects (the commands that generate days). On its first array pyarrow
    looks for pandas, to tell pandas objects from other sequences later, and imports it where
    it is installed (about 0.2 s, serial, before a day's workers start). Shown none, it imports
    pandas only for a call that needs pandas itself (`to_pandas`, `Table.from_pandas`); until
    then `pa.array` would take a pandas Series for a plain sequence, so library callers do not
    get this. A process that has imported pandas already is left as it is (pyarrow finds it at
    no cost)."""
    if "pandas" in sys.modules:
        return
    hidden = _Hidden("pandas")
    sys.meta_path.insert(0, hidden)
    try:
        pa.array([0]).to_numpy()  # the array's own look, and that of its conversion to numpy
    finally:
        sys.meta_path.remove(hidden)


def table_bytes(table: dict, schema: dict, tz: ZoneInfo) -> bytes:
    """The bytes `write_table` writes for a CSV/JSONL table."""
    buffer = io.BytesIO()
    with TableWriter(Path(file_name(schema)), schema, tz, out=buffer) as out:
        out.write(table)
    return buffer.getvalue()


class TableWriter:
    """One file written chunk by chunk: `.write(chunk)` appends rows, `.close()` finishes it.

    Also a context manager. The bytes equal one `write_table` call on the concatenated chunks.
    """

    def __init__(self, path: Path, schema: dict, tz: ZoneInfo, fmt: str = "csv", out: BinaryIO | None = None) -> None:
        """`out`: a binary stream the CSV/JSONL bytes go to instead of the file `path` (the
        caller's: not closed here)."""
        self.path, self.schema, self.tz = Path(path), schema, tz
        self.fmt = _check_format(fmt, file_name(schema))
        self.rows = 0
        self._closed = False
        self._csv = file_name(schema).endswith(".csv")
        self._keep_open = out is not None
        if self.fmt == "parquet" and out is not None:
            raise ValueError("a Parquet file is written to its path, not to a stream")
        if self.fmt == "parquet":
            self._plain = arrow_schema(schema, tz, dictionaries=False)
            self._pending: list[pa.Table] = []
            self._pending_rows = 0
            self._out = pq.ParquetWriter(self.path, arrow_schema(schema, tz), **PARQUET_OPTIONS)
        else:
            self._out = open(self.path, "wb") if out is None else out  # noqa: SIM115 (closed by close())
            if self._csv:
                self._out.write((",".join(columns(schema)) + "\n").encode())

    def write(self, table: dict) -> int:
        """Append the rows of `table` (a column dict, see the module docstring)."""
        if self._closed:
            raise ContractError(str(self.path), "write after close")
        n = _check_shape(table, self.schema)
        for start in range(0, n, CHUNK_ROWS):
            chunk = {k: np.asarray(v)[start:start + CHUNK_ROWS] for k, v in table.items()}
            if self.fmt == "parquet":
                self._pending.append(_arrow_table(chunk, self.schema, self._plain, self.tz))
                self._pending_rows += min(CHUNK_ROWS, n - start)
                while self._pending_rows >= ROW_GROUP_ROWS:
                    self._flush(ROW_GROUP_ROWS)
            else:
                cells = format_columns(chunk, self.schema, self.tz)
                if self._csv:
                    _write_csv_lines(cells, self.schema, self._out)
                else:
                    self._out.write(_jsonl_lines(cells, self.schema))
        self.rows += n
        return n

    def close(self) -> int:
        """Finish the file (idempotent); returns the total rows written."""
        if not self._closed:
            self._closed = True
            try:
                if self.fmt == "parquet" and self._pending_rows:
                    self._flush(self._pending_rows)
            finally:
                if not self._keep_open:
                    self._out.close()
        return self.rows

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _flush(self, rows: int) -> None:
        """Write the first `rows` pending rows as one row group."""
        pending = pa.concat_tables(self._pending)
        head, rest = pending.slice(0, rows), pending.slice(rows)
        self._out.write_table(_dictionary_columns(head.combine_chunks(), self._out.schema),
                              row_group_size=rows)
        self._pending, self._pending_rows = [rest], rest.num_rows


def arrow_schema(schema: dict, tz: ZoneInfo, dictionaries: bool = True) -> pa.Schema:
    """The Parquet file's Arrow schema for a contract (column order and types)."""
    return pa.schema([pa.field(name, _arrow_type(prop, tz, dictionaries), nullable=True)
                      for name, prop in schema["properties"].items()])


def _arrow_type(prop: dict, tz: ZoneInfo, dictionaries: bool) -> pa.DataType:
    kind = column_type(prop)
    if kind == "integer":
        return pa.int64()
    if kind == "number":
        return pa.float64()
    if kind == "date-time":
        return pa.timestamp("s", tz=tz.key)
    if kind == "date":
        return pa.date32()
    if dictionaries and dictionary_encoded(prop):
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


def _check_format(fmt: str, where: str) -> str:
    if fmt not in FORMATS:
        raise ContractError(where, "unknown output format", found=fmt,
                            hint=f"use one of {', '.join(FORMATS)}")
    return fmt


def _arrow_table(table: dict, schema: dict, plain: pa.Schema, tz: ZoneInfo) -> pa.Table:
    arrays = [_typed(name, np.asarray(table[name]), prop, tz)
              for name, prop in schema["properties"].items()]
    return pa.Table.from_arrays(arrays, schema=plain)


def _dictionary_columns(table: pa.Table, target: pa.Schema) -> pa.Table:
    arrays = [pc.dictionary_encode(column) if pa.types.is_dictionary(field.type) else column
              for column, field in zip(table.columns, target, strict=True)]
    return pa.Table.from_arrays(arrays, schema=target)


def _typed(name: str, values: np.ndarray, prop: dict, tz: ZoneInfo) -> pa.Array:
    """One column as its Parquet values: the same values the text formats print."""
    kind = column_type(prop)
    try:
        if kind == "integer":
            missing, whole = _whole_numbers(values)
            return pa.array(whole, mask=missing, type=pa.int64())
        if kind == "number":
            missing = _missing_floats(values)
            places = 10.0 ** prop.get("x-decimals", 2)
            rounded = np.rint(np.where(missing, 0.0, values.astype(np.float64)) * places)
            return pa.array(rounded / places + 0.0, mask=missing, type=pa.float64())
        if kind == "date-time":
            missing = _missing_floats(values)
            epoch = np.where(missing, 0, values).astype(np.int64)
            return pa.array(epoch, mask=missing, type=pa.timestamp("s", tz=tz.key))
        if kind == "date":
            days = np.asarray(values, dtype="datetime64[D]")
            missing = np.isnat(days)
            return pa.array(np.where(missing, np.datetime64(0, "D"), days), mask=missing,
                            type=pa.date32())
        return _strings(values)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise ContractError(f"column {name}", f"cannot store as {kind}: {exc}",
                            found=str(values.dtype),
                            hint="see the table convention in data_generator/writer.py") from None


def format_columns(table: dict, schema: dict, tz: ZoneInfo) -> dict[str, pa.Array]:
    """Each column as its printed text: a pyarrow string array, null = missing."""
    _check_shape(table, schema)
    return {name: _format(name, np.asarray(table[name]), prop, tz)
            for name, prop in schema["properties"].items()}


def _check_shape(table: dict, schema: dict) -> int:
    where = file_name(schema)
    cols = columns(schema)
    missing = [c for c in cols if c not in table]
    extra = [c for c in table if c not in schema["properties"]]
    if missing or extra:
        raise ContractError(where, "table columns differ from the contract",
                            found={"missing": missing, "extra": extra},
                            hint="give exactly the schema's columns")
    lengths = {c: len(table[c]) for c in cols}
    if len(set(lengths.values())) > 1:
        raise ContractError(where, "columns have different lengths", found=lengths)
    return lengths[cols[0]] if cols else 0


def _format(name: str, values: np.ndarray, prop: dict, tz: ZoneInfo) -> pa.Array:
    kind = column_type(prop)
    try:
        if kind == "integer":
            return _integers(values)
        if kind == "number":
            return _decimals(values, prop.get("x-decimals", 2))
        if kind == "date-time":
            return _timestamps(values, tz)
        if kind == "date":
            return _dates(values)
        return _strings(values)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise ContractError(f"column {name}", f"cannot print as {kind}: {exc}",
                            found=str(values.dtype),
                            hint="see the table convention in data_generator/writer.py") from None


def _missing_floats(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "iu":
        return np.zeros(len(values), dtype=bool)
    if values.dtype.kind != "f":
        raise TypeError(f"expected int64 or float64, got {values.dtype}")
    if np.isinf(values).any():
        raise ValueError("infinite value")
    return np.isnan(values)


def _whole_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(missing mask, int64 values, 0 where missing) of an integer column given as int64 or
    float64 with NaN."""
    missing = _missing_floats(values)
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            fractional = np.rint(values) != values  # NaN too
        if (fractional & ~missing).any():
            raise ValueError("non-integer value in an integer column")
    return missing, _int64(values, missing)


def _int64(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Whole numbers as int64, 0 where `missing` (NaN in a float array)."""
    with np.errstate(invalid="ignore"):  # NaN becomes some integer, made 0 below
        whole = values.astype(np.int64)
    whole *= ~missing
    return whole


def _integers(values: np.ndarray) -> pa.Array:
    missing, whole = _whole_numbers(values)
    return _printed(whole, missing, lambda numbers: pc.cast(pa.array(numbers), pa.string()))


def _decimals(values: np.ndarray, places: int) -> pa.Array:
    """Fixed-point text with exactly `places` decimals ('37.0', '0.21', '-1.50')."""
    missing = _missing_floats(values)
    scaled = _int64(np.rint(values.astype(np.float64) * 10**places), missing)
    return _printed(scaled, missing, lambda numbers: _fixed_point(numbers, places))


def _fixed_point(scaled: np.ndarray, places: int) -> pa.Array:
    """The text of `scaled` / 10**places: the digits of each integer, padded to `places` + 1
    digits, with the point put in and the sign in front."""
    text = pc.cast(pa.array(np.abs(scaled)), pa.string())
    if places:
        text = pc.ascii_lpad(text, width=places + 1, padding="0")
        text = pc.utf8_replace_slice(text, start=-places, stop=-places, replacement=".")
    negative = scaled < 0
    if negative.any():
        text = pc.if_else(pa.array(negative), pc.binary_join_element_wise("-", text, ""), text)
    return text


def _printed(numbers: np.ndarray, missing: np.ndarray, to_text) -> pa.Array:
    """`to_text(numbers)`: each integer's text, null where `missing` (where `numbers` holds 0).
    A column of few distinct values prints each once and looks its text up: values in a narrow
    span (vital signs) by their place in the span, others (lab results, reference ranges) by
    their code."""
    if not len(numbers):
        return pa.nulls(0, pa.string())
    low, high = int(numbers.min()), int(numbers.max())
    if 8 * (high - low) < len(numbers):
        text = to_text(np.arange(low, high + 1, dtype=np.int64)).take(pa.array(numbers - low))
    else:
        coded = pc.dictionary_encode(pa.array(numbers))
        if 2 * len(coded.dictionary) < len(numbers):
            text = to_text(coded.dictionary.to_numpy()).take(coded.indices)
        else:
            text = to_text(numbers)
    return _with_missing(text, missing)


def _with_missing(text: pa.StringArray, missing: np.ndarray) -> pa.StringArray:
    """A string array (at offset 0 of its buffers) with the values where `missing` made null."""
    if not missing.any():
        return text
    return pa.StringArray.from_buffers(len(text), text.buffers()[1], text.buffers()[2], _validity(missing))


def _timestamps(values: np.ndarray, tz: ZoneInfo) -> pa.Array:
    """RFC 3339 with the zone's offset, 'YYYY-MM-DDTHH:MM:SS+HH:MM' (the same text as
    timeutil.format_rfc3339 for the years 1 to 9999): each value is a 25-byte record whose
    fields are looked up, the date among the days covered, the clock among the seconds of a
    day. A column whose values come in runs (a panel's tests drawn together) prints each run's
    value once."""
    missing = _missing_floats(values)
    if missing.any():  # a missing value stands in as a present one, so that the offsets looked up span the data
        present = values[~missing]
        values = np.where(missing, present[0] if len(present) else 0, values)
    epoch = values.astype(np.int64)
    starts = np.flatnonzero(epoch[1:] != epoch[:-1]) + 1  # where each run of equal values but the first starts
    if 2 * len(starts) < len(epoch):
        starts = np.concatenate(([0], starts))
        text = np.repeat(_rfc3339_records(epoch[starts], tz), np.diff(starts, append=len(epoch)))
    else:
        text = _rfc3339_records(epoch, tz)
    return _fixed_width_text(text.view(np.uint8).reshape(len(text), _RFC3339.itemsize), missing)


def _rfc3339_records(epoch: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    local, tails, which = rfc3339_parts(epoch, tz)
    day, second = np.divmod(local, DAY)
    text = np.empty(len(local), dtype=_RFC3339)
    text["date"] = _day_texts(day)
    text["clock"] = _clocks()[second]
    if len(tails) == 1:
        text["offset"] = tails[0].encode()
    else:
        text["offset"] = np.array(tails, dtype="S6")[which]
    return text


@functools.cache
def _clocks() -> np.ndarray:
    """'HH:MM:SS' (bytes) for each second of a day."""
    two_digits = np.array([f"{i:02d}" for i in range(60)], dtype="S2")
    hour, minute = np.divmod(np.arange(24 * 60), 60)
    minutes = np.char.add(np.char.add(two_digits[hour], b":"), np.char.add(two_digits[minute], b":"))
    return np.char.add(np.repeat(minutes, 60), np.tile(two_digits, 24 * 60)).astype("S8")


def _day_texts(day: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DDT' (bytes) for each value of days since 1970-01-01 (years 1 to 9999)."""
    if len(day) == 0:
        return np.zeros(0, dtype="S11")
    first, last = int(day.min()), int(day.max())
    if first < _FIRST_DAY or last > _LAST_DAY:
        raise ValueError("date-time outside the years 1 to 9999")
    if last - first < 4 * len(day):  # a day's events cover a few days: print each day of the span
        days, index = np.arange(first, last + 1), day - first
    else:
        days, index = np.unique(day, return_inverse=True)
    return np.strings.add(format_date(days.astype("datetime64[D]")), "T").astype("S11")[index]


def _fixed_width_text(text: np.ndarray, missing: np.ndarray) -> pa.Array:
    """A string array from a table of bytes, one row per value (null where `missing`)."""
    rows, width = text.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(text),
                                       _validity(missing))


def _validity(missing: np.ndarray) -> pa.Buffer | None:
    """Arrow's validity bitmap for a missing mask (None when nothing is missing)."""
    return pa.array(~missing).buffers()[1] if missing.any() else None


def _dates(values: np.ndarray) -> pa.Array:
    days = np.asarray(values, dtype="datetime64[D]")
    missing = np.isnat(days)
    return pa.array(format_date(np.where(missing, np.datetime64(0, "D"), days)),
                    mask=missing, type=pa.string())


def _strings(values: np.ndarray) -> pa.Array:
    """A str or object array as a string array, "" and None as null."""
    if values.dtype.kind == "U":
        return _empty_as_null(_unicode_text(values))
    if values.dtype.kind != "O":
        raise TypeError(f"expected str or object array, got {values.dtype}")
    # A column that repeats a few objects (categories taken by their codes) converts each object
    # once and looks it up by its code: the array holds references, and the same reference is
    # the same object.
    refs = pc.dictionary_encode(pa.array(np.frombuffer(np.ascontiguousarray(values), dtype=np.intp)))
    if 2 * len(refs.dictionary) >= len(values):  # mostly distinct objects (or none): each converted
        return _empty_as_null(pa.array(values, type=pa.string(), from_pandas=False))
    codes = refs.indices.to_numpy()
    one_of_each = np.empty(len(refs.dictionary), dtype=np.intp)
    one_of_each[codes] = np.arange(len(values))
    return _strings(values[one_of_each]).take(refs.indices)


def _empty_as_null(text: pa.Array) -> pa.Array:
    """A string array (at offset 0 of its buffers) with each empty value made null."""
    offsets = text.buffers()[1]
    missing = (np.diff(np.frombuffer(offsets, dtype=np.int32)[:len(text) + 1]) == 0) | _nulls(text)
    return pa.StringArray.from_buffers(len(text), offsets, text.buffers()[2], _validity(missing))


def _unicode_text(values: np.ndarray) -> pa.Array:
    """A numpy str array as a string array, "" as null. ASCII text (codes, identifiers) is taken
    from the array's UTF-32 code units directly: each value is its code units up to the first
    zero one, as pyarrow reads it."""
    values = np.ascontiguousarray(values)
    width = values.dtype.itemsize // 4
    units = values.view(np.uint32).reshape(len(values), width)
    if values.dtype.byteorder == ">" or not width or units.max(initial=0) > 0x7F:
        return _empty_as_null(pa.array(values, type=pa.string()))
    narrow = units.astype(np.uint8)
    if narrow.min(initial=1):  # every value fills the width
        return _fixed_width_text(narrow, np.zeros(len(values), dtype=bool))
    ends = narrow == 0
    lengths = np.where(ends.any(axis=1), np.argmax(ends, axis=1), width)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = narrow[np.arange(width) < lengths[:, None]]
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data),
                                       _validity(lengths == 0))


def _nulls(array: pa.Array) -> np.ndarray:
    """Which values of an Arrow array are null, as a numpy bool array."""
    if not array.null_count:
        return np.zeros(len(array), dtype=bool)
    return array.is_null().to_numpy(zero_copy_only=False)


def _write_csv_lines(cells: dict[str, pa.Array], schema: dict, out) -> None:
    """Write the CSV lines of a chunk to `out`. pyarrow's CSV writer prints the cells as they
    are (a missing value as an empty cell); a value that holds a comma, a quote or a line break
    is left empty there and put in, quoted (RFC 4180), at its place as the lines go out."""
    columns, quoted = [], []  # quoted: (column, its rows, their quoted text)
    for i, (name, prop) in enumerate(schema["properties"].items()):
        text = cells[name]
        if column_type(prop) == "string":  # only free text can need quotes
            rows = _rows_to_quote(text)
            if len(rows):
                quoted.append((i, rows, pc.binary_join_element_wise(
                    '"', pc.replace_substring(text.take(rows), '"', '""'), '"', "")))
                text = pc.replace_with_mask(text, _row_mask(len(text), rows),
                                            pa.nulls(len(rows), pa.string()))
        columns.append(text)
    inserts = []
    if quoted:
        texts = [value.encode() for _, _, values in quoted for value in values.to_pylist()]
        inserts = sorted(zip(_cell_starts(columns, quoted).tolist(), texts, strict=True))
    pacsv.write_csv(pa.Table.from_arrays(columns, names=list(cells)), _Inserting(out, inserts),
                    _CSV_OPTIONS)


class _Inserting:
    """A file-like sink that passes bytes on to `out`, with `inserts` (position, bytes), in
    order of position, put in before the byte at each position of what it is given."""

    closed = False

    def __init__(self, out, inserts: list[tuple[int, bytes]]) -> None:
        self._out, self._inserts, self._next, self._at = out, inserts, 0, 0

    def write(self, data) -> int:
        data, end, done = memoryview(data), self._at + len(data), 0
        while self._next < len(self._inserts) and self._inserts[self._next][0] <= end:
            at, value = self._inserts[self._next]
            self._out.write(data[done:at - self._at])
            self._out.write(value)
            done, self._next = at - self._at, self._next + 1
        self._out.write(data[done:])
        self._at = end
        return len(data)

    def flush(self) -> None:
        pass


def _cell_starts(columns: list[pa.Array], quoted: list[tuple[int, np.ndarray, pa.Array]]) -> np.ndarray:
    """Where each quoted cell (column, rows) starts in the CSV text of `columns`: after the
    lines above it (the bytes of their values, a comma after each but the last, a line break)
    and the cells left of it in its line, each with its comma."""
    rows = np.concatenate([r for _, r, _ in quoted])
    column = np.concatenate([np.full(len(r), i) for i, r, _ in quoted])
    at = rows * len(columns)
    for i, text in enumerate(columns):
        above, width = _bytes_above(text, rows)
        at += above + np.where(i < column, width + 1, 0)
    return at


def _bytes_above(text: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For some rows of a string array: the bytes of the values above each, and its own (a null
    value has none, whatever its slot holds)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + len(text) + 1]
    if text.null_count and (pc.sum(pc.binary_length(text)).as_py() or 0) != offsets[-1] - offsets[0]:
        widths = np.where(_nulls(text), 0, np.diff(offsets))
        offsets = np.concatenate([[0], np.cumsum(widths)])
    above = offsets[rows].astype(np.int64) - offsets[0]
    return above, offsets[rows + 1] - offsets[rows]


def _jsonl_lines(cells: dict[str, pa.Array], schema: dict) -> pa.Buffer:
    """One JSON object per line: the keys and the quotes of strings that are never null are
    text between the values; a missing value is null."""
    parts, between = [], "{"
    for name, prop in schema["properties"].items():
        text = cells[name]
        between += json.dumps(name) + ":"
        if column_type(prop) in ("integer", "number"):
            parts.extend([between, text])
            between = ","
        elif text.null_count:
            parts.extend([between, pc.binary_join_element_wise('"', _json_escaped(text), '"', "")])
            between = ","
        else:
            parts.extend([between + '"', _json_escaped(text)])
            between = '",'
    parts.append(between[:-1] + "}\n")
    return _concat(pc.binary_join_element_wise(*parts, "", null_handling="replace",
                                               null_replacement="null"))


def _json_escaped(text: pa.Array) -> pa.Array:
    """Each value with the escapes json.dumps(value, ensure_ascii=False) writes between its
    quotes: each character the json module escapes that occurs in the column is replaced by
    its escape, the backslash first. Line breaks and tabs are looked for by name; other control
    characters only when a byte below 0x20 is left after them."""
    data = _data(text)
    if not len(data):
        return text
    low = data.min()
    if low > ord('"') and data.max() < ord("\\"):  # codes, identifiers, timestamps
        return text
    raw = data.tobytes()
    named = '\\"\n\r\t' if low < 0x20 else '\\"'
    for char in named:
        if char.encode() in raw:
            text = pc.replace_substring(text, char, _JSON_ESCAPES[char])
    rest = _data(text)
    if rest.min() < 0x20:
        for code in np.unique(rest[rest < 0x20]).tolist():
            text = pc.replace_substring(text, chr(code), _JSON_ESCAPES[chr(code)])
    return text


def _rows_to_quote(text: pa.Array) -> np.ndarray:
    """The rows whose CSV value holds a comma, a quote or a line break."""
    data = _data(text)
    if not len(data) or data.min() > max(_NEEDS_QUOTES_CHARS):
        return np.zeros(0, dtype=np.int64)
    raw = data.tobytes()
    if not any(bytes([char]) in raw for char in _NEEDS_QUOTES_CHARS):
        return np.zeros(0, dtype=np.int64)
    hit = data == _NEEDS_QUOTES_CHARS[0]
    for char in _NEEDS_QUOTES_CHARS[1:]:
        hit |= data == char
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + len(text) + 1]
    hits_before = np.searchsorted(np.flatnonzero(hit), offsets - offsets[0])
    return np.flatnonzero((np.diff(hits_before) > 0) & ~_nulls(text))


def _data(text: pa.Array) -> np.ndarray:
    """The bytes of a string array's values, one after another (a view, not a copy)."""
    if not len(text) or text.buffers()[2] is None:
        return np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + len(text) + 1]
    return np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]


def _row_mask(n: int, rows: np.ndarray) -> pa.Array:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return pa.array(mask)


def _concat(lines: pa.Array) -> pa.Buffer:
    """All lines (each ending with its '\\n') as one buffer, without copying them."""
    if len(lines) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:]
    return lines.buffers()[2].slice(int(offsets[0]), int(offsets[len(lines)] - offsets[0]))
