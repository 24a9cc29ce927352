"""Column checks: every cell of a batch against its column's schema.

Each column is checked as a whole: its distinct values in one jsonschema_rs call (rows are
located only when a column is invalid), after a vectorised pass that clears plain string
columns. Then per-test conditionals (`allOf` if/then on a constant) one group at a time, then
any other schema construct row by row, each distinct combination of the columns it reads once.
"""

from __future__ import annotations

import json
import re
from functools import cache

import jsonschema_rs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_generator.contracts import column_type, nullable
from data_generator.validation.batches import TIME_PATTERN, Batch, Column, fixed_match, plain_integers
from data_generator.validation.report import Report, report_rows

_RULES = {"Type": "type", "Enum": "enum", "Constant": "const", "Pattern": "pattern",
          "Format": "format", "Minimum": "minimum", "ExclusiveMinimum": "minimum",
          "Maximum": "maximum", "ExclusiveMaximum": "maximum", "MinLength": "min_length",
          "MaxLength": "max_length", "Required": "required",
          "AdditionalProperties": "extra_column", "AnyOf": "any_of",
          "OneOfNotValid": "one_of", "OneOfMultipleValid": "one_of", "Not": "not",
          "MultipleOf": "multiple_of", "FalseSchema": "false_schema"}
# Keywords the column-wise and conditional passes cover; anything else is checked row-wise.
_COVERED = {"$schema", "$id", "schema_version", "title", "description", "type", "required",
            "additionalProperties", "properties", "allOf"}
_QUICK = {"type", "pattern", "minLength", "maxLength", "enum", "description", "title"}
_QUICK_FORMAT = {"string": set(), "date-time": {"format"}}  # a date-time's format: see plain_times
_QUICK_INTEGER = {"type", "minimum", "maximum", "description", "title"}
_ESCAPED = re.compile(r"\\[^0-9A-Za-z]")  # an escaped punctuation mark: same in RE2 and ECMA
_UNPLAIN = re.compile(r"[\\.]|\(\?")  # classes, any-char and groups whose meaning may differ
SHOW_ALLOWED = 8  # allowed values a message lists before `+N more`
_ALL_FIELDS = {"patternProperties", "propertyNames", "unevaluatedProperties",
               "dependentSchemas", "dependentRequired", "minProperties", "maxProperties", "$ref"}


def check_columns(table: Batch, report: Report) -> None:
    props = table.schema["properties"]
    for col in _grouped(table.schema):
        if col in table.cols:
            table.cols[col].deduplicate()  # repeated keys, and columns read per distinct value
    for column in table.cols.values():
        if column_type(column.prop) == "date-time" and not column.encoded and _repeats(column.text):
            column.deduplicate()  # times shared by rows (a lab panel's): check each once
    for col in table.cols:
        _check_cells(table, col, props[col], report)
    groups: dict[str, _Groups] = {}
    rest = [cond for cond in table.schema.get("allOf", [])
            if not _check_conditional(table, cond, groups, report)]
    residual = {k: v for k, v in table.schema.items() if k not in _COVERED
                and not k.startswith("x-")}
    if rest:
        residual["allOf"] = rest
    if residual:
        _check_rows(table, residual, report)


def _grouped(schema: dict) -> set[str]:
    """The columns checked per distinct value whatever they hold: keys of another file (which
    repeat), the columns conditionals test, and those the row-wise rules read."""
    found = {col for fk in schema.get("x-foreignKeys", []) for col in fk["fields"]}
    for cond in schema.get("allOf", []):
        test = cond.get("if", {}).get("properties") if isinstance(cond, dict) else None
        if isinstance(test, dict) and len(test) == 1:
            found.update(test)
    residual = {k: v for k, v in schema.items() if k not in _COVERED and not k.startswith("x-")}
    return found | (_referenced(residual, set()) or set())


def _repeats(text: pa.Array, sample: int = 1000) -> bool:
    """Whether the column's first rows repeat their values (half of them or more), so that it
    is cheaper to check each distinct value once."""
    head = text.slice(0, sample)
    return pc.count_distinct(head).as_py() * 2 <= len(head)


class _Groups:
    """The rows of a batch grouped by a column's distinct values, ascending within each."""

    def __init__(self, column: Column) -> None:
        index = column.index.astype(np.uint16) if column.count <= 1 << 16 else column.index
        self.order = np.argsort(index, kind="stable")  # a radix sort for 16-bit positions
        self.bounds = np.searchsorted(column.index[self.order], np.arange(column.count + 1))

    def rows(self, positions: np.ndarray) -> np.ndarray:
        parts = [self.order[self.bounds[p]:self.bounds[p + 1]] for p in positions.tolist()]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))


@cache
def _array_validator(items_json: str):
    return jsonschema_rs.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
         "items": json.loads(items_json)}, validate_formats=True)


def _check_cells(table: Batch, col: str, items: dict, report: Report,
                 rows: np.ndarray | None = None) -> None:
    """Validate the distinct values of a column (or of its `rows`) in one jsonschema_rs call."""
    column = table.cols[col]
    if rows is None and (column.from_text or not column.encoded):
        quick = _quick_pass(column)
        if quick is not None:
            if quick.all():
                return
            rows = np.flatnonzero(~quick)  # only these need jsonschema_rs's verdict
    positions = None if rows is None else np.unique(column.index[rows])
    distinct = column.distinct
    values = distinct if positions is None else [distinct[p] for p in positions]
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
        report_rows(report, table, np.array(where), col, rule, detail,
                     lambda i: column.distinct[column.index[i]])


def _quick_pass(column: Column) -> np.ndarray | None:
    """Per row: surely valid, by a vectorised check at least as strict as the column's schema
    (string type, plain-ASCII pattern, lengths, enum, and for a date-time the contracts' form
    with every field in range); None if the schema goes beyond that."""
    prop = column.prop
    kind = column_type(prop)
    if kind == "integer":
        return _integer_pass(column)
    if kind not in ("string", "date-time") \
            or {k for k in prop if not k.startswith("x-")} - _QUICK - _QUICK_FORMAT[kind]:
        return None
    pattern = prop.get("pattern")
    if pattern is not None and _UNPLAIN.search(_ESCAPED.sub("", pattern)):
        return None
    text = column.words if column.encoded else column.text  # each distinct value once
    ok = text.is_valid()
    if pattern is not None and not (kind == "date-time" and pattern == TIME_PATTERN):
        matched = fixed_match(text, pattern)  # IDs: from their bytes, without a regex engine
        ok = pc.and_(ok, pc.match_substring_regex(text, pattern) if matched is None
                     else pa.array(matched))
    if "minLength" in prop or "maxLength" in prop:
        ok = pc.and_(ok, _length_ok(text, prop.get("minLength", 0), prop.get("maxLength")))
    if "enum" in prop:
        allowed = pa.array([e for e in prop["enum"] if isinstance(e, str)], pa.string())
        ok = pc.and_(ok, pc.is_in(text, value_set=allowed))
    if kind == "date-time":  # in the contracts' form, so matching TIME_PATTERN too
        ok = pc.and_(ok, pa.array((column.word_times() if column.encoded else column.times())[1]))
    if nullable(prop):
        ok = pc.or_(pc.is_null(text), ok)
    ok = pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
    return ok[column.index] if column.encoded else ok


def _integer_pass(column: Column) -> np.ndarray | None:
    """Per row: surely valid, for an integer column whose schema is only its type (integer, or
    null) and bounds: null where null is allowed, or plain digits whose value is within the
    bounds; None for another schema, or a column with a cell of other characters."""
    prop = column.prop
    types = set(prop["type"]) if isinstance(prop["type"], list) else {prop["type"]}
    bounds = [prop[k] for k in ("minimum", "maximum") if k in prop]
    if types - {"integer", "null"} or {k for k in prop if not k.startswith("x-")} - _QUICK_INTEGER \
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds):
        return None
    text = column.words if column.encoded else column.text  # each distinct value once
    plain = plain_integers(text) if column.encoded else column.integers()
    if plain is None:
        return None
    values, ok = plain
    if "minimum" in prop:
        ok = ok & (values >= prop["minimum"])
    if "maximum" in prop:
        ok = ok & (values <= prop["maximum"])
    if nullable(prop):
        ok = ok | ~text.is_valid().to_numpy(zero_copy_only=False)
    return ok[column.index] if column.encoded else ok


def _length_ok(text: pa.Array, low: int, high: int | None) -> pa.Array:
    """Per row: between `low` and `high` characters. A UTF-8 character is 1 to 4 bytes, so the
    byte length settles most rows; characters are counted only if some row needs it."""
    size = pc.binary_length(text)
    sure = pc.greater_equal(size, low if low <= 1 else 4 * low)  # one byte or more: a character
    if high is not None:
        sure = pc.and_(sure, pc.less_equal(size, high))
    if pc.all(pc.fill_null(sure, True)).as_py():
        return sure
    chars = pc.utf8_length(text)
    ok = pc.greater_equal(chars, low)
    return ok if high is None else pc.and_(ok, pc.less_equal(chars, high))


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
        return _RULES.get(kind, kind.lower()), _allowed(node)
    detail = "" if isinstance(node, (dict, list)) or node is None else str(node)
    return _RULES.get(kind, kind.lower()), detail[:80]


def _allowed(values: list) -> str:
    """Allowed values as `a|b|c`, the first SHOW_ALLOWED of them then `+N more`."""
    names = ["null" if x is None else str(x) for x in values]
    more = f" +{len(names) - SHOW_ALLOWED} more" if len(names) > SHOW_ALLOWED else ""
    return "|".join(names[:SHOW_ALLOWED]) + more


def _check_conditional(table: Batch, cond: dict, groups: dict, report: Report) -> bool:
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
    if key not in groups:
        groups[key] = _Groups(column)
    match = [p for p, v in enumerate(column.distinct) if v == const and type(v) is type(const)]
    rows = groups[key].rows(np.array(match, dtype=np.int64))
    for col, items in then.items():
        if rows.size:
            _check_cells(table, col, items, report, rows)
    return True


def _check_rows(table: Batch, residual: dict, report: Report) -> None:
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
    distinct = [table.cols[c].distinct for c in names]
    values = [[distinct[j][p] for p in combos[:, j].tolist()] for j in range(len(names))]
    rows = [dict(zip(names, combo, strict=True)) for combo in zip(*values, strict=True)]
    residual = {"$schema": "https://json-schema.org/draft/2020-12/schema", **residual}
    validator = _array_validator(json.dumps(residual, sort_keys=True))
    if validator.is_valid(rows):
        return
    for err in validator.iter_errors(rows):
        k = err.instance_path[0]
        where = err.instance_path[1] if len(err.instance_path) > 1 else "|".join(names)
        rule, detail = _rule(err, residual)
        report_rows(report, table, np.flatnonzero(inverse == k), where, rule, detail,
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
