"""The file contracts (five of every day, plus the opt-in interventions.csv, and the six files of
an event-time feed day): one loader for the JSON Schemas in `schemas/`, a strict reader of
contract CSVs, and the violation shape.

Each schema is the single contract for its file: column order is the order of `properties`,
`x-file` names the file, `x-decimals` says how numbers are printed, `x-dictionary` marks
low-cardinality strings (dictionary-encoded in Parquet), and the `x-*` blocks
(`x-primaryKey`, `x-foreignKeys`, `x-referencedBy`, `x-timeWindow`, `x-rowRules`,
`x-batchDate`) declare the rules JSON Schema cannot express across rows or files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from data_generator.errors import ContractError

SCHEMA_DIR = Path(__file__).parent / "schemas"
FILES = ("patients", "encounters", "vitals", "labs", "notes")
OPTIONAL = ("interventions",)  # written only when asked for (datagen --interventions)
FEED_FILES = ("adt_events", "patients", "encounters", "vitals", "labs", "notes")  # a feed day (datagen feed)
SCHEMA_VERSION = 1
# Rules about a whole admission-date batch that a feed day, which holds pieces of many, does not inherit.
BATCH_ONLY = ("x-primaryKey", "x-foreignKeys", "x-referencedBy", "x-timeWindow", "x-batchDate")


@cache
def _load(stem: str) -> str:
    path = SCHEMA_DIR / f"{stem}.schema.json"
    known = FILES + OPTIONAL + tuple(f"feed_{n}" for n in FEED_FILES)
    if stem not in known:
        raise ContractError(str(path), "unknown contract", found=stem, hint=f"use one of {', '.join(known)}")
    return path.read_text(encoding="utf-8")


def _parsed(stem: str) -> dict:
    schema = json.loads(_load(stem))
    if schema.get("schema_version") != SCHEMA_VERSION:
        raise ContractError(f"schemas/{stem}.schema.json", "unsupported schema_version",
                            found=schema.get("schema_version"), hint=f"expected {SCHEMA_VERSION}")
    return schema


def load_contract(name: str) -> dict:
    """The parsed schema of one file (a fresh copy: callers may not mutate the cached one)."""
    return _parsed(name)


def load_feed_contract(name: str) -> dict:
    """The schema of one feed file. A feed schema that `x-extends` a batch contract is that contract
    with its properties overridden and extended (new columns after the batch's), its `required`
    extended, its per-row rules (per-test limits, `x-rowRules`) kept unless restated, and its
    whole-batch rules (keys, references, time windows, batch date) replaced by the feed's own."""
    own = _parsed(f"feed_{name}")
    base_name = own.get("x-extends")
    if base_name is None:
        return own
    base = load_contract(base_name)
    merged = {k: v for k, v in base.items() if k not in BATCH_ONLY}
    merged.update({k: v for k, v in own.items() if k not in ("properties", "required")})
    merged["properties"] = {**base["properties"], **own["properties"]}
    merged["required"] = list(dict.fromkeys(base["required"] + own.get("required", [])))
    return merged


def feed_contracts() -> dict[str, dict]:
    """The feed day's schemas keyed by name, in the order a feed day is written and checked."""
    return {name: load_feed_contract(name) for name in FEED_FILES}


def contracts(optional: tuple[str, ...] = ()) -> dict[str, dict]:
    """The five schemas keyed by name, in generation order, then the `optional` ones asked for."""
    return {name: load_contract(name) for name in FILES + tuple(n for n in OPTIONAL if n in optional)}


def columns(schema: dict) -> list[str]:
    """The file's columns, in order."""
    return list(schema["properties"])


def file_name(schema: dict) -> str:
    """'vitals.csv', 'notes.jsonl', ..."""
    return schema["x-file"]


def read_csv_strings(path: Path, schema: dict, block_size: int = 1 << 20) -> Iterator[pa.RecordBatch]:
    """A trusted contract CSV (a published day's file, the patient registry) as batches of string
    columns, empty cell = null, its header checked against the contract.

    Damage raises ContractError (FileNotFoundError if absent); validation/readers.py is the tolerant
    reader that reports every problem of a file instead of stopping at the first.
    """
    path, cols = Path(path), columns(schema)
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(cols, pa.string()),
                                                 strings_can_be_null=True))
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowInvalid) as exc:
        raise ContractError(str(path), f"cannot read: {str(exc).splitlines()[0]}") from None
    if reader.schema.names != cols:
        raise ContractError(str(path), "columns differ from the contract", found=reader.schema.names,
                            hint=f"expected {','.join(cols)}")
    row = 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise ContractError(f"{path} after row {row}", f"cannot parse CSV: {str(exc).splitlines()[0]}") from None
        yield batch
        row += batch.num_rows


def column_type(prop: dict) -> str:
    """'integer', 'number', 'string', 'date-time' or 'date' for one property schema."""
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    base = next(t for t in types if t != "null")
    if base == "string" and prop.get("format") in ("date-time", "date"):
        return prop["format"]
    return base


def dictionary_encoded(prop: dict) -> bool:
    """Whether a string column is stored dictionary-encoded in Parquet: an `enum`, or marked
    `x-dictionary: true` (few distinct values, such as scenario, panel or unit)."""
    return column_type(prop) == "string" and bool(prop.get("x-dictionary", "enum" in prop))


def nullable(prop: dict) -> bool:
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    return "null" in types


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule at one place: `vitals.csv:12 event_time: format date-time ('2026-13-..')`.

    `line` is the 1-based line of the record (CSV data row i is line i + 2, JSONL row i is
    line i + 1, Parquet row i is line i + 1); None for whole-file problems. `rule` is a
    stable code tests assert on.
    """

    file: str
    line: int | None
    field: str | None
    rule: str
    value: object = None
    detail: str = ""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            where += f" {self.field}"
        text = f"{where}: {self.rule}"
        if self.detail:
            text += f" {self.detail}"
        if self.value is not None:
            shown = repr(self.value)
            text += f" ({shown[:80] + '...' if len(shown) > 80 else shown})"
        return text
