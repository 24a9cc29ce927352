"""The one writer: an in-memory table to CSV or JSONL bytes, exactly as its contract says.

A table is `dict[str, np.ndarray]` with the schema's columns as keys and equal lengths:

- integer columns: int64, or float64 with NaN for missing (values must be whole numbers);
- number columns: float64 with NaN for missing, printed with exactly `x-decimals` decimals;
- string columns: object or str arrays, None or "" for missing;
- date-time columns: int64 epoch seconds (UTC), printed as RFC 3339 with the zone's offset;
- date columns: datetime64[D] (NaT for missing), printed as YYYY-MM-DD.

Formatting is vectorised (numpy and pyarrow compute); the only per-cell Python work is JSON
string escaping for JSONL. Output is byte-deterministic: same table, same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_generator.contracts import column_type, columns, file_name
from data_generator.errors import ContractError
from data_generator.timeutil import format_date, format_rfc3339

CHUNK_ROWS = 1 << 18  # bounded memory and string offsets for very large tables
_NULL = pa.scalar(None, pa.string())
_NEEDS_QUOTES = '[,"\r\n]'


def write_table(path: Path, table: dict, schema: dict, tz: ZoneInfo) -> int:
    """Write `table` to `path` as the schema's CSV or JSONL file; returns the rows written."""
    path = Path(path)
    n = _check_shape(table, schema)
    csv = file_name(schema).endswith(".csv")
    with open(path, "wb") as out:
        if csv:
            out.write((",".join(columns(schema)) + "\n").encode())
        for start in range(0, n, CHUNK_ROWS):
            chunk = {k: np.asarray(v)[start:start + CHUNK_ROWS] for k, v in table.items()}
            cells = format_columns(chunk, schema, tz)
            out.write(_csv_lines(cells, schema) if csv else _jsonl_lines(cells, schema))
    return n


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


def _integers(values: np.ndarray) -> pa.Array:
    missing = _missing_floats(values)
    if values.dtype.kind == "f":
        whole = np.where(missing, 0.0, values)
        if (whole != np.rint(whole)).any():
            raise ValueError("non-integer value in an integer column")
        values = whole.astype(np.int64)
    return pc.cast(pa.array(values.astype(np.int64), mask=missing), pa.string())


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
    missing = _missing_floats(values)
    epoch = np.where(missing, 0, values).astype(np.int64)
    return pa.array(format_rfc3339(epoch, tz), mask=missing, type=pa.string())


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


def _csv_lines(cells: dict[str, pa.Array], schema: dict) -> bytes:
    parts = []
    for name, prop in schema["properties"].items():
        text = cells[name]
        if column_type(prop) == "string":  # only free text can hold , " or a line break
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'),
                                                 '"', "")
            text = pc.if_else(pc.match_substring_regex(text, _NEEDS_QUOTES), quoted, text)
        parts.append(text)
    return _concat(pc.binary_join_element_wise(*parts, ",", null_handling="replace",
                                               null_replacement=""))


def _jsonl_lines(cells: dict[str, pa.Array], schema: dict) -> bytes:
    parts = []
    for i, (name, prop) in enumerate(schema["properties"].items()):
        text = cells[name]
        if column_type(prop) in ("integer", "number"):
            fragment = text
        else:
            fragment = pa.array(_json_strings(text), type=pa.string())
        fragment = pc.fill_null(fragment, "null")
        key = ("{" if i == 0 else ",") + json.dumps(name) + ":"
        parts.extend([key, fragment])
    parts.append("}")
    return _concat(pc.binary_join_element_wise(*parts, ""))


def _json_strings(text: pa.Array) -> list[str | None]:
    return [None if s is None else json.dumps(s, ensure_ascii=False) for s in text.to_pylist()]


def _concat(lines: pa.Array) -> bytes:
    """All lines, each followed by '\\n', as one bytes object."""
    if len(lines) == 0:
        return b""
    lines = pc.binary_join_element_wise(lines, "", "\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:]
    return lines.buffers()[2].to_pybytes()[offsets[0]:offsets[len(lines)]]
