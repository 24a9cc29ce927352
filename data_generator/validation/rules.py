"""The contracts' rules across rows and files (their `x-*` blocks): unique keys, references
between files (`x-foreignKeys`, `x-referencedBy`), time windows, row rules and the batch date.

Rules a batch can be checked for on its own (given the files it refers to, read before it) run
per batch; unique keys and "every key is used" run once the whole file is kept.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_generator.contracts import column_type
from data_generator.validation.batches import Batch, Kept, column_epochs
from data_generator.validation.report import Report, report_rows

_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}


def windows(schema: dict) -> list[dict]:
    windows = schema.get("x-timeWindow", [])
    return [windows] if isinstance(windows, dict) else windows


def check_batch(table: Batch, kept: dict[str, Kept], batch_date: dt.date | None,
                 report: Report) -> None:
    """The cross-row rules one batch can be checked for on its own (given the files it needs)."""
    schema = table.schema
    for fk in schema.get("x-foreignKeys", []):
        _check_reference(table, fk["fields"], kept.get(fk["reference"]["resource"]),
                         fk["reference"]["fields"], "foreign_key", report)
    for window in windows(schema):
        _check_window(table, window, kept.get(window["resource"]), report)
    for rule in schema.get("x-rowRules", []):
        _check_row_rule(table, rule, report)
    if batch_date is not None and "x-batchDate" in schema:
        _check_batch_date(table, schema["x-batchDate"]["field"], batch_date, report)


def check_whole(table: Kept, kept: dict[str, Kept], report: Report) -> None:
    """The rules that need a whole file: unique keys, and keys some other file must use."""
    schema = table.schema
    if table.has(schema.get("x-primaryKey")):
        _check_unique(table, schema["x-primaryKey"], report)
    for ref in schema.get("x-referencedBy", []):
        _check_reference(table, ref["fields"], kept.get(ref["by"]["resource"]),
                         ref["by"]["fields"], "unreferenced", report)


def _check_unique(table: Kept, col: str, report: Report) -> None:
    """Every occurrence of a key after its first is a 'unique' violation.

    Rows are sorted by their keys' 64-bit digests; only rows whose digest is shared are
    compared as text, so a digest collision is never reported as a duplicate."""
    digest, present = table.digest, table.text(col).is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(present)
    ordered = np.sort(digest[rows])
    if not (ordered[1:] == ordered[:-1]).any():  # no digest shared: every key is unique
        return
    order = rows[np.argsort(digest[rows], kind="stable")]
    same = digest[order[1:]] == digest[order[:-1]]
    if not same.any():
        return
    shared = np.unique(np.concatenate([order[1:][same], order[:-1][same]]))  # ascending rows
    text = table.text(col).take(pa.array(shared))
    index = pc.dictionary_encode(text).indices.to_numpy(zero_copy_only=False)
    first = np.unique(index, return_index=True)[1]
    later = np.ones(shared.size, dtype=bool)
    later[first] = False
    report_rows(report, table, shared[later], col, "unique", "duplicate key",
                lambda i: table.text(col)[int(i)].as_py())


def _key(table, fields: list[str]) -> pa.Array:
    """Per row: the values of `fields`, joined."""
    return _joined([table.text(f) for f in fields])


def _joined(texts: list[pa.Array]) -> pa.Array:
    return texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")


def _check_reference(table, fields: list[str], other, other_fields: list[str], rule: str,
                     report: Report) -> None:
    """Every key of `table` appears in `other` (foreign_key) or in `other`'s keys (unreferenced)."""
    if other is None or not all(table.has(f) for f in fields) \
            or not all(other.has(f) for f in other_fields):
        return  # a missing file or column is already reported
    theirs = other.keys(tuple(other_fields), _key) if isinstance(other, Kept) \
        else _key(other, other_fields).unique()
    usable = np.ones(table.n, dtype=bool)
    for f in fields:
        usable &= table.usable(f)
    found = _found(table, fields, theirs)
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
        report_rows(report, table, rows, where, rule, f"{verb} {other.file}",
                     lambda i: ",".join(str(table.text(f)[int(i)]) for f in fields))


def _found(table, fields: list[str], theirs: pa.Array) -> np.ndarray:
    """Per row: its key is among `theirs`; looked up once per distinct key when the batch's key
    columns are deduplicated."""
    sizes = [max(table.cols[f].count, 1) for f in fields] \
        if isinstance(table, Batch) and all(table.cols[f].encoded for f in fields) else None
    if sizes is None or np.prod(np.array(sizes, dtype=float)) >= 2.0 ** 62:
        return pc.is_in(_key(table, fields), value_set=theirs).to_numpy(zero_copy_only=False)
    code = np.zeros(table.n, dtype=np.int64)
    for f, size in zip(fields, sizes, strict=True):
        code = code * size + table.cols[f].index
    combos = pc.dictionary_encode(pa.array(code))  # each combination of distinct values once
    rest, positions = combos.dictionary.to_numpy(zero_copy_only=False), []
    for size in reversed(sizes):
        rest, position = np.divmod(rest, size)
        positions.insert(0, position)
    keys = _joined([table.cols[f].words.take(pa.array(p)) for f, p in zip(fields, positions, strict=True)])
    found = pc.is_in(keys, value_set=theirs).to_numpy(zero_copy_only=False)
    return found[combos.indices.to_numpy(zero_copy_only=False)]


def _comparable(table: Batch, col: str) -> tuple[np.ndarray, np.ndarray]:
    """A column as numbers that order like its values (epochs, days or the numbers)."""
    kind = column_type(table.schema["properties"][col])
    if kind == "date-time":
        return column_epochs(table, col)
    column = table.cols[col]
    if kind == "integer" and not column.encoded and column.integers() is not None:
        values, ok = column.integers()  # never deduplicated: every present value passed
        return values.astype(float), ok
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


def _check_window(table: Batch, window: dict, other: Kept | None, report: Report) -> None:
    col, key = window["field"], window["key"]
    needed = (window["start"], window["end"], key)
    if other is None or other.n == 0 or col not in table.cols or key not in table.cols \
            or not all(other.has(c) for c in needed):
        return
    when, ok = table.epochs(col)
    start, start_ok = other.epochs(window["start"])
    end, end_ok = other.epochs(window["end"])
    keys = table.cols[key]  # when deduplicated, each distinct key is looked up once
    idx = pc.index_in(keys.words if keys.encoded else keys.text, value_set=other.text(key))
    found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    j = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if keys.encoded:
        found, j = found[keys.index], j[keys.index]
    ok &= found & start_ok[j] & end_ok[j]
    outside = np.flatnonzero(ok & ((when < start[j]) | (when > end[j])))
    text = table.cols[col].text
    report_rows(report, table, outside, col, "time_window",
                 f"outside {window['start']}..{window['end']} of {other.file}",
                 lambda i: text[int(i)].as_py())


def _check_row_rule(table: Batch, rule: dict, report: Report) -> None:
    left, op, right = rule["left"], rule["op"], rule["right"]
    if left not in table.cols or right not in table.cols:
        return
    a, a_ok = _comparable(table, left)
    b, b_ok = _comparable(table, right)
    broken = np.flatnonzero(a_ok & b_ok & ~_OPS[op](a, b))
    lhs, rhs = table.cols[left], table.cols[right]
    report_rows(report, table, broken, left, "row_rule", f"{left} {op} {right}",
                 lambda i: (lhs.distinct[lhs.index[i]], rhs.distinct[rhs.index[i]]))


def _check_batch_date(table: Batch, col: str, batch_date: dt.date, report: Report) -> None:
    if col not in table.cols:
        return
    text = table.cols[col].text
    day = pc.utf8_slice_codeunits(text, 0, 10)
    wrong = pc.fill_null(pc.not_equal(day, batch_date.isoformat()), False)
    rows = np.flatnonzero(wrong.to_numpy(zero_copy_only=False) & table.cols[col].usable())
    report_rows(report, table, rows, col, "batch_date", f"batch {batch_date}",
                 lambda i: text[int(i)].as_py())
