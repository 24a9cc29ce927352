"""What every defect kind works on: the day's tables, the catalogue, the rng streams and the record
of defects (`Context`), one injected defect (`Defect`), and the helpers the kinds share.

A row gets at most one defect: the kinds skip rows an earlier kind touched, so every recorded
new value is in the dirty file as recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from data_generator.contracts import column_type
from data_generator.defects.table import Row, Table
from data_generator.rng import stream


@dataclass(eq=False)
class Defect:
    """One injected defect: a cell (`column` set), a row (`column` None) or a column of a file
    (`row` None). `new_is_line`: the new value is the row's line in the dirty file."""

    kind: str
    table: Table
    row: Row | None
    column: str | None
    original: str | None
    new: str | None
    detail: str = ""
    new_is_line: bool = False
    evidence: tuple[str, ...] = ()  # columns a row defect is seen in (schema drift leaves them alone)


@dataclass
class Context:
    """What every kind works on: the day's tables, the catalogue and the record of defects."""

    tables: dict[str, Table]
    catalogue: dict
    seed: int
    date: dt.date
    feed: bool = False  # a feed day: its tables follow the feed contracts (no references, no windows)
    defects: list[Defect] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)  # id() of rows a defect changed, added or moved

    def rng(self, kind: str) -> np.random.Generator:
        return stream(self.seed, self.date.isoformat(), "defects", kind)

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    def free(self, table: Table) -> list[Row]:
        return [row for row in table.rows if id(row) not in self.touched]

    def cells(self, table: Table | None, column: str, where: dict | None = None,
              test: Callable[[str], bool] | None = None) -> list[Row]:
        """Free rows of `table` whose `column` holds a value (passing `test`) and whose cells match `where`."""
        if table is None:
            return []
        at, rows = table.index(column), table.rows
        for i, v in ((table.index(c), v) for c, v in (where or {}).items()):  # the narrowest filter first
            rows = [row for row in rows if row.cells[i] == v]
        touched = self.touched
        rows = [row for row in rows if row.cells[at] is not None and id(row) not in touched]
        return rows if test is None else [row for row in rows if test(row.cells[at])]

    def change(self, kind: str, table: Table, row: Row, column: str, new: str | None, detail: str = "") -> None:
        self.defects.append(Defect(kind, table, row, column, table.get(row, column), new, detail))
        table.set(row, column, new)
        self.touched.add(id(row))

    def record(self, defect: Defect, *rows: Row) -> None:
        self.defects.append(defect)
        self.touched.update(id(r) for r in rows)


def chosen(rng: np.random.Generator, items: list, rate: float) -> list:
    """Each item with probability `rate` (one uniform per item, in order)."""
    return [x for x, u in zip(items, rng.random(len(items)), strict=True) if u < rate]


def number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def printed(table: Table, column: str, value: float) -> str:
    """A number as the column prints it: an integer, or the contract's `x-decimals` places."""
    prop = table.schema["properties"][column]
    if column_type(prop) == "integer":
        return str(int(round(value)))
    return f"{value:.{prop.get('x-decimals', 2)}f}"


def moment(text: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp with its offset as an aware datetime; None for anything else."""
    try:
        when = dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None
