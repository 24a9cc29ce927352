"""A published day's files as rows of text cells, exactly as written, and the dirty files written
back from them.

Cells are the files' text (None for an empty CSV cell or a JSON null), so a row no defect touches
is written back byte for byte: CSV with minimal quoting and `\\n` line ends, JSONL as compact
JSON objects, as `writer.py` writes them. A table keeps its contract's columns; schema drift is
recorded on the table (renamed, dropped and extra columns) and applied only when it is written.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from data_generator.contracts import columns
from data_generator.errors import ContractError
from data_generator.reading import day_contract, day_tables, table_file


@dataclass(eq=False)
class Row:
    """One record: its cells in contract column order, and its 1-based place in the clean file
    (None for a row a defect added)."""

    cells: list[str | None]
    clean_place: int | None = None


@dataclass(eq=False)
class Table:
    name: str                   # contract name, e.g. "vitals"
    file: str                   # file name, e.g. "vitals.csv"
    schema: dict
    rows: list[Row]
    renamed: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # added column -> its value on every row
    columns: list[str] = field(init=False)  # the contract's columns, the cells' order

    def __post_init__(self) -> None:
        self.columns = columns(self.schema)
        self._at = {c: i for i, c in enumerate(self.columns)}

    @property
    def jsonl(self) -> bool:
        return self.file.endswith(".jsonl")

    @property
    def first_line(self) -> int:
        """The line number of the first record (validation's numbering: CSV has a header)."""
        return 1 if self.jsonl else 2

    @property
    def key(self) -> str | None:
        return self.schema.get("x-primaryKey")

    @property
    def ident(self) -> str:
        """The column that names a row in the answer key: the primary key, else the first column
        (a feed day's labs.csv has no key: its lab_id is shared by a result's versions)."""
        return self.key or self.columns[0]

    def index(self, column: str) -> int:
        return self._at[column]

    def get(self, row: Row, column: str) -> str | None:
        return row.cells[self._at[column]]

    def set(self, row: Row, column: str, value: str | None) -> None:
        row.cells[self._at[column]] = value

    def header(self) -> list[str]:
        """The columns as written: renamed, without the dropped ones, then the extra ones."""
        return [self.renamed.get(c, c) for c in self.columns if c not in self.dropped] + list(self.extra)

    def written(self, row: Row) -> list[str | None]:
        kept = [v for c, v in zip(self.columns, row.cells, strict=True) if c not in self.dropped]
        return kept + list(self.extra.values())


def read_day(folder: Path) -> dict[str, Table]:
    """Every table of a published CSV day (a batch day, or a feed day under the feed contracts), by
    contract name, in the day's file order."""
    return {name: read_table(folder, name) for name in day_tables(folder)}


def read_table(folder: Path, name: str) -> Table:
    schema = day_contract(folder, name)
    path = table_file(folder, name)
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        cells = [[_text(r.get(c)) for c in columns(schema)] for r in records]
    else:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            if header != columns(schema):
                raise ContractError(str(path), "columns differ from the contract", found=header,
                                    hint="defects are applied to a day the generator published")
            cells = [[v if v != "" else None for v in record] for record in reader]
    return Table(name, path.name, schema, [Row(c, i) for i, c in enumerate(cells, start=1)])


def _text(value) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def write_table(table: Table, folder: Path) -> dict[int, int]:
    """Write the table into `folder`; {id(row): its line number} (validation's numbering)."""
    path = Path(folder) / table.file
    header = table.header()
    with open(path, "w", encoding="utf-8", newline="") as f:
        if table.jsonl:
            for row in table.rows:
                record = dict(zip(header, table.written(row), strict=True))
                f.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        else:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(header)
            out.writerows(table.written(row) for row in table.rows)
    return {id(row): i for i, row in enumerate(table.rows, start=table.first_line)}
