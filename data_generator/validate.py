"""The one validator: every row of every file of a day, checked against its contract.

Per file: the header, then each column as a whole (one jsonschema_rs call per column; rows are
located only when a column is invalid), then per-test conditionals (`allOf` if/then on a
constant) one group at a time, then any other schema construct row by row. Across rows and
files: the `x-*` rules of the schemas (keys, references, time windows, row rules, batch date).
A file that cannot be read is reported, never raised.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema_rs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from data_generator.contracts import (
    FILES,
    Violation,
    column_type,
    columns,
    contracts,
    file_name,
)
from data_generator.errors import ContractError
from data_generator.publish import MANIFEST, verify_manifest
from data_generator.timeutil import parse_rfc3339

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
    """One column as read: each distinct cell once (typed), and each row's position in it.

    Checks run on the distinct values (a column of a million rows holds a few hundred distinct
    heart rates) and map back to rows through `index`; JSONL columns are not deduplicated.
    """

    text: pa.Array  # per row: the cell as text, null when missing or not a string
    distinct: list  # typed distinct values (ints, floats, strings, None; unparseable text)
    index: np.ndarray  # per row: position in `distinct`
    bad: np.ndarray  # per distinct value: failed a column or conditional check
    _epochs: tuple | None = None

    def usable(self) -> np.ndarray:
        """Per row: present and passed its checks."""
        present = np.array([v is not None for v in self.distinct], dtype=bool)
        return (present & ~self.bad)[self.index]


@dataclass
class _Table:
    name: str
    file: str
    schema: dict
    lines: np.ndarray
    cols: dict[str, _Column] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.lines)


def validate_day(folder: Path, batch_date: dt.date | None = None,
                 max_violations: int = 10000) -> Report:
    """Check the five files in `folder` against their contracts; never raises on bad data."""
    folder = Path(folder)
    report = Report(max_violations=max_violations)
    manifest = _read_manifest(folder, report)
    if batch_date is None and isinstance(manifest.get("batch_date"), str):
        try:
            batch_date = dt.date.fromisoformat(manifest["batch_date"])
        except ValueError:
            report.add(Violation(MANIFEST, None, "batch_date", "manifest",
                                 manifest["batch_date"], "not a date"))
    tables = {}
    for name, schema in contracts().items():
        table = _read(folder / file_name(schema), name, schema, report)
        if table is not None:
            report.rows[table.file] = table.n
            _check_columns(table, report)
            tables[name] = table
    for table in tables.values():
        _check_cross(table, tables, batch_date, report)
    return report


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

def _read(path: Path, name: str, schema: dict, report: Report) -> _Table | None:
    file = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        report.add(Violation(file, None, None, "missing_file", detail="not found"))
        return None
    except OSError as exc:
        report.add(Violation(file, None, None, "parse", exc.strerror, "cannot read"))
        return None
    if file.endswith(".csv"):
        return _read_csv(raw, file, name, schema, report)
    return _read_jsonl(_utf8(raw, file, report), file, name, schema, report)


def _utf8(raw: bytes, file: str, report: Report) -> bytes:
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
            report.add(Violation(file, i + 1, None, "encoding", line[exc.start:exc.start + 8],
                                 "not UTF-8"))
    return raw.decode("utf-8", errors="replace").encode("utf-8")


def _read_csv(raw: bytes, file: str, name: str, schema: dict,
              report: Report) -> _Table | None:
    end = raw.find(b"\n")
    head = raw[:end if end >= 0 else len(raw)].decode("utf-8", errors="replace").rstrip("\r")
    try:
        header = next(csv.reader([head]), [])
    except csv.Error as exc:
        report.add(Violation(file, 1, None, "parse", head[:80], str(exc)))
        return None
    if not header:
        report.add(Violation(file, 1, None, "parse", None, "no header line"))
        return None
    _check_header(header, schema, file, 1, report)
    unique = [c if c not in header[:i] else f"{c}\x00{i}" for i, c in enumerate(header)]
    try:
        data, lines = _parse_csv(_utf8(raw, file, report), unique, file, report)
    except (pa.ArrowInvalid, ValueError) as exc:
        report.add(Violation(file, None, None, "parse", None, str(exc).splitlines()[0][:200]))
        return None
    table = _Table(name, file, schema, lines)
    for col, prop in schema["properties"].items():
        if col in data.column_names:
            table.cols[col] = _csv_column(data.column(col).combine_chunks(), prop)
            _check_decimals(table, col, prop, report)
    return table


def _parse_csv(raw: bytes, names: list[str], file: str,
               report: Report) -> tuple[pa.Table, np.ndarray]:
    """All data records as strings, plus each kept record's line number (record i -> i + 2)."""
    skipped: list[tuple[int | None, str]] = []
    quoted = b'"' in raw  # without quotes no value can hold a line break (faster parsing)

    def ragged(row) -> str:
        skipped.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=threads),
            parse_options=pacsv.ParseOptions(newlines_in_values=quoted,
                                             invalid_row_handler=ragged),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True))

    data = read(threads=True)
    if skipped:  # the threaded reader does not number rows: read again to locate them
        skipped.clear()
        data = read(threads=False)
        for number, text in skipped:
            report.add(Violation(file, number, None, "parse", text[:80],
                                 f"expected {len(names)} fields"))
    numbers = np.array([s[0] for s in skipped if s[0] is not None], dtype=np.int64)
    lines = np.arange(data.num_rows + len(skipped), dtype=np.int64) + 2
    return data, lines[~np.isin(lines, numbers)][:data.num_rows]


def _csv_column(text: pa.Array, prop: dict) -> _Column:
    encoded = pc.dictionary_encode(text, null_encoding="encode")
    words = encoded.dictionary
    return _Column(text, _typed(words, prop), encoded.indices.to_numpy(zero_copy_only=False),
                   np.zeros(len(words), dtype=bool))


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


def _read_jsonl(raw: bytes, file: str, name: str, schema: dict,
                report: Report) -> _Table:
    cols = columns(schema)
    rows, lines = [], []
    physical = raw.decode("utf-8").split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    for i, line in enumerate(physical):
        obj = _json_object(line, file, i + 1, report)
        if obj is None:
            continue
        if list(obj) != cols:
            _check_header(list(obj), schema, file, i + 1, report)
        rows.append(obj)
        lines.append(i + 1)
    table = _Table(name, file, schema, np.array(lines, dtype=np.int64))
    for col in cols:
        values = [row.get(col) for row in rows]
        text = pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
        table.cols[col] = _Column(text, values, np.arange(len(values)),
                                  np.zeros(len(values), dtype=bool))
    return table


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_object(line: str, file: str, number: int, report: Report) -> dict | None:
    try:
        obj = json.loads(line, parse_constant=_reject_constant)
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

def _check_cross(table: _Table, tables: dict[str, _Table], batch_date: dt.date | None,
                 report: Report) -> None:
    schema = table.schema
    if schema.get("x-primaryKey") in table.cols:
        _check_unique(table, schema["x-primaryKey"], report)
    for fk in schema.get("x-foreignKeys", []):
        _check_reference(table, fk["fields"], tables.get(fk["reference"]["resource"]),
                         fk["reference"]["fields"], "foreign_key", report)
    for ref in schema.get("x-referencedBy", []):
        _check_reference(table, ref["fields"], tables.get(ref["by"]["resource"]),
                         ref["by"]["fields"], "unreferenced", report)
    windows = schema.get("x-timeWindow", [])
    for window in [windows] if isinstance(windows, dict) else windows:
        _check_window(table, window, tables.get(window["resource"]), report)
    for rule in schema.get("x-rowRules", []):
        _check_row_rule(table, rule, report)
    if batch_date is not None and "x-batchDate" in schema:
        _check_batch_date(table, schema["x-batchDate"]["field"], batch_date, report)


def _check_unique(table: _Table, col: str, report: Report) -> None:
    column = table.cols[col]
    counts = np.bincount(column.index, minlength=len(column.distinct))
    present = np.array([v is not None for v in column.distinct], dtype=bool)
    if not (present & (counts > 1)).any():
        return
    order = np.argsort(column.index, kind="stable")
    later = np.zeros(table.n, dtype=bool)  # every occurrence after a key's first
    later[order[1:]] = column.index[order[1:]] == column.index[order[:-1]]
    rows = np.flatnonzero(later & present[column.index])
    _report_rows(report, table, rows, col, "unique", "duplicate key",
                 lambda i: column.distinct[column.index[i]])


def _key(table: _Table, fields: list[str]) -> pa.Array | None:
    if not all(f in table.cols for f in fields):
        return None
    if len(fields) == 1:
        return table.cols[fields[0]].text
    return pc.binary_join_element_wise(*(table.cols[f].text for f in fields), "\x1f")


def _check_reference(table: _Table, fields: list[str], other: _Table | None,
                     other_fields: list[str], rule: str, report: Report) -> None:
    """Every key of `table` appears in `other` (foreign_key) or in `other`'s keys (unreferenced)."""
    mine, theirs = _key(table, fields), None if other is None else _key(other, other_fields)
    if mine is None or theirs is None:
        return  # a missing file or column is already reported
    usable = np.ones(table.n, dtype=bool)
    for f in fields:
        usable &= table.cols[f].usable()
    found = pc.is_in(mine, value_set=theirs.unique()).to_numpy(zero_copy_only=False)
    broken = usable & ~found
    if not broken.any():
        return
    verb = "not in" if rule == "foreign_key" else "no row in"
    culprit = np.full(table.n, ",".join(fields), dtype=object)
    for f, g in reversed(list(zip(fields, other_fields, strict=True))):
        alone = pc.is_in(table.cols[f].text, value_set=other.cols[g].text.unique())
        culprit[~alone.to_numpy(zero_copy_only=False)] = f  # the first field absent on its own
    for where in dict.fromkeys(culprit[broken]):
        rows = np.flatnonzero(broken & (culprit == where))
        _report_rows(report, table, rows, where, rule, f"{verb} {other.file}",
                     lambda i: ",".join(str(table.cols[f].text[int(i)]) for f in fields))


def _epochs(table: _Table, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of a date-time column and the mask of rows where it is usable."""
    column = table.cols[col]
    if column._epochs is None:
        ok = np.array([isinstance(v, str) for v in column.distinct], dtype=bool) & ~column.bad
        epochs = np.zeros(len(column.distinct), dtype=np.int64)
        picked = np.array([v for v, g in zip(column.distinct, ok, strict=True) if g], dtype=str)
        try:
            epochs[ok] = parse_rfc3339(picked)
        except ValueError:  # a form the format check allows but numpy cannot read (leap second)
            for j, i in enumerate(np.flatnonzero(ok)):
                try:
                    epochs[i] = parse_rfc3339(picked[j:j + 1])[0]
                except ValueError:
                    ok[i] = False
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


def _check_window(table: _Table, window: dict, other: _Table | None, report: Report) -> None:
    col, key = window["field"], window["key"]
    needed = (window["start"], window["end"], key)
    if other is None or other.n == 0 or col not in table.cols or key not in table.cols \
            or not all(c in other.cols for c in needed):
        return
    when, ok = _epochs(table, col)
    start, start_ok = _epochs(other, window["start"])
    end, end_ok = _epochs(other, window["end"])
    idx = pc.index_in(table.cols[key].text, value_set=other.cols[key].text)
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
