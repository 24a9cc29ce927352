"""The one validator: every row of every file of a day, checked against its contract.

Per file: the header, then each column as a whole (one jsonschema_rs call per column; rows are
located only when a column is invalid), then per-test conditionals (`allOf` if/then on a
constant) one group at a time, then any other schema construct row by row. Across rows and
files: the `x-*` rules of the schemas (keys, references, time windows, row rules, batch date).
A file that cannot be read is reported, never raised.

Memory stays bounded: files are read in batches (CSV and JSONL by blocks of `BLOCK_SIZE`
bytes, Parquet by row group), each batch is checked on its own, and only what cross-row rules
need is kept (primary keys, the keys and times other files refer to). Files are read in
dependency order (patients, encounters, then the files that refer to them), so references and
time windows are checked per batch against the already-complete small tables.

A day is either text (the contracts' CSV/JSONL files) or Parquet (`<stem>.parquet`), detected
from the files present. Parquet columns must have the contract's storage type (see
data_generator/writer.py); their values are turned into what the CSV reader gives (integers,
floats, RFC 3339 text in the column's zone, dates as text), so the same contract rules apply.
Parquet `line` numbers are 1-based row numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema_rs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data_generator.contracts import (
    FILES,
    OPTIONAL,
    Violation,
    column_type,
    columns,
    contracts,
    load_contract,
    nullable,
)
from data_generator.errors import ContractError
from data_generator.publish import MANIFEST, verify_manifest
from data_generator.timeutil import format_date, format_rfc3339, parse_rfc3339
from data_generator.writer import FORMATS, data_file

BLOCK_SIZE = 4 << 20  # bytes per CSV/JSONL batch: bounds memory, not results

_INTEGER = r"^[+-]?[0-9]{1,18}$"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"
_RULES = {"Type": "type", "Enum": "enum", "Constant": "const", "Pattern": "pattern",
          "Format": "format", "Minimum": "minimum", "ExclusiveMinimum": "minimum",
          "Maximum": "maximum", "ExclusiveMaximum": "maximum", "MinLength": "min_length",
          "MaxLength": "max_length", "Required": "required",
          "AdditionalProperties": "extra_column", "AnyOf": "any_of",
          "OneOfNotValid": "one_of", "OneOfMultipleValid": "one_of", "Not": "not",
          "MultipleOf": "multiple_of", "FalseSchema": "false_schema"}
_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}
# Keywords the column-wise and conditional passes cover; anything else is checked row-wise.
_COVERED = {"$schema", "$id", "schema_version", "title", "description", "type", "required",
            "additionalProperties", "properties", "allOf"}
_QUICK = {"type", "pattern", "minLength", "maxLength", "enum", "description", "title"}
_ESCAPED = re.compile(r"\\[^0-9A-Za-z]")  # an escaped punctuation mark: same in RE2 and ECMA
_UNPLAIN = re.compile(r"[\\.]|\(\?")  # classes, any-char and groups whose meaning may differ
_ALL_FIELDS = {"patternProperties", "propertyNames", "unevaluatedProperties",
               "dependentSchemas", "dependentRequired", "minProperties", "maxProperties", "$ref"}


@dataclass
class Report:
    """What validate_day found: `.ok`, `.violations` (capped), `.counts` per rule, `.rows`."""

    max_violations: int = 10000
    violations: list[Violation] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.counts

    def add(self, violation: Violation) -> None:
        self.counts[violation.rule] += 1
        if len(self.violations) < self.max_violations:
            self.violations.append(violation)

    def summary(self, show: int = 20) -> list[str]:
        lines = [f"{name}: {n} rows" for name, n in self.rows.items()]
        if self.ok:
            return lines + ["ok: every row meets its contract"]
        total = sum(self.counts.values())
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(self.counts.items()))
        lines.append(f"{total} violations ({rules})")
        lines += [str(v) for v in self.violations[:show]]
        if total > show:
            lines.append(f"+{total - show} more")
        return lines

    def raise_if_failed(self) -> None:
        """ContractError naming the first violation, for the CLI edge."""
        if not self.ok:
            first = self.violations[0]
            raise ContractError(str(first), f"{sum(self.counts.values())} contract violations",
                                hint="run validation for the full list")


@dataclass
class _Column:
    """One column of a batch: each distinct cell once (typed), and each row's position in it.

    Checks run on the distinct values (a column of a million rows holds a few hundred distinct
    heart rates) and map back to rows through `index`; JSONL columns are not deduplicated.
    A column of unique IDs is first checked vectorised on `text`; it is deduplicated only if
    some value needs a closer look (`distinct` and `index` are built on first use).
    """

    text: pa.Array  # per row: the cell as text, null when missing or not a string
    prop: dict
    _distinct: list | None = None  # typed distinct values (ints, floats, strings, None, bad text)
    _index: np.ndarray | None = None  # per row: position in `distinct`
    _bad: np.ndarray | None = None  # per distinct value: failed a column or conditional check
    _words: pa.Array | None = None  # distinct values as text (for timestamps)
    _seconds: np.ndarray | None = None  # distinct epochs, when read typed (Parquet)
    _epochs: tuple | None = None

    def _encode(self) -> None:
        encoded = pc.dictionary_encode(self.text, null_encoding="encode")
        self._words = encoded.dictionary
        self._distinct = _typed(self._words, self.prop)
        self._index = encoded.indices.to_numpy(zero_copy_only=False)
        self._bad = np.zeros(len(self._distinct), dtype=bool)

    @property
    def distinct(self) -> list:
        if self._distinct is None:
            self._encode()
        return self._distinct

    @property
    def index(self) -> np.ndarray:
        if self._index is None:
            self._encode()
        return self._index

    @property
    def bad(self) -> np.ndarray:
        if self._bad is None:
            self._encode()
        return self._bad

    def usable(self) -> np.ndarray:
        """Per row: present and passed its checks."""
        if self._distinct is None:  # never deduplicated: every present value passed
            return self.text.is_valid().to_numpy(zero_copy_only=False)
        present = np.array([v is not None for v in self.distinct], dtype=bool)
        return (present & ~self.bad)[self.index]


@dataclass
class _Table:
    """One batch of rows of a file, with its rows' line numbers."""

    name: str
    file: str
    schema: dict
    lines: np.ndarray
    cols: dict[str, _Column] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.lines)

    def has(self, col: str) -> bool:
        return col in self.cols

    def text(self, col: str) -> pa.Array:
        return self.cols[col].text

    def usable(self, col: str) -> np.ndarray:
        return self.cols[col].usable()

    def epochs(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        return _epochs(self, col)


@dataclass
class _Kept:
    """What cross-row rules need of a whole file once its batches are checked: line numbers,
    and per kept column its text, usable mask and (date-time columns) epochs."""

    name: str
    file: str
    schema: dict
    keep: set[str]
    _lines: list = field(default_factory=list)
    _text: dict = field(default_factory=dict)
    _usable: dict = field(default_factory=dict)
    _epochs: dict = field(default_factory=dict)
    lines: np.ndarray | None = None

    def add(self, batch: _Table) -> None:
        self._lines.append(batch.lines)
        for col in self.keep & set(batch.cols):
            self._text.setdefault(col, []).append(batch.text(col))
            self._usable.setdefault(col, []).append(batch.usable(col))
            if column_type(self.schema["properties"][col]) == "date-time":
                self._epochs.setdefault(col, []).append(batch.epochs(col))

    def finish(self) -> _Kept:
        self.lines = np.concatenate(self._lines) if self._lines else np.zeros(0, np.int64)
        self._text = {c: pa.concat_arrays(v) for c, v in self._text.items()}
        self._usable = {c: np.concatenate(v) for c, v in self._usable.items()}
        self._epochs = {c: tuple(np.concatenate(x) for x in zip(*v, strict=True))
                        for c, v in self._epochs.items()}
        return self

    @property
    def n(self) -> int:
        return len(self.lines)

    def has(self, col: str) -> bool:
        return col in self._text or (self.n == 0 and col in self.keep)

    def text(self, col: str) -> pa.Array:
        return self._text.get(col, pa.array([], pa.string()))

    def usable(self, col: str) -> np.ndarray:
        return self._usable.get(col, np.zeros(0, dtype=bool))

    def epochs(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        return self._epochs.get(col, (np.zeros(0, np.int64), np.zeros(0, dtype=bool)))


class _Unreadable(Exception):
    """A file stopped being readable part-way (already reported)."""


def validate_day(folder: Path, batch_date: dt.date | None = None,
                 max_violations: int = 10000, fmt: str | None = None) -> Report:
    """Check the five files in `folder` against their contracts, and an optional file (such as
    interventions.csv) when the folder holds it; never raises on bad data.

    `fmt` is "csv" (the contracts' CSV/JSONL files) or "parquet"; None detects it.
    """
    folder = Path(folder)
    report = Report(max_violations=max_violations)
    manifest = _read_manifest(folder, report)
    if batch_date is None and isinstance(manifest.get("batch_date"), str):
        try:
            batch_date = dt.date.fromisoformat(manifest["batch_date"])
        except ValueError:
            report.add(Violation(MANIFEST, None, "batch_date", "manifest",
                                 manifest["batch_date"], "not a date"))
    fmt = fmt or day_format(folder, report)
    schemas = contracts(optional_present(folder, fmt))
    kept: dict[str, _Kept] = {}
    for name in _dependency_order(schemas):
        table = _validate_file(data_file(folder, schemas[name], fmt), name, schemas, kept,
                               batch_date, report)
        if table is not None:
            kept[name] = table
    report.rows = {kept[name].file: kept[name].n for name in schemas if name in kept}
    for table in kept.values():
        _check_whole(table, kept, report)
    return report


def day_format(folder: Path, report: Report | None = None) -> str:
    """'parquet' if any of the five Parquet files is in `folder`, else 'csv' (text files).

    Text files beside Parquet ones are reported as 'mixed_formats' in `report`.
    """
    folder = Path(folder)
    found = {fmt: [data_file(folder, schema, fmt).name for schema in contracts().values()
                   if data_file(folder, schema, fmt).exists()] for fmt in FORMATS}
    if not found["parquet"]:
        return "csv"
    if report is not None:
        for name in found["csv"]:
            report.add(Violation(name, None, None, "mixed_formats", None,
                                 "text file beside Parquet files; only Parquet is checked"))
    return "parquet"


def optional_present(folder: Path, fmt: str) -> tuple[str, ...]:
    """The optional files (contracts.OPTIONAL) that `folder` holds in format `fmt`."""
    return tuple(name for name in OPTIONAL
                 if data_file(Path(folder), load_contract(name), fmt).exists())


def _dependency_order(schemas: dict[str, dict]) -> list[str]:
    """File names with every file after the files its keys and time windows refer to."""
    def needs(name: str) -> set[str]:
        schema = schemas[name]
        return ({fk["reference"]["resource"] for fk in schema.get("x-foreignKeys", [])}
                | {w["resource"] for w in _windows(schema)}) - {name}

    order: list[str] = []
    waiting = list(schemas)
    while waiting:
        ready = [n for n in waiting if not needs(n) & set(waiting)]
        pick = ready[0] if ready else waiting[0]  # a cycle: break it in file order
        order.append(pick)
        waiting.remove(pick)
    return order


def _kept_columns(name: str, schemas: dict[str, dict]) -> set[str]:
    """The columns of `name` that rules spanning batches or files read."""
    schema = schemas[name]
    keep = {schema["x-primaryKey"]} if "x-primaryKey" in schema else set()
    for ref in schema.get("x-referencedBy", []):
        keep.update(ref["fields"])
    for other, theirs in schemas.items():
        for fk in theirs.get("x-foreignKeys", []):
            if fk["reference"]["resource"] == name:
                keep.update(fk["reference"]["fields"])
        for w in _windows(theirs):
            if w["resource"] == name:
                keep.update((w["key"], w["start"], w["end"]))
        for ref in theirs.get("x-referencedBy", []):
            if ref["by"]["resource"] == name and other != name:
                keep.update(ref["by"]["fields"])
    return keep & set(schema["properties"])


def _validate_file(path: Path, name: str, schemas: dict[str, dict], kept: dict[str, _Kept],
                   batch_date: dt.date | None, report: Report) -> _Kept | None:
    """Check one file batch by batch; what later rules need of it, or None if unreadable."""
    schema = schemas[name]
    if not path.exists():
        report.add(Violation(path.name, None, None, "missing_file", detail="not found"))
        return None
    keep = _Kept(name, path.name, schema, _kept_columns(name, schemas))
    reader = {".csv": _csv_batches, ".jsonl": _jsonl_batches, ".parquet": _parquet_batches}
    try:
        for batch in reader[path.suffix](path, name, schema, report):
            _check_columns(batch, report)
            _check_batch(batch, kept, batch_date, report)
            keep.add(batch)
    except OSError as exc:
        report.add(Violation(path.name, None, None, "parse", exc.strerror, "cannot read"))
        return None
    except _Unreadable:
        return None
    return keep.finish()


def _read_manifest(folder: Path, report: Report) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    for v in verify_manifest(folder):
        report.add(v)
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, OSError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


# ---------------------------------------------------------------- reading

def _blocks(path: Path, file: str, report: Report):
    """(first line number, bytes) blocks of about BLOCK_SIZE ending at a line break, with
    undecodable sequences replaced and each such line reported as 'encoding'."""
    line, carry = 1, b""
    with open(path, "rb") as f:
        while True:
            data = f.read(BLOCK_SIZE)
            buf = carry + data
            cut = buf.rfind(b"\n") + 1 if data else len(buf)
            if data and cut == 0:
                carry = buf
                continue
            block, carry = buf[:cut], buf[cut:]
            if block:
                yield line, _utf8(block, file, line, report)
                line += block.count(b"\n")
            if not data:
                return


class _BlockStream(io.RawIOBase):
    """The blocks of `_blocks` as a readable binary stream (for pyarrow's CSV reader)."""

    def __init__(self, blocks) -> None:
        self._blocks, self._buf = blocks, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:
        while not len(self._buf):
            nxt = next(self._blocks, None)
            if nxt is None:
                return 0
            self._buf = memoryview(nxt[1])
        n = min(len(out), len(self._buf))
        out[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _utf8(raw: bytes, file: str, first_line: int, report: Report) -> bytes:
    """The bytes with undecodable sequences replaced, each bad line reported as 'encoding'."""
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [
        None, pa.py_buffer(np.array([0, len(raw)], dtype=np.int64)), pa.py_buffer(raw)])
    try:
        whole.cast(pa.large_string())  # pyarrow's UTF-8 check: no copy, no Python str
        return raw
    except pa.ArrowInvalid:
        pass
    for i, line in enumerate(raw.split(b"\n")):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.add(Violation(file, first_line + i, None, "encoding",
                                 line[exc.start:exc.start + 8], "not UTF-8"))
    return raw.decode("utf-8", errors="replace").encode("utf-8")


def _csv_batches(path: Path, name: str, schema: dict, report: Report):
    file = path.name
    with open(path, "rb") as f:
        head = f.readline(1 << 20)
    head = head.rstrip(b"\n").decode("utf-8", errors="replace").rstrip("\r")
    try:
        header = next(csv.reader([head]), [])
    except csv.Error as exc:
        report.add(Violation(file, 1, None, "parse", head[:80], str(exc)))
        raise _Unreadable from None
    if not header:
        report.add(Violation(file, 1, None, "parse", None, "no header line"))
        raise _Unreadable
    _check_header(header, schema, file, 1, report)
    names = [c if c not in header[:i] else f"{c}\x00{i}" for i, c in enumerate(header)]
    numbering = _Lines(first=2)

    def ragged(row) -> str:
        numbering.skip(row.number, row.text)
        return "skip"

    reader = None
    try:
        reader = pacsv.open_csv(
            io.BufferedReader(_BlockStream(_blocks(path, file, report)), BLOCK_SIZE),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                           block_size=BLOCK_SIZE, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=_has_quotes(path),
                                             invalid_row_handler=ragged),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True))
        for data in reader:
            for number, text in numbering.flush():
                report.add(Violation(file, number, None, "parse", text[:80],
                                     f"expected {len(names)} fields"))
            table = _Table(name, file, schema, numbering.take(data.num_rows))
            for col, prop in schema["properties"].items():
                if col in data.schema.names:
                    table.cols[col] = _Column(data.column(col), prop)
                    _check_decimals(table, col, prop, report)
            yield table
    except (pa.ArrowInvalid, ValueError) as exc:
        report.add(Violation(file, None, None, "parse", None, str(exc).splitlines()[0][:200]))
        raise _Unreadable from None
    finally:
        if reader is not None:
            reader.close()
    for number, text in numbering.flush():
        report.add(Violation(file, number, None, "parse", text[:80],
                             f"expected {len(names)} fields"))


def _has_quotes(path: Path) -> bool:
    """Without quotes no CSV value can hold a line break (and parsing is faster)."""
    with open(path, "rb") as f:
        while block := f.read(BLOCK_SIZE):
            if b'"' in block:
                return True
    return False


class _Lines:
    """Line numbers of the records a CSV reader keeps, given the ones it skipped (which it
    reports before yielding the batch that would have held them)."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.skipped: set[int] = set()
        self.pending: list[tuple[int | None, str]] = []

    def skip(self, number: int | None, text: str) -> None:
        self.pending.append((number, text))
        if number is not None:
            self.skipped.add(number)

    def flush(self) -> list[tuple[int | None, str]]:
        out, self.pending = self.pending, []
        return out

    def take(self, n: int) -> np.ndarray:
        ahead = sum(1 for s in self.skipped if s >= self.next)
        lines = np.arange(self.next, self.next + n + ahead, dtype=np.int64)
        if ahead:
            lines = lines[~np.isin(lines, np.fromiter(self.skipped, np.int64))]
        lines = lines[:n]
        self.next = int(lines[-1]) + 1 if n else self.next
        self.skipped = {s for s in self.skipped if s >= self.next}
        return lines


def _typed(words: pa.Array, prop: dict) -> list:
    """CSV text to the schema's type; text that does not parse stays text (a 'type' error)."""
    kind = column_type(prop)
    if kind not in ("integer", "number"):
        return words.to_pylist()
    parses = pc.fill_null(pc.match_substring_regex(words, _INTEGER if kind == "integer"
                                                   else _NUMBER), True)
    typed = pc.cast(pc.if_else(parses, words, pa.scalar(None, pa.string())),
                    pa.int64() if kind == "integer" else pa.float64())
    values = typed.to_pylist()
    for i in np.flatnonzero(~parses.to_numpy(zero_copy_only=False)):
        values[i] = words[int(i)].as_py()
    return values


def _check_decimals(table: _Table, col: str, prop: dict, report: Report) -> None:
    """Numbers printed with exactly `x-decimals` decimals, so loaders infer one type."""
    if column_type(prop) != "number" or "x-decimals" not in prop:
        return
    column = table.cols[col]
    words = pa.array([v if isinstance(v, str) else None for v in column.distinct],
                     type=pa.string())  # the unparseable ones are a 'type' error instead
    printed = pc.cast(pc.dictionary_encode(column.text).dictionary, pa.string())
    exact = pc.match_substring_regex(printed, rf"^-?[0-9]+\.[0-9]{{{prop['x-decimals']}}}$")
    wrong = pc.filter(printed, pc.invert(exact))
    wrong = pc.filter(wrong, pc.invert(pc.is_in(wrong, value_set=words)))
    if len(wrong):
        rows = np.flatnonzero(pc.is_in(column.text, value_set=wrong).to_numpy(
            zero_copy_only=False))
        _report_rows(report, table, rows, col, "decimals", f"{prop['x-decimals']} decimals",
                     lambda i: column.text[int(i)].as_py())


def _jsonl_batches(path: Path, name: str, schema: dict, report: Report):
    file, cols = path.name, columns(schema)
    for first, block in _blocks(path, file, report):
        physical = block.decode("utf-8").split("\n")
        if physical and physical[-1] == "":
            physical.pop()
        rows, lines = [], []
        for i, line in enumerate(physical, start=first):
            obj = _json_object(line, file, i, report)
            if obj is None:
                continue
            if list(obj) != cols:
                _check_header(list(obj), schema, file, i, report)
            rows.append(obj)
            lines.append(i)
        table = _Table(name, file, schema, np.array(lines, dtype=np.int64))
        for col in cols:
            values = [row.get(col) for row in rows]
            text = pa.array([v if isinstance(v, str) else None for v in values],
                            type=pa.string())
            table.cols[col] = _Column(text, schema["properties"][col], values,
                                      np.arange(len(values)), np.zeros(len(values), bool))
        yield table


def _parquet_batches(path: Path, name: str, schema: dict, report: Report):
    """One batch per row group; columns turned into the values the CSV reader gives."""
    file = path.name
    try:
        parquet = pq.ParquetFile(path)
        found = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        report.add(Violation(file, None, None, "parse", None, str(exc).splitlines()[0][:200]))
        raise _Unreadable from None
    _check_header(found.names, schema, file, None, report)
    where = {c: found.names.index(c) for c in schema["properties"] if c in found.names}
    for col, i in list(where.items()):
        expected = _parquet_kind(found.field(i).type)
        if expected != column_type(schema["properties"][col]):
            report.add(Violation(file, None, col, "type", str(found.field(i).type),
                                 f"stored type; expected {column_type(schema['properties'][col])}"))
            del where[col]
    start = 1
    for g in range(parquet.num_row_groups):
        try:
            group = parquet.read_row_group(g, columns=list(where) or None)
        except (pa.ArrowException, OSError, ValueError) as exc:
            report.add(Violation(file, None, None, "parse", None,
                                 str(exc).splitlines()[0][:200]))
            raise _Unreadable from None
        table = _Table(name, file, schema, np.arange(start, start + group.num_rows,
                                                      dtype=np.int64))
        start += group.num_rows
        for col in where:
            prop = schema["properties"][col]
            table.cols[col] = _parquet_column(group.column(col).combine_chunks(), prop)
            _check_parquet_decimals(table, col, prop, report)
        yield table


def _parquet_kind(arrow_type: pa.DataType) -> str:
    """The contract column type a Parquet column's storage type can hold."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "number"
    if pa.types.is_timestamp(arrow_type):
        return "date-time"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return str(arrow_type)


def _parquet_column(values: pa.Array, prop: dict) -> _Column:
    """A typed Parquet column as a _Column: distinct values typed as the CSV reader types them,
    timestamps as RFC 3339 text in the column's zone (no offset if it has none)."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    kind = column_type(prop)
    if kind == "string":
        return _Column(pc.cast(values, pa.string()), prop)
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    words, index = encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False)
    seconds = None
    if kind == "integer":
        distinct = pc.cast(words, pa.int64()).to_pylist()
        printed = pc.cast(words, pa.string())
    elif kind == "number":
        floats = pc.cast(words, pa.float64()).to_numpy(zero_copy_only=False)
        finite = np.isfinite(floats)
        distinct = [float(x) if ok else str(x) for x, ok in zip(floats, finite, strict=True)]
        distinct = [None if not words[i].is_valid else v for i, v in enumerate(distinct)]
        printed = pc.cast(words, pa.string())
    elif kind == "date":
        days = pc.cast(words, pa.date32()).to_numpy(zero_copy_only=False)
        present = ~np.isnat(days)
        text = format_date(np.where(present, days, np.datetime64(0, "D")))
        distinct = [t if ok else None for t, ok in zip(text.tolist(), present, strict=True)]
        printed = pa.array(distinct, type=pa.string())
    else:
        distinct, seconds = _timestamp_text(words)
        printed = pa.array(distinct, type=pa.string())
    column = _Column(pc.take(printed, pa.array(index)), prop, distinct, index,
                     np.zeros(len(distinct), dtype=bool), printed, seconds)
    return column


def _timestamp_text(words: pa.Array) -> tuple[list, np.ndarray]:
    """RFC 3339 text of timestamp values in their zone, and their epoch seconds.

    Fractions of a second are printed, so the contracts' patterns reject them as in CSV.
    """
    unit = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[words.type.unit]
    raw = pc.cast(words, pa.int64()).to_numpy(zero_copy_only=False)
    present = words.is_valid().to_numpy(zero_copy_only=False)
    raw = np.where(present, raw, 0)
    seconds, frac = np.divmod(raw, unit)
    zone = words.type.tz
    if zone is None:
        text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    else:
        try:
            text = format_rfc3339(seconds, ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            text = np.strings.add(np.datetime_as_string(seconds.astype("datetime64[s]"),
                                                        unit="s"), f"[{zone}]")
    out = text.tolist()
    for i in np.flatnonzero(frac):
        digits = len(str(unit)) - 1
        out[i] = f"{out[i][:19]}.{int(frac[i]):0{digits}d}{out[i][19:]}"
    return [t if ok else None for t, ok in zip(out, present, strict=True)], seconds


def _check_parquet_decimals(table: _Table, col: str, prop: dict, report: Report) -> None:
    """Parquet numbers hold no more than `x-decimals` decimals (what CSV would print)."""
    if column_type(prop) != "number" or "x-decimals" not in prop:
        return
    column = table.cols[col]
    scale = 10.0 ** prop["x-decimals"]
    wrong = np.array([isinstance(v, float) and np.rint(v * scale) / scale != v
                      for v in column.distinct], dtype=bool)
    if wrong.any():
        rows = np.flatnonzero(wrong[column.index])
        _report_rows(report, table, rows, col, "decimals", f"{prop['x-decimals']} decimals",
                     lambda i: column.distinct[column.index[i]])


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # what json.loads(line, parse_constant=...) builds


def _parse_json(line: str):
    """json.loads(line, parse_constant=_reject_constant), with one decoder for every line."""
    if line.startswith("\ufeff"):
        return json.loads(line, parse_constant=_reject_constant)  # json.loads's own error for a BOM
    return _DECODER.decode(line)


def _json_object(line: str, file: str, number: int, report: Report) -> dict | None:
    try:
        obj = _parse_json(line)
    except (ValueError, RecursionError) as exc:
        report.add(Violation(file, number, None, "json", line[:80], str(exc)[:120]))
        return None
    if not isinstance(obj, dict):
        report.add(Violation(file, number, None, "json", line[:80], "not an object"))
        return None
    return obj


def _check_header(found: list[str], schema: dict, file: str, line: int,
                  report: Report) -> None:
    expected = columns(schema)
    for col in expected:
        if col not in found:
            report.add(Violation(file, line, col, "missing_column"))
    seen = set()
    for col in found:
        if col not in schema["properties"] or col in seen:
            report.add(Violation(file, line, col, "extra_column"))
        seen.add(col)
    common = [c for c in found if c in schema["properties"]]
    wanted = [c for c in expected if c in found]
    if common != wanted and len(common) == len(wanted):
        first = next(a for a, b in zip(common, wanted, strict=True) if a != b)
        report.add(Violation(file, line, first, "column_order", None,
                             f"expected order {','.join(expected)}"))


def _report_rows(report: Report, table: _Table, rows: np.ndarray, col: str, rule: str,
                 detail: str, value) -> None:
    """One violation per row; past the cap only the count grows (no objects are built)."""
    room = max(report.max_violations - len(report.violations), 0)
    for i in rows[:room]:
        report.add(Violation(table.file, int(table.lines[i]), col, rule, value(i), detail))
    if len(rows) > room:
        report.counts[rule] += len(rows) - room


# ---------------------------------------------------------------- column checks

@cache
def _array_validator(items_json: str):
    return jsonschema_rs.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
         "items": json.loads(items_json)}, validate_formats=True)


def _check_cells(table: _Table, col: str, items: dict, report: Report,
                 rows: np.ndarray | None = None) -> None:
    """Validate the distinct values of a column (or of its `rows`) in one jsonschema_rs call."""
    column = table.cols[col]
    if rows is None and column._distinct is None:
        quick = _quick_pass(column)
        if quick is not None:
            if quick.all():
                return
            rows = np.flatnonzero(~quick)  # only these need jsonschema_rs's verdict
    positions = None if rows is None else np.unique(column.index[rows])
    values = column.distinct if positions is None else [column.distinct[p] for p in positions]
    validator = _array_validator(json.dumps(items, sort_keys=True))
    if validator.is_valid(values):
        return
    errors: dict[int, list] = {}
    for err in validator.iter_errors(values):
        k = err.instance_path[0]
        pos = int(k if positions is None else positions[k])
        errors.setdefault(pos, []).append((*_rule(err, items), err.instance))
    column.bad[list(errors)] = True
    scope = np.arange(table.n) if rows is None else rows
    hit = scope[np.isin(column.index[scope], list(errors))]
    by_rule: dict[tuple, list] = {}
    for i in hit:
        for rule, detail, _ in errors[int(column.index[i])]:
            by_rule.setdefault((rule, detail), []).append(i)
    for (rule, detail), where in by_rule.items():
        _report_rows(report, table, np.array(where), col, rule, detail,
                     lambda i: column.distinct[column.index[i]])


def _quick_pass(column: _Column) -> np.ndarray | None:
    """Per row: surely valid, by a vectorised check at least as strict as the column's schema
    (string type, plain-ASCII pattern, lengths, enum); None if the schema goes beyond that."""
    prop = column.prop
    if column_type(prop) != "string" or {k for k in prop if not k.startswith("x-")} - _QUICK:
        return None
    pattern = prop.get("pattern")
    if pattern is not None and _UNPLAIN.search(_ESCAPED.sub("", pattern)):
        return None
    text = column.text
    ok = text.is_valid()
    if pattern is not None:
        ok = pc.and_(ok, pc.match_substring_regex(text, pattern))
    if "minLength" in prop:
        ok = pc.and_(ok, pc.greater_equal(pc.utf8_length(text), prop["minLength"]))
    if "maxLength" in prop:
        ok = pc.and_(ok, pc.less_equal(pc.utf8_length(text), prop["maxLength"]))
    if "enum" in prop:
        allowed = pa.array([e for e in prop["enum"] if isinstance(e, str)], pa.string())
        ok = pc.and_(ok, pc.is_in(text, value_set=allowed))
    if nullable(prop):
        ok = pc.or_(pc.is_null(text), ok)
    return pc.fill_null(ok, False).to_numpy(zero_copy_only=False)


def _rule(err, items: dict) -> tuple[str, str]:
    kind = type(err.kind).__name__
    if kind == "Type" and err.instance is None:
        return "required", "a value"
    keyword = list(err.schema_path)[-1] if err.schema_path else ""
    node = {"items": items}
    for step in err.schema_path:
        node = node[step] if isinstance(node, (dict, list)) else None
        if node is None:
            break
    if keyword in ("type", "enum") and isinstance(node, list):
        node = "|".join("null" if x is None else str(x) for x in node)
    detail = "" if isinstance(node, (dict, list)) or node is None else str(node)
    return _RULES.get(kind, kind.lower()), detail[:80]


def _check_columns(table: _Table, report: Report) -> None:
    props = table.schema["properties"]
    for col in table.cols:
        _check_cells(table, col, props[col], report)
    rest = [cond for cond in table.schema.get("allOf", [])
            if not _check_conditional(table, cond, report)]
    residual = {k: v for k, v in table.schema.items() if k not in _COVERED
                and not k.startswith("x-")}
    if rest:
        residual["allOf"] = rest
    if residual:
        _check_rows(table, residual, report)


def _check_conditional(table: _Table, cond: dict, report: Report) -> bool:
    """An `if {key: const} then {properties}` entry, one call per column of the group."""
    try:
        ((key, test),) = cond["if"]["properties"].items()
        const = test["const"]
        then = cond["then"]["properties"]
        shape_ok = not (set(cond) - {"if", "then", "description"}
                        or set(cond["if"]) - {"properties", "required"}
                        or set(cond["then"]) - {"properties"}
                        or set(then) - set(table.schema["properties"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    if not shape_ok:
        return False
    if key not in table.cols or not all(c in table.cols for c in then):
        return True  # the missing column is already reported
    column = table.cols[key]
    match = np.array([v == const and type(v) is type(const) for v in column.distinct], bool)
    rows = np.flatnonzero(match[column.index])
    for col, items in then.items():
        if rows.size:
            _check_cells(table, col, items, report, rows)
    return True


def _check_rows(table: _Table, residual: dict, report: Report) -> None:
    """Row-wise fallback for constructs spanning columns (e.g. labs' value-or-text anyOf).

    Rows are deduplicated on the referenced columns first, so each combination is checked once.
    """
    fields = _referenced(residual, set())
    if fields is None or not fields <= set(table.cols):
        fields = set(table.cols)
    names = [c for c in table.cols if c in fields]
    if table.n == 0 or not names:
        return
    sizes = [max(len(table.cols[c].distinct), 1) for c in names]
    if np.prod(np.array(sizes, dtype=float)) < 2.0 ** 62:  # one int64 per combination
        key = np.zeros(table.n, dtype=np.int64)
        for c, size in zip(names, sizes, strict=True):
            key = key * size + table.cols[c].index
        keys, inverse = np.unique(key, return_inverse=True)
        combos = np.zeros((len(keys), len(names)), dtype=np.int64)
        for j in range(len(names) - 1, -1, -1):
            keys, combos[:, j] = np.divmod(keys, sizes[j])
    else:
        stacked = np.stack([table.cols[c].index for c in names], axis=1)
        combos, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    rows = [{c: table.cols[c].distinct[p] for c, p in zip(names, combo, strict=True)}
            for combo in combos]
    residual = {"$schema": "https://json-schema.org/draft/2020-12/schema", **residual}
    validator = _array_validator(json.dumps(residual, sort_keys=True))
    if validator.is_valid(rows):
        return
    for err in validator.iter_errors(rows):
        k = err.instance_path[0]
        where = err.instance_path[1] if len(err.instance_path) > 1 else "|".join(names)
        rule, detail = _rule(err, residual)
        _report_rows(report, table, np.flatnonzero(inverse == k), where, rule, detail,
                     lambda i, inst=err.instance: inst)


def _referenced(node, found: set) -> set | None:
    """Property names a schema fragment reads, or None if it may read any of them."""
    if isinstance(node, dict):
        if _ALL_FIELDS & set(node):
            return None
        found.update(node.get("properties", {}))
        found.update(node.get("required", []))
        for value in node.values():
            if _referenced(value, found) is None:
                return None
    elif isinstance(node, list):
        for value in node:
            if _referenced(value, found) is None:
                return None
    return found


# ---------------------------------------------------------------- cross-row checks

def _windows(schema: dict) -> list[dict]:
    windows = schema.get("x-timeWindow", [])
    return [windows] if isinstance(windows, dict) else windows


def _check_batch(table: _Table, kept: dict[str, _Kept], batch_date: dt.date | None,
                 report: Report) -> None:
    """The cross-row rules one batch can be checked for on its own (given the files it needs)."""
    schema = table.schema
    for fk in schema.get("x-foreignKeys", []):
        _check_reference(table, fk["fields"], kept.get(fk["reference"]["resource"]),
                         fk["reference"]["fields"], "foreign_key", report)
    for window in _windows(schema):
        _check_window(table, window, kept.get(window["resource"]), report)
    for rule in schema.get("x-rowRules", []):
        _check_row_rule(table, rule, report)
    if batch_date is not None and "x-batchDate" in schema:
        _check_batch_date(table, schema["x-batchDate"]["field"], batch_date, report)


def _check_whole(table: _Kept, kept: dict[str, _Kept], report: Report) -> None:
    """The rules that need a whole file: unique keys, and keys some other file must use."""
    schema = table.schema
    if table.has(schema.get("x-primaryKey")):
        _check_unique(table, schema["x-primaryKey"], report)
    for ref in schema.get("x-referencedBy", []):
        _check_reference(table, ref["fields"], kept.get(ref["by"]["resource"]),
                         ref["by"]["fields"], "unreferenced", report)


def _check_unique(table: _Kept, col: str, report: Report) -> None:
    """Every occurrence of a key after its first is a 'unique' violation."""
    text = table.text(col)
    encoded = pc.dictionary_encode(text)  # nulls (missing keys) stay null
    if len(encoded.dictionary) == len(text) - text.null_count:
        return
    index = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    order = np.argsort(index, kind="stable")
    later = np.zeros(table.n, dtype=bool)
    later[order[1:]] = index[order[1:]] == index[order[:-1]]
    rows = np.flatnonzero(later & (index >= 0))
    _report_rows(report, table, rows, col, "unique", "duplicate key",
                 lambda i: text[int(i)].as_py())


def _key(table, fields: list[str]) -> pa.Array | None:
    if not all(table.has(f) for f in fields):
        return None
    if len(fields) == 1:
        return table.text(fields[0])
    return pc.binary_join_element_wise(*(table.text(f) for f in fields), "\x1f")


def _check_reference(table, fields: list[str], other, other_fields: list[str], rule: str,
                     report: Report) -> None:
    """Every key of `table` appears in `other` (foreign_key) or in `other`'s keys (unreferenced)."""
    mine, theirs = _key(table, fields), None if other is None else _key(other, other_fields)
    if mine is None or theirs is None:
        return  # a missing file or column is already reported
    usable = np.ones(table.n, dtype=bool)
    for f in fields:
        usable &= table.usable(f)
    found = pc.is_in(mine, value_set=theirs.unique()).to_numpy(zero_copy_only=False)
    broken = usable & ~found
    if not broken.any():
        return
    verb = "not in" if rule == "foreign_key" else "no row in"
    culprit = np.full(table.n, ",".join(fields), dtype=object)
    for f, g in reversed(list(zip(fields, other_fields, strict=True))):
        alone = pc.is_in(table.text(f), value_set=other.text(g).unique())
        culprit[~alone.to_numpy(zero_copy_only=False)] = f  # the first field absent on its own
    for where in dict.fromkeys(culprit[broken]):
        rows = np.flatnonzero(broken & (culprit == where))
        _report_rows(report, table, rows, where, rule, f"{verb} {other.file}",
                     lambda i: ",".join(str(table.text(f)[int(i)]) for f in fields))


def _epochs(table: _Table, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of a date-time column and the mask of rows where it is usable."""
    column = table.cols[col]
    if column._epochs is None:
        good = np.array([isinstance(v, str) for v in column.distinct], dtype=bool) & ~column.bad
        if column._seconds is not None:  # read typed: no parsing
            epochs, ok = column._seconds, good
        else:
            words = column._words if column._words is not None else \
                pa.array([v if isinstance(v, str) else None for v in column.distinct],
                         type=pa.string())
            words = pc.if_else(pa.array(good), pc.cast(words, pa.string()),
                               pa.scalar(None, pa.string()))
            epochs, ok = parse_rfc3339(words)
            ok &= good
        column._epochs = (epochs, ok)
    epochs, ok = column._epochs
    return epochs[column.index], ok[column.index]


def _comparable(table: _Table, col: str) -> tuple[np.ndarray, np.ndarray]:
    """A column as numbers that order like its values (epochs, days or the numbers)."""
    kind = column_type(table.schema["properties"][col])
    if kind == "date-time":
        return _epochs(table, col)
    column = table.cols[col]
    ok = np.array([v is not None for v in column.distinct], dtype=bool) & ~column.bad
    if kind == "date":
        days = np.array([v if g else "1970-01-01" for v, g in zip(column.distinct, ok,
                                                                  strict=True)],
                        dtype="datetime64[D]").astype(np.int64)
        return days[column.index], ok[column.index]
    ok &= np.array([isinstance(v, (int, float)) and not isinstance(v, bool)
                    for v in column.distinct], dtype=bool)
    numbers = np.array([v if g else np.nan for v, g in zip(column.distinct, ok, strict=True)],
                       dtype=float)
    return numbers[column.index], ok[column.index]


def _check_window(table: _Table, window: dict, other: _Kept | None, report: Report) -> None:
    col, key = window["field"], window["key"]
    needed = (window["start"], window["end"], key)
    if other is None or other.n == 0 or col not in table.cols or key not in table.cols \
            or not all(other.has(c) for c in needed):
        return
    when, ok = table.epochs(col)
    start, start_ok = other.epochs(window["start"])
    end, end_ok = other.epochs(window["end"])
    idx = pc.index_in(table.text(key), value_set=other.text(key))
    found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    j = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    ok &= found & start_ok[j] & end_ok[j]
    outside = np.flatnonzero(ok & ((when < start[j]) | (when > end[j])))
    text = table.cols[col].text
    _report_rows(report, table, outside, col, "time_window",
                 f"outside {window['start']}..{window['end']} of {other.file}",
                 lambda i: text[int(i)].as_py())


def _check_row_rule(table: _Table, rule: dict, report: Report) -> None:
    left, op, right = rule["left"], rule["op"], rule["right"]
    if left not in table.cols or right not in table.cols:
        return
    a, a_ok = _comparable(table, left)
    b, b_ok = _comparable(table, right)
    broken = np.flatnonzero(a_ok & b_ok & ~_OPS[op](a, b))
    lhs, rhs = table.cols[left], table.cols[right]
    _report_rows(report, table, broken, left, "row_rule", f"{left} {op} {right}",
                 lambda i: (lhs.distinct[lhs.index[i]], rhs.distinct[rhs.index[i]]))


def _check_batch_date(table: _Table, col: str, batch_date: dt.date, report: Report) -> None:
    if col not in table.cols:
        return
    text = table.cols[col].text
    day = pc.utf8_slice_codeunits(text, 0, 10)
    wrong = pc.fill_null(pc.not_equal(day, batch_date.isoformat()), False)
    rows = np.flatnonzero(wrong.to_numpy(zero_copy_only=False) & table.cols[col].usable())
    _report_rows(report, table, rows, col, "batch_date", f"batch {batch_date}",
                 lambda i: text[int(i)].as_py())


__all__ = ["FILES", "Report", "Violation", "validate_day"]
