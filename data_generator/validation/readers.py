"""The validator's readers: a day file (CSV, JSONL or Parquet) as batches of typed columns.

They never stop at bad data: undecodable bytes, ragged CSV rows, JSON that does not parse,
headers that differ from the contract and numbers printed with other decimals are reported as
violations and reading goes on; a file that cannot be read at all is reported and skipped.

CSV and JSONL are read in blocks of `BLOCK_SIZE` bytes, Parquet by row group; a CSV file of one
block (a day's part) is read once and parsed in the calling thread. A JSONL block whose every
line is one object with the contract's keys in order and string (or null) values is read as
columns of text: by pyarrow's JSON reader when the lines are written compactly, else decoded in
one pass by orjson; any other block is read line by line with the standard library's decoder,
which names each bad line. Parquet columns
must have the contract's storage type (see data_generator/writer.py); their values are turned
into what the CSV reader gives (integers, floats, RFC 3339 text in the column's zone, dates as
text), so the same contract rules apply. Parquet `line` numbers are 1-based row numbers.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from data_generator.contracts import Violation, column_type, columns
from data_generator.timeutil import format_date, format_rfc3339
from data_generator.validation.batches import Batch, Column, Unreadable
from data_generator.validation.report import Report, report_rows

BLOCK_SIZE = 16 << 20  # bytes per CSV/JSONL batch: bounds memory, not results (a day's part is one or two)


@dataclass(frozen=True)
class Written:
    """A file's bytes held in memory (a part checked before it is appended to its day file),
    read as the file named `name` holding them would be."""

    name: str
    data: bytes

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def exists(self) -> bool:
        return True


def _open(path: Path | Written):
    return io.BytesIO(path.data) if isinstance(path, Written) else open(path, "rb")  # noqa: SIM115 (the caller's)


def read_batches(path: Path | Written, name: str, schema: dict, report: Report) -> Iterator[Batch]:
    """The rows of file `path` (contract `name`) in batches, read by the file's suffix."""
    reader = {".csv": _csv_batches, ".jsonl": _jsonl_batches, ".parquet": _parquet_batches}
    return reader[path.suffix](path, name, schema, report)


def _blocks(path: Path, file: str, report: Report):
    """(first line number, bytes) blocks of about BLOCK_SIZE ending at a line break, with
    undecodable sequences replaced and each such line reported as 'encoding'."""
    line, carry, before = 1, b"", b""
    with _open(path) as f:
        while True:
            data = f.read(BLOCK_SIZE)
            buf = carry + data
            cut = buf.rfind(b"\n") + 1 if data else len(buf)
            if data and cut == 0:
                carry = buf
                continue
            block, carry = buf[:cut], buf[cut:]
            if block:
                line += before.count(b"\n")  # the lines of the block before (none for the first)
                yield line, _utf8(block, file, line, report)
                before = block
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
    if _is_utf8(raw):
        return raw
    for i, line in enumerate(raw.split(b"\n")):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.add(Violation(file, first_line + i, None, "encoding",
                                 line[exc.start:exc.start + 8], "not UTF-8"))
    return raw.decode("utf-8", errors="replace").encode("utf-8")


def _is_utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [
        None, pa.py_buffer(np.array([0, len(raw)], dtype=np.int64)), pa.py_buffer(raw)])
    try:
        whole.cast(pa.large_string())  # pyarrow's UTF-8 check: no copy, no Python str
        return True
    except pa.ArrowInvalid:
        return False


def _csv_batches(path: Path, name: str, schema: dict, report: Report):
    file = path.name
    whole = _whole(path)  # a file of one block is read once, for its header, survey and rows
    if whole is not None:
        end = whole.find(b"\n", 0, 1 << 20)
        head = whole[:end + 1 if end >= 0 else 1 << 20]
    else:
        with _open(path) as f:
            head = f.readline(1 << 20)
    head = head.rstrip(b"\n").decode("utf-8", errors="replace").rstrip("\r")
    try:
        header = next(csv.reader([head]), [])
    except csv.Error as exc:
        report.add(Violation(file, 1, None, "parse", head[:80], str(exc)))
        raise Unreadable from None
    if not header:
        report.add(Violation(file, 1, None, "parse", None, "no header line"))
        raise Unreadable
    check_header(header, schema, file, 1, report)
    names = [c if c not in header[:i] else f"{c}\x00{i}" for i, c in enumerate(header)]
    numbering = _Lines(first=2)

    def ragged(row) -> str:
        numbering.skip(row.number, row.text)
        return "skip"

    if whole is not None:
        quotes, source = b'"' in whole, pa.BufferReader(_utf8(whole, file, 1, report))
    else:
        quotes, clean = _survey(path)
        source = _clean_source(path) if clean else io.BufferedReader(
            _BlockStream(_blocks(path, file, report)), BLOCK_SIZE)
    options = dict(
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_SIZE,
                                       use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=quotes, invalid_row_handler=ragged),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True,
            null_values=[""], quoted_strings_can_be_null=True,
            check_utf8=False))  # the bytes are UTF-8: checked (or mended) before
    reader = None
    try:
        if whole is not None:  # one block, parsed in this thread
            batches = pacsv.read_csv(source, **options).to_batches()
        else:
            batches = reader = pacsv.open_csv(source, **options)
        for data in batches:
            for number, text in numbering.flush():
                report.add(Violation(file, number, None, "parse", text[:80],
                                     f"expected {len(names)} fields"))
            table = Batch(name, file, schema, numbering.take(data.num_rows))
            for col, prop in schema["properties"].items():
                if col in data.schema.names:
                    table.cols[col] = Column(data.column(col), prop)
                    _check_decimals(table, col, prop, report)
            yield table
    except (pa.ArrowInvalid, ValueError) as exc:
        report.add(Violation(file, None, None, "parse", None, str(exc).splitlines()[0][:200]))
        raise Unreadable from None
    finally:
        if reader is not None:
            reader.close()
    for number, text in numbering.flush():
        report.add(Violation(file, number, None, "parse", text[:80],
                             f"expected {len(names)} fields"))


def _clean_source(path: Path | Written):
    return pa.BufferReader(path.data) if isinstance(path, Written) else str(path)


def _whole(path: Path | Written) -> bytes | None:
    """The file's bytes if it is no larger than one block (a day's part), else None."""
    if isinstance(path, Written):
        return path.data if len(path.data) <= BLOCK_SIZE else None
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size > BLOCK_SIZE:
            return None
        return f.read()


def _survey(path: Path) -> tuple[bool, bool]:
    """Whether the file holds a quote (without quotes no value can hold a line break, and
    parsing is faster), and whether its blocks are all UTF-8 (then pyarrow reads the file itself:
    there is nothing to replace or report)."""
    quotes, clean = False, True
    with _open(path) as f:
        while block := f.read(BLOCK_SIZE):
            quotes = quotes or b'"' in block
            clean = clean and _is_utf8(block)  # a character cut by the block's end: not clean
            if quotes and not clean:
                break
    return quotes, clean


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


def _check_decimals(table: Batch, col: str, prop: dict, report: Report) -> None:
    """Numbers printed with exactly `x-decimals` decimals, so loaders infer one type."""
    if column_type(prop) != "number" or "x-decimals" not in prop:
        return
    column = table.cols[col]
    words = pa.array([v if isinstance(v, str) else None for v in column.distinct],
                     type=pa.string())  # the unparseable ones are a 'type' error instead
    printed = pc.cast(column.words, pa.string())
    exact = pc.match_substring_regex(printed, rf"^-?[0-9]+\.[0-9]{{{prop['x-decimals']}}}$")
    wrong = pc.filter(printed, pc.invert(exact))
    wrong = pc.filter(wrong, pc.invert(pc.is_in(wrong, value_set=words)))
    if len(wrong):
        rows = np.flatnonzero(pc.is_in(column.text, value_set=wrong).to_numpy(
            zero_copy_only=False))
        report_rows(report, table, rows, col, "decimals", f"{prop['x-decimals']} decimals",
                     lambda i: column.text[int(i)].as_py())


def _jsonl_batches(path: Path, name: str, schema: dict, report: Report):
    """One batch per block of lines; a column whose values are all strings (or absent) is read
    as the CSV reader reads text, any other keeps each row's JSON value."""
    file, cols = path.name, columns(schema)
    strings = pa.struct([(col, pa.string()) for col in cols])
    textual = all(column_type(schema["properties"][col]) not in ("integer", "number")
                  for col in cols)
    for first, block in _blocks(path, file, report):
        text = _string_objects(block, cols) if textual else None
        if text is not None:
            table = Batch(name, file, schema, np.arange(first, first + len(text[0]),
                                                          dtype=np.int64))
            for col, values in zip(cols, text, strict=True):
                table.cols[col] = Column(values, schema["properties"][col])
            yield table
            continue
        physical = block.split(b"\n")
        if physical and physical[-1] == b"":
            physical.pop()
        rows = _plain_objects(block, physical, cols)
        text = None if rows is None else _as_text(rows, strings)
        if text is not None:
            lines = np.arange(first, first + len(rows), dtype=np.int64)
        else:
            rows, lines = _objects([line.decode("utf-8") for line in physical], first, schema,
                                   file, report)
            text = _as_text(rows, strings)
        table = Batch(name, file, schema, lines)
        for k, col in enumerate(cols):
            prop = schema["properties"][col]
            if text is not None and column_type(prop) not in ("integer", "number"):
                table.cols[col] = Column(text.field(k), prop)
                continue
            values = [row.get(col) for row in rows]
            table.cols[col] = Column(_json_text(values), prop, values, np.arange(len(values)),
                                      np.zeros(len(values), bool))
        yield table


def _string_objects(block: bytes, cols: list[str]) -> list[pa.Array] | None:
    """The block's columns of text when each line is one object written compactly, with the
    contract's keys in order and string or null values (none escaping a lone surrogate, none
    but the last escaping a character), decoded by pyarrow's JSON reader, whose strings are the
    standard library's; None for any other block (read by `_plain_objects` or line by line).

    pyarrow refuses values of other types, a key twice, keys the contract does not name and an
    escaped lone surrogate (which the standard library decodes, and line-by-line reading
    reports); each line must start with `{` and give one row, and each key must be written as
    `"key":` where the values before it, written plainly, put it (an unescaped quote followed
    by a key and `":` is only ever a key)."""
    data = np.frombuffer(block, np.uint8)
    if not block.endswith(b"\n"):
        return None
    try:
        table = pajson.read_json(
            pa.BufferReader(block),
            read_options=pajson.ReadOptions(use_threads=False, block_size=len(block)),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([(col, pa.string()) for col in cols]),
                unexpected_field_behavior="error"))
    except pa.ArrowException:  # not JSON, another value type, a key twice, a bad escape or
        return None  # an escaped lone surrogate
    starts = np.concatenate([[0], _line_breaks(data)[:-1] + 1])
    if table.num_rows != len(starts) or not (data[starts] == ord("{")).all():
        return None
    text = [_one_array(table.column(col)) for col in cols]
    at = starts + 1
    for col, values in zip(cols, text, strict=True):
        key = f"{json.dumps(col)}:".encode()
        if (at > len(data) - len(key)).any() \
                or not all((data[at + j] == byte).all() for j, byte in enumerate(key)):
            return None
        offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset:values.offset + len(values) + 1]
        written = np.diff(offsets) + 2  # "value"
        if values.null_count:
            written[~values.is_valid().to_numpy(zero_copy_only=False)] = len("null")
        at = at + len(key) + written + 1  # and a comma
    return text


def _line_breaks(data: np.ndarray, piece: int = 1 << 18) -> np.ndarray:
    """The positions of the line breaks in `data`, found a piece at a time (so the masks are
    small and stay in the cache rather than being as large as the block)."""
    found = [np.flatnonzero(data[at:at + piece] == ord("\n")) + at
             for at in range(0, len(data), piece)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.intp)


def _one_array(values: pa.ChunkedArray) -> pa.Array:
    """A column's values as one array (without a copy when they are one chunk)."""
    return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()


def _as_text(rows: list[dict], strings: pa.StructType) -> pa.StructArray | None:
    """The rows as columns of text, if every value of every column is a string or null."""
    try:
        return pa.array(rows, type=strings)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None


def _plain_objects(block: bytes, physical: list[bytes], cols: list[str]) -> list[dict] | None:
    """Each line's object when every line of the block is one JSON object with the contract's
    keys in order (and no escaped surrogate), decoded in one pass by orjson; None if any line
    needs the line-by-line reading that reports it. (For values other than strings and null
    the block is read again line by line, so every value is the standard library's.)"""
    if _SURROGATE_ESCAPE_BYTES.search(block):
        return None
    try:
        with _cycles_uncollected():
            objects = list(map(orjson.loads, physical))
    except ValueError:
        return None
    if set(map(type, objects)) - {dict} or set(map(tuple, objects)) - {tuple(cols)}:
        return None
    return objects


@contextmanager
def _cycles_uncollected():
    """Pause Python's cycle collector: decoding a block builds many containers and no cycles,
    and collections in the middle would scan them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _objects(physical: list[str], first: int, schema: dict, file: str,
             report: Report) -> tuple[list[dict], np.ndarray]:
    """The objects of a block's lines and their line numbers, line by line: a line that is not
    an object is reported as 'json', one with other keys or order by `check_header`."""
    cols = columns(schema)
    rows, lines = [], []
    for i, line in enumerate(physical, start=first):
        obj = _json_object(line, file, i, report)
        if obj is None:
            continue
        if list(obj) != cols:
            check_header(list(obj), schema, file, i, report)
        rows.append(obj)
        lines.append(i)
    return rows, np.array(lines, dtype=np.int64)


def _json_text(values: list) -> pa.Array:
    """Per value: the string, or null for any other JSON value."""
    return pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())


def _parquet_batches(path: Path, name: str, schema: dict, report: Report):
    """One batch per row group; columns turned into the values the CSV reader gives."""
    file = path.name
    try:
        parquet = pq.ParquetFile(path)
        found = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        report.add(Violation(file, None, None, "parse", None, str(exc).splitlines()[0][:200]))
        raise Unreadable from None
    check_header(found.names, schema, file, None, report)
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
            raise Unreadable from None
        table = Batch(name, file, schema, np.arange(start, start + group.num_rows,
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


def _parquet_column(values: pa.Array, prop: dict) -> Column:
    """A typed Parquet column as a Column: distinct values typed as the CSV reader types them,
    timestamps as RFC 3339 text in the column's zone (no offset if it has none)."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    kind = column_type(prop)
    if kind == "string":
        return Column(pc.cast(values, pa.string()), prop)
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
    column = Column(pc.take(printed, pa.array(index)), prop, distinct, index,
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


def _check_parquet_decimals(table: Batch, col: str, prop: dict, report: Report) -> None:
    """Parquet numbers hold no more than `x-decimals` decimals (what CSV would print)."""
    if column_type(prop) != "number" or "x-decimals" not in prop:
        return
    column = table.cols[col]
    scale = 10.0 ** prop["x-decimals"]
    wrong = np.array([isinstance(v, float) and np.rint(v * scale) / scale != v
                      for v in column.distinct], dtype=bool)
    if wrong.any():
        rows = np.flatnonzero(wrong[column.index])
        report_rows(report, table, rows, col, "decimals", f"{prop['x-decimals']} decimals",
                     lambda i: column.distinct[column.index[i]])


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_SCAN = json.JSONDecoder(parse_constant=_reject_constant).scan_once
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode())


def _json_object(line: str, file: str, number: int, report: Report) -> dict | None:
    """The object on one line, or None with the line reported as 'json'."""
    try:
        obj, end = _SCAN(line, 0)  # what json.loads does, without its per-call set-up
    except (StopIteration, ValueError, RecursionError):
        end = -1
    if end != len(line):  # a parse error, or whitespace or more around the value
        try:
            obj = json.loads(line, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            report.add(Violation(file, number, None, "json", line[:80], str(exc)[:120]))
            return None
    if not isinstance(obj, dict):
        report.add(Violation(file, number, None, "json", line[:80], "not an object"))
        return None
    if _SURROGATE_ESCAPE.search(line) and not _is_text(obj):
        report.add(Violation(file, number, None, "json", line[:80],
                             "a string escapes a lone UTF-16 surrogate, which is not text"))
        return None
    return obj


def _is_text(obj: dict) -> bool:
    """Whether every string of a decoded line is Unicode text (a lone surrogate escape is not)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_header(found: list[str], schema: dict, file: str, line: int,
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
