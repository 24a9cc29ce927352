"""The one day reader: a written day's tables read back from its folder (CSV/JSONL or Parquet).

    load_day(folder) -> {"patients": DataFrame, "encounters": DataFrame, ...}

`load_day` and `load_table` are for people: pandas tables typed by the contracts (string
columns such as IDs and ZIP codes as strings, leading zeros kept; integer columns as nullable
integers; numbers as floats; timestamps as time-zone-aware datetimes in the day's zone; dates
as datetimes), the same from a CSV/JSONL day and from a Parquet day. `read_table` gives the
same table as typed Arrow. `text_batches` gives a CSV or JSONL file's cells exactly as written,
in batches of string columns, for exporters that copy them (FHIR).

These readers trust the day: damage raises ContractError at the first problem. The validator
(data_generator/validation/) is the tolerant reader that lists every problem of a folder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.parquet as pq

from data_generator.contracts import (
    FEED_FILES,
    FILES,
    OPTIONAL,
    columns,
    contracts,
    file_name,
    load_contract,
    load_feed_contract,
    read_csv_strings,
)
from data_generator.errors import ContractError, UsageError
from data_generator.publish import MANIFEST
from data_generator.timeutil import parse_rfc3339
from data_generator.writer import FORMATS, arrow_schema, data_file

if TYPE_CHECKING:
    import pandas as pd

BLOCK_BYTES = 1 << 20   # CSV bytes per text batch
JSONL_ROWS = 10_000     # JSONL rows per text batch


def load_day(folder: Path | str, tz: str | None = None, errors: str = "raise") -> dict[str, pd.DataFrame]:
    """The day in `folder` as pandas DataFrames by table name: the five contracted tables, then
    interventions when the folder holds it (a feed day: its six tables). Timestamps are in zone
    `tz`, by default the day's own; `errors` as in `read_table`. Needs pandas (the `plots` extra)."""
    return {name: load_table(folder, name, tz, errors) for name in day_tables(folder)}


def load_table(folder: Path | str, name: str, tz: str | None = None, errors: str = "raise") -> pd.DataFrame:
    """One table of the day as a pandas DataFrame: `read_table`'s Arrow table with integers as
    nullable `Int64`, strings as `string` and dates as `datetime64`."""
    try:
        import pandas as pd
    except ImportError:
        raise UsageError("pandas", "not installed", hint="pip install 'clinical-data-generator[plots]', "
                         "or use data_generator.reading.read_table (Arrow)") from None
    dtypes = {pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}
    return read_table(folder, name, tz, errors).to_pandas(types_mapper=dtypes.get, date_as_object=False)


def read_table(folder: Path | str, name: str, tz: str | None = None, errors: str = "raise") -> pa.Table:
    """One table of the day as Arrow, typed by its contract (see writer.arrow_schema): int64,
    float64, string (dictionary columns decoded), date32 and timestamp("s") in zone `tz`. By
    default the zone is the day's own: its manifest's `timezone`, else the Parquet columns'
    zone, else UTC.

    A CSV/JSONL cell that does not parse as its column's type raises ContractError, or with
    `errors="coerce"` becomes missing (for a picture of a damaged day, as `datagen report` draws).
    A missing file or columns other than the contract's always raise."""
    if errors not in ("raise", "coerce"):
        raise UsageError("errors", "must be 'raise' or 'coerce'", found=errors)
    folder, schema = Path(folder), day_contract(folder, name)
    path = table_file(folder, name)
    if not path.is_file():
        raise ContractError(str(path), "file not found", hint="read a day folder the generator wrote")
    parquet = path.suffix == ".parquet"
    target = arrow_schema(schema, _zone(folder, tz, path if parquet else None), dictionaries=False)
    if parquet:
        return _typed_parquet(path, schema, target)
    text = pa.Table.from_batches([part.batch for part in text_batches(folder, name)],
                                 pa.schema([(c, pa.string()) for c in columns(schema)]))
    return _typed_text(text, path.name, target, errors == "coerce")


@dataclass(frozen=True)
class TextBatch:
    """Rows of a CSV or JSONL file as written: string columns (empty cell or JSON null = null)."""

    file: str               # the file's name, e.g. "vitals.csv"
    first_row: int          # 1-based number of the batch's first row among the file's rows
    batch: pa.RecordBatch


def text_batches(folder: Path | str, name: str, block_bytes: int = BLOCK_BYTES,
                 jsonl_rows: int = JSONL_ROWS) -> Iterator[TextBatch]:
    """The day's `name` file in its contract's text form (CSV or JSONL) in batches of string
    columns, the CSV header or each JSONL line's keys checked against the contract.
    FileNotFoundError if the folder has no such file."""
    schema = day_contract(folder, name)
    path = Path(folder) / file_name(schema)
    if path.suffix == ".jsonl":
        yield from _jsonl_batches(path, columns(schema), jsonl_rows)
        return
    row = 1
    for batch in read_csv_strings(path, schema, block_bytes):
        yield TextBatch(path.name, row, batch)
        row += batch.num_rows


def is_feed_day(folder: Path | str) -> bool:
    """Whether `folder` is an event-time feed day (its manifest says `"feed": true`)."""
    return read_manifest(folder).get("feed") is True


def day_contract(folder: Path | str, name: str) -> dict:
    """The contract of table `name` in `folder`: the feed's for a feed day, else the batch's."""
    return load_feed_contract(name) if is_feed_day(folder) else load_contract(name)


def day_tables(folder: Path | str) -> tuple[str, ...]:
    """The tables a day folder holds: a feed day's six, or the five contracted ones, then the
    optional ones present."""
    if is_feed_day(folder):
        return FEED_FILES
    return FILES + optional_present(folder, day_format(folder))


def table_file(folder: Path | str, name: str) -> Path:
    """Where table `name` of the day in `folder` is: its contract's file, or its Parquet file."""
    return data_file(Path(folder), day_contract(folder, name), day_format(folder))


def files_present(folder: Path | str) -> dict[str, list[str]]:
    """The names of the five contracted files found in `folder`, by format ("csv" for the text
    files, "parquet")."""
    folder = Path(folder)
    return {fmt: [data_file(folder, schema, fmt).name for schema in contracts().values()
                  if data_file(folder, schema, fmt).exists()] for fmt in FORMATS}


def day_format(folder: Path | str) -> str:
    """'parquet' if any of the five Parquet files is in `folder`, else 'csv' (text files)."""
    return "parquet" if files_present(folder)["parquet"] else "csv"


def optional_present(folder: Path | str, fmt: str) -> tuple[str, ...]:
    """The optional files (contracts.OPTIONAL) that `folder` holds in format `fmt`."""
    return tuple(name for name in OPTIONAL
                 if data_file(Path(folder), load_contract(name), fmt).exists())


def read_manifest(folder: Path | str) -> dict:
    """The day's `_manifest.json` ({} if it is absent, unreadable or not a JSON object)."""
    try:
        found = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _zone(folder: Path, tz: str | None, parquet: Path | None) -> ZoneInfo:
    """The zone to give timestamps: `tz`, else the manifest's, else the Parquet file's, else UTC."""
    name, where = tz, "tz"
    if name is None:
        name, where = read_manifest(folder).get("timezone"), f"{folder / MANIFEST}: timezone"
    if name is None and parquet is not None:
        name = next((f.type.tz for f in pq.read_schema(parquet) if pa.types.is_timestamp(f.type)), None)
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        error = UsageError if tz is not None else ContractError
        raise error(where, "unknown time zone", found=name,
                    hint="use an IANA name such as 'UTC' or 'America/New_York'") from None


def _typed_text(text: pa.Table, file: str, target: pa.Schema, coerce: bool) -> pa.Table:
    """String columns of a CSV/JSONL file turned into the contract's types."""
    arrays = []
    for field in target:
        values = text.column(field.name).combine_chunks()
        if pa.types.is_timestamp(field.type):
            epochs, ok = parse_rfc3339(values)
            present = values.is_valid().to_numpy(zero_copy_only=False)
            if (present & ~ok).any() and not coerce:
                bad = values.filter(pa.array(present & ~ok))[0].as_py()
                raise ContractError(f"{file} {field.name}", "not an RFC 3339 timestamp", found=bad,
                                    hint="`datagen validate` lists every contract violation")
            arrays.append(pa.array(epochs, mask=~(present & ok), type=field.type))
        elif coerce and not pa.types.is_string(field.type):
            arrays.append(_coerced(values, field.type))
        else:
            arrays.append(_cast(values, field, file))
    return pa.Table.from_arrays(arrays, schema=target)


def _coerced(values: pa.Array, kind: pa.DataType) -> pa.Array:
    """Text cast to `kind`, a cell that does not parse becoming null (cell by cell only if needed)."""
    try:
        return values.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parse = int if pa.types.is_integer(kind) else float if pa.types.is_floating(kind) else dt.date.fromisoformat
        return pa.array([_parsed(parse, v) for v in values.to_pylist()], kind)


def _parsed(parse, text: str | None):
    try:
        return None if text is None else parse(text)
    except (ValueError, OverflowError):
        return None


def _typed_parquet(path: Path, schema: dict, target: pa.Schema) -> pa.Table:
    """A Parquet file's columns checked against the contract and cast to its plain types."""
    table = pq.read_table(path)
    if table.column_names != columns(schema):
        raise ContractError(str(path), "columns differ from the contract", found=table.column_names,
                            hint=f"expected {','.join(columns(schema))}")
    return pa.Table.from_arrays([_cast(table.column(field.name), field, path.name) for field in target],
                                schema=target)


def _cast(values: pa.Array | pa.ChunkedArray, field: pa.Field, file: str) -> pa.Array | pa.ChunkedArray:
    try:
        return values.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ContractError(f"{file} {field.name}", f"cannot read as {field.type}: {str(exc).splitlines()[0]}",
                            hint="`datagen validate` lists every contract violation") from None


def _jsonl_batches(path: Path, cols: list[str], rows_per_batch: int) -> Iterator[TextBatch]:
    strings = pa.schema([(c, pa.string()) for c in cols])
    if not path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    with open(path, encoding="utf-8") as handle:
        rows, first = [], 1
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ContractError(f"{path.name}:{line_no}", f"not JSON: {exc}") from None
            if not isinstance(record, dict) or list(record) != cols:
                raise ContractError(f"{path.name}:{line_no}", "keys differ from the contract",
                                    found=list(record) if isinstance(record, dict) else type(record).__name__,
                                    hint=f"expected {','.join(cols)}")
            rows.append({k: None if v is None else str(v) for k, v in record.items()})
            if len(rows) == rows_per_batch:
                yield TextBatch(path.name, first, pa.RecordBatch.from_pylist(rows, strings))
                first, rows = first + len(rows), []
        if rows:
            yield TextBatch(path.name, first, pa.RecordBatch.from_pylist(rows, strings))
