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
class _Table:
    """One file as read: per column its text (pyarrow strings) and typed values (a list)."""

    name: str
    file: str
    schema: dict
    lines: np.ndarray
    text: dict[str, pa.Array] = field(default_factory=dict)
    values: dict[str, list] = field(default_factory=dict)
    bad: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.lines)

    def good(self, col: str) -> np.ndarray:
        """Rows whose cell in `col` is present and passed its column checks."""
        present = pc.is_valid(self.text[col]).to_numpy(zero_copy_only=False)
        return present & ~self.bad[col]


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
    raw = _utf8(raw, file, report)
    reader = _read_csv if file.endswith(".csv") else _read_jsonl
    return reader(raw, file, name, schema, report)


def _utf8(raw: bytes, file: str, report: Report) -> bytes:
    """The bytes with undecodable sequences replaced, each bad line reported as 'encoding'."""
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:
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
    head, _, _ = raw.partition(b"\n")
    try:
        header = next(csv.reader([head.decode().rstrip("\r")]), [])
    except csv.Error as exc:
        report.add(Violation(file, 1, None, "parse", head[:80].decode(), str(exc)))
        return None
    if not header:
        report.add(Violation(file, 1, None, "parse", None, "no header line"))
        return None
    _check_header(header, schema, file, 1, report)
    unique = [c if c not in header[:i] else f"{c}\x00{i}" for i, c in enumerate(header)]
    try:
        data, lines = _parse_csv(raw, unique, file, report)
    except (pa.ArrowInvalid, ValueError) as exc:
        report.add(Violation(file, None, None, "parse", None, str(exc).splitlines()[0][:200]))
        return None
    table = _Table(name, file, schema, lines)
    for col, prop in schema["properties"].items():
        if col in data.column_names:
            text = data.column(col).combine_chunks()
            table.text[col], table.values[col] = _typed(text, prop, table, col, report)
    return table


def _parse_csv(raw: bytes, names: list[str], file: str,
               report: Report) -> tuple[pa.Table, np.ndarray]:
    """All data records as strings, plus each kept record's line number (record i -> i + 2)."""
    skipped: list[tuple[int | None, str]] = []

    def ragged(row) -> str:
        skipped.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=threads),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=ragged),
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


def _typed(text: pa.Array, prop: dict, table: _Table, col: str,
           report: Report) -> tuple[pa.Array, list]:
    """Parse a CSV column to its schema type; unparseable cells stay text (a 'type' error)."""
    kind = column_type(prop)
    if kind not in ("integer", "number"):
        return text, text.to_pylist()
    parses = pc.fill_null(pc.match_substring_regex(text, _INTEGER if kind == "integer"
                                                   else _NUMBER), True)
    typed = pc.cast(pc.if_else(parses, text, pa.scalar(None, pa.string())),
                    pa.int64() if kind == "integer" else pa.float64())
    values = typed.to_pylist()
    unparsed = np.flatnonzero(~parses.to_numpy(zero_copy_only=False))
    for i in unparsed:
        values[i] = text[int(i)].as_py()
    if kind == "number" and "x-decimals" in prop:
        places = prop["x-decimals"]
        exact = pc.match_substring_regex(text, rf"^-?[0-9]+\.[0-9]{{{places}}}$")
        wrong = pc.and_(parses, pc.invert(pc.fill_null(exact, True)))
        for i in np.flatnonzero(wrong.to_numpy(zero_copy_only=False)):
            report.add(Violation(table.file, int(table.lines[i]), col, "decimals",
                                 text[int(i)].as_py(), f"{places} decimals"))
    return text, values


def _read_jsonl(raw: bytes, file: str, name: str, schema: dict,
                report: Report) -> _Table:
    cols = columns(schema)
    rows, lines = [], []
    text = raw.decode("utf-8")
    physical = text.split("\n")
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
        table.values[col] = values
        table.text[col] = pa.array([v if isinstance(v, str) else None for v in values],
                                   type=pa.string())
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


# ---------------------------------------------------------------- column checks

@cache
def _array_validator(items_json: str):
    items = json.loads(items_json)
    return jsonschema_rs.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
         "items": items}, validate_formats=True)


def _validate_values(table: _Table, col: str, items: dict, values: list,
                     rows: np.ndarray | None, report: Report) -> None:
    """Validate `values` (the column, or the rows `rows` of it) in one call; locate errors."""
    validator = _array_validator(json.dumps(items, sort_keys=True))
    if validator.is_valid(values):
        return
    for err in validator.iter_errors(values):
        i = err.instance_path[0]
        row = int(i if rows is None else rows[i])
        where = err.instance_path[1] if len(err.instance_path) > 1 else col
        if where in table.bad:
            table.bad[where][row] = True
        rule, detail = _rule(err, items)
        report.add(Violation(table.file, int(table.lines[row]), where, rule,
                             err.instance, detail))


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
    table.bad = {col: np.zeros(table.n, dtype=bool) for col in table.values}
    for col, values in table.values.items():
        _validate_values(table, col, props[col], values, None, report)
    rest = []
    for cond in table.schema.get("allOf", []):
        if not _check_conditional(table, cond, report):
            rest.append(cond)
    residual = {k: v for k, v in table.schema.items() if k not in _COVERED
                and not k.startswith("x-")}
    if rest:
        residual["allOf"] = rest
    if residual:
        _check_rows(table, residual, report)


def _check_conditional(table: _Table, cond: dict, report: Report) -> bool:
    """An `if {key: const} then {properties}` entry, one column-wise call per group."""
    try:
        ((key, test),) = cond["if"]["properties"].items()
        const = test["const"]
        then = cond["then"]["properties"]
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    if set(cond) - {"if", "then", "description"} or set(cond["then"]) - {"properties"} \
            or set(then) - set(table.schema["properties"]):
        return False
    if key not in table.values or not all(c in table.values for c in then):
        return True  # the missing column is already reported
    if isinstance(const, str):
        hit = pc.fill_null(pc.equal(table.text[key], const), False)
        rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
    else:
        rows = np.flatnonzero([v == const for v in table.values[key]])
    for col, items in then.items():
        if rows.size:
            subset = np.array(table.values[col], dtype=object)[rows].tolist()
            _validate_values(table, col, items, subset, rows, report)
    return True


def _check_rows(table: _Table, residual: dict, report: Report) -> None:
    """Row-wise fallback for constructs spanning columns (e.g. labs' value-or-text anyOf)."""
    fields = _referenced(residual, set())
    if fields is None or not fields <= set(table.values):
        fields = set(table.values)
    names = [c for c in table.values if c in fields]
    rows = [dict(zip(names, cells, strict=True))
            for cells in zip(*(table.values[c] for c in names), strict=True)]
    residual = {"$schema": "https://json-schema.org/draft/2020-12/schema", **residual}
    validator = _array_validator(json.dumps(residual, sort_keys=True))
    if validator.is_valid(rows):
        return
    for err in validator.iter_errors(rows):
        i = err.instance_path[0]
        where = err.instance_path[1] if len(err.instance_path) > 1 else "|".join(names)
        rule, detail = _rule(err, residual)
        report.add(Violation(table.file, int(table.lines[i]), where, rule, err.instance, detail))


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
    if schema.get("x-primaryKey") in table.text:
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
    keys = table.text[col]
    counts = pc.value_counts(keys)
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if len(repeated) == 0:
        return
    seen = set()
    for i in np.flatnonzero(pc.is_in(keys, value_set=repeated).to_numpy(zero_copy_only=False)):
        key = keys[int(i)].as_py()
        if key in seen:
            report.add(Violation(table.file, int(table.lines[i]), col, "unique", key,
                                 "duplicate key"))
        seen.add(key)


def _key(table: _Table, fields: list[str]) -> pa.Array | None:
    if not all(f in table.text for f in fields):
        return None
    if len(fields) == 1:
        return table.text[fields[0]]
    return pc.binary_join_element_wise(*(table.text[f] for f in fields), "\x1f")


def _check_reference(table: _Table, fields: list[str], other: _Table | None,
                     other_fields: list[str], rule: str, report: Report) -> None:
    """Every key of `table` appears in `other` (foreign_key) or in `other`'s keys (unreferenced)."""
    mine, theirs = _key(table, fields), None if other is None else _key(other, other_fields)
    if mine is None or theirs is None:
        return  # a missing file or column is already reported
    ok = np.ones(table.n, dtype=bool)
    for f in fields:
        ok &= table.good(f)
    found = pc.is_in(mine, value_set=theirs.unique()).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(ok & ~found):
        value = ",".join(str(table.text[f][int(i)].as_py()) for f in fields)
        where = _culprit(table, fields, other, other_fields, int(i))
        detail = f"not in {other.file}" if rule == "foreign_key" else f"no row in {other.file}"
        report.add(Violation(table.file, int(table.lines[i]), where, rule, value, detail))


def _culprit(table: _Table, fields: list[str], other: _Table, other_fields: list[str],
             i: int) -> str:
    """The first field whose value alone is absent from the referenced file, else all of them."""
    for f, g in zip(fields, other_fields, strict=True):
        if not pc.any(pc.equal(other.text[g], table.text[f][i])).as_py():
            return f
    return ",".join(fields)


def _epochs(table: _Table, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of a date-time column and the mask of rows where it is usable."""
    good = table.good(col)
    text = table.text[col]
    epochs = np.zeros(table.n, dtype=np.int64)
    if good.any():
        picked = np.asarray(pc.filter(text, pa.array(good)).to_numpy(zero_copy_only=False),
                            dtype=str)
        try:
            epochs[good] = parse_rfc3339(picked)
        except ValueError:  # a form the format check allows but numpy cannot read (leap second)
            for j, i in enumerate(np.flatnonzero(good)):
                try:
                    epochs[i] = parse_rfc3339(picked[j:j + 1])[0]
                except ValueError:
                    good[i] = False
    return epochs, good


def _comparable(table: _Table, col: str) -> tuple[np.ndarray, np.ndarray]:
    kind = column_type(table.schema["properties"][col])
    if kind == "date-time":
        return _epochs(table, col)
    good = table.good(col)
    if kind == "date":
        days = np.zeros(table.n, dtype="datetime64[D]")
        if good.any():
            days[good] = np.asarray(np.array(table.values[col], dtype=object)[good],
                                    dtype="datetime64[D]")
        return days.astype(np.int64), good
    values = np.array([v if good[i] else None for i, v in enumerate(table.values[col])],
                      dtype=float) if not good.all() else np.array(table.values[col], dtype=float)
    return values, good


def _check_window(table: _Table, window: dict, other: _Table | None, report: Report) -> None:
    col, key = window["field"], window["key"]
    needed = (window["start"], window["end"], key)
    if other is None or col not in table.text or key not in table.text \
            or not all(c in other.text for c in needed):
        return
    when, ok = _epochs(table, col)
    start, start_ok = _epochs(other, window["start"])
    end, end_ok = _epochs(other, window["end"])
    idx = pc.index_in(table.text[key], value_set=other.text[key])
    found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    j = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if other.n == 0:
        return
    ok &= found & start_ok[j] & end_ok[j]
    outside = ok & ((when < start[j]) | (when > end[j]))
    for i in np.flatnonzero(outside):
        detail = (f"outside {window['start']}..{window['end']} of {other.file}:"
                  f"{int(other.lines[j[i]])}")
        report.add(Violation(table.file, int(table.lines[i]), col, "time_window",
                             table.text[col][int(i)].as_py(), detail))


def _check_row_rule(table: _Table, rule: dict, report: Report) -> None:
    left, op, right = rule["left"], rule["op"], rule["right"]
    if left not in table.values or right not in table.values:
        return
    a, a_ok = _comparable(table, left)
    b, b_ok = _comparable(table, right)
    broken = a_ok & b_ok & ~_OPS[op](a, b)
    for i in np.flatnonzero(broken):
        value = (table.values[left][i], table.values[right][i])
        report.add(Violation(table.file, int(table.lines[i]), left, "row_rule", value,
                             f"{left} {op} {right}"))


def _check_batch_date(table: _Table, col: str, batch_date: dt.date, report: Report) -> None:
    if col not in table.text:
        return
    day = pc.utf8_slice_codeunits(table.text[col], 0, 10)
    wrong = pc.fill_null(pc.not_equal(day, batch_date.isoformat()), False)
    wrong = wrong.to_numpy(zero_copy_only=False) & table.good(col)
    for i in np.flatnonzero(wrong):
        report.add(Violation(table.file, int(table.lines[i]), col, "batch_date",
                             table.text[col][int(i)].as_py(), f"batch {batch_date}"))


__all__ = ["FILES", "Report", "Violation", "validate_day"]
