"""The one writer: an in-memory table to CSV, JSONL or Parquet, exactly as its contract says.

A table is `dict[str, np.ndarray]` with the schema's columns as keys and equal lengths:

- integer columns: int64, or float64 with NaN for missing (values must be whole numbers);
- number columns: float64 with NaN for missing, printed with exactly `x-decimals` decimals;
- string columns: object or str arrays, None or "" for missing;
- date-time columns: int64 epoch seconds (UTC), printed as RFC 3339 with the zone's offset;
- date columns: datetime64[D] (NaT for missing), printed as YYYY-MM-DD.

Formatting is vectorised (numpy and pyarrow compute); the only per-cell Python work is JSON
string escaping for the JSONL cells that hold a quote, a backslash or a control character.
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

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_generator.contracts import column_type, columns, dictionary_encoded, file_name
from data_generator.errors import ContractError
from data_generator.timeutil import format_date, rfc3339_parts

CHUNK_ROWS = 1 << 18  # bounded memory and string offsets for very large tables
ROW_GROUP_ROWS = 1 << 17  # Parquet rows per row group (the last one may be shorter)
FORMATS = ("csv", "parquet")
# No wall-clock time goes into a Parquet file; these settings fix everything else.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "write_statistics": True,
                   "use_dictionary": True, "version": "2.6", "store_schema": True}
_NULL = pa.nulls(1, pa.string())[0]  # a null string scalar (pa.scalar would import pandas at import time)
_NEEDS_QUOTES = '[,"\r\n]'  # a CSV value holding one of these is quoted
_NEEDS_QUOTES_CHARS = b',"\r\n'
_JSON_ESCAPED = r'[\x00-\x1f"\\]'  # the characters json.dumps escapes when ensure_ascii is off
_JSON_ESCAPED_CHARS = bytes(range(0x20)) + b'"\\'
_json_string = json.JSONEncoder(ensure_ascii=False).encode  # = json.dumps(s, ensure_ascii=False)


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


class TableWriter:
    """One file written chunk by chunk: `.write(chunk)` appends rows, `.close()` finishes it.

    Also a context manager. The bytes equal one `write_table` call on the concatenated chunks.
    """

    def __init__(self, path: Path, schema: dict, tz: ZoneInfo, fmt: str = "csv") -> None:
        self.path, self.schema, self.tz = Path(path), schema, tz
        self.fmt = _check_format(fmt, file_name(schema))
        self.rows = 0
        self._closed = False
        self._csv = file_name(schema).endswith(".csv")
        if self.fmt == "parquet":
            self._plain = arrow_schema(schema, tz, dictionaries=False)
            self._pending: list[pa.Table] = []
            self._pending_rows = 0
            self._out = pq.ParquetWriter(self.path, arrow_schema(schema, tz), **PARQUET_OPTIONS)
        else:
            self._out = open(self.path, "wb")  # noqa: SIM115 (closed by close())
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
                self._out.write(_csv_lines(cells, self.schema) if self._csv
                                else _jsonl_lines(cells, self.schema))
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
    """(missing mask, int64 values) of an integer column given as int64 or float64 with NaN."""
    missing = _missing_floats(values)
    if values.dtype.kind == "f":
        whole = np.where(missing, 0.0, values)
        if (whole != np.rint(whole)).any():
            raise ValueError("non-integer value in an integer column")
        values = whole
    return missing, values.astype(np.int64)


def _integers(values: np.ndarray) -> pa.Array:
    missing, whole = _whole_numbers(values)
    return pc.cast(pa.array(whole, mask=missing), pa.string())


def _decimals(values: np.ndarray, places: int) -> pa.Array:
    """Fixed-point text with exactly `places` decimals ('37.0', '0.21', '-1.50')."""
    missing = _missing_floats(values)
    scaled = np.rint(np.where(missing, 0.0, values.astype(np.float64)) * 10**places)
    scaled = scaled.astype(np.int64)
    sign = pa.array(np.where(scaled < 0, "-", ""))
    whole = pc.cast(pa.array(np.abs(scaled) // 10**places), pa.string())
    if places == 0:
        text = pc.binary_join_element_wise(sign, whole, "")
    else:
        frac = pc.utf8_lpad(pc.cast(pa.array(np.abs(scaled) % 10**places), pa.string()),
                            width=places, padding="0")
        text = pc.binary_join_element_wise(sign, whole, ".", frac, "")
    return pc.if_else(pa.array(missing), _NULL, text)


def _timestamps(values: np.ndarray, tz: ZoneInfo) -> pa.Array:
    """RFC 3339 with the zone's offset, printed and joined in pyarrow (the same text as
    timeutil.format_rfc3339 for the years 1 to 9999: Arrow prints a timestamp as
    'YYYY-MM-DD HH:MM:SS', numpy with the 'T')."""
    missing = _missing_floats(values)
    local, tails, which = rfc3339_parts(np.where(missing, 0, values).astype(np.int64), tz)
    clock = pc.replace_substring(pc.cast(pa.array(local, pa.timestamp("s")), pa.string()), " ", "T",
                                 max_replacements=1)
    text = pc.binary_join_element_wise(clock, pc.take(pa.array(tails, pa.string()), pa.array(which)), "")
    return pc.if_else(pa.array(missing), _NULL, text)


def _dates(values: np.ndarray) -> pa.Array:
    days = np.asarray(values, dtype="datetime64[D]")
    missing = np.isnat(days)
    return pa.array(format_date(np.where(missing, np.datetime64(0, "D"), days)),
                    mask=missing, type=pa.string())


def _strings(values: np.ndarray) -> pa.Array:
    if values.dtype.kind not in "OU":
        raise TypeError(f"expected str or object array, got {values.dtype}")
    text = pa.array(values, type=pa.string(), from_pandas=False)
    return pc.if_else(pc.equal(text, ""), _NULL, text)


def _csv_lines(cells: dict[str, pa.Array], schema: dict) -> pa.Buffer:
    parts = []
    for name, prop in schema["properties"].items():
        text = cells[name]
        if column_type(prop) == "string" and _holds(text, _NEEDS_QUOTES_CHARS):  # only free text can hold them
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'),
                                                 '"', "")
            text = pc.if_else(pc.match_substring_regex(text, _NEEDS_QUOTES), quoted, text)
        parts.append(text)
    parts[-1] = pc.binary_join_element_wise(pc.fill_null(parts[-1], ""), "\n", "")  # each line ends with \n
    return _concat(pc.binary_join_element_wise(*parts, ",", null_handling="replace",
                                               null_replacement=""))


def _jsonl_lines(cells: dict[str, pa.Array], schema: dict) -> pa.Buffer:
    parts = []
    for i, (name, prop) in enumerate(schema["properties"].items()):
        text = cells[name]
        if column_type(prop) in ("integer", "number"):
            fragment = text
        else:
            fragment = _json_strings(text)
        fragment = pc.fill_null(fragment, "null")
        key = ("{" if i == 0 else ",") + json.dumps(name) + ":"
        parts.extend([key, fragment])
    parts.append("}\n")
    return _concat(pc.binary_join_element_wise(*parts, ""))


def _json_strings(text: pa.Array) -> pa.Array:
    """Each value as a JSON string (null stays null), as json.dumps(value, ensure_ascii=False)
    writes it: quoted as it is, or escaped by the json module where a character needs it."""
    quoted = pc.binary_join_element_wise('"', text, '"', "")
    if not _holds(text, _JSON_ESCAPED_CHARS):
        return quoted
    escape = pc.fill_null(pc.match_substring_regex(text, _JSON_ESCAPED), False)
    escaped = [_json_string(s) for s in text.filter(escape).to_pylist()]
    return pc.replace_with_mask(quoted, escape, pa.array(escaped, type=pa.string()))


def _holds(text: pa.Array, chars: bytes) -> bool:
    """Whether any value of a string array holds one of the ASCII `chars` (a test on its bytes)."""
    data = text.buffers()[2]
    raw = data.to_pybytes() if data is not None else b""
    return len(raw.translate(None, chars)) != len(raw)


def _concat(lines: pa.Array) -> pa.Buffer:
    """All lines (each ending with its '\\n') as one buffer, without copying them."""
    if len(lines) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:]
    return lines.buffers()[2].slice(int(offsets[0]), int(offsets[len(lines)] - offsets[0]))
