"""Schema drift: a renamed, dropped or extra column in a file. A drift never takes a column a rule
of the contract reads or a defect of the same file changed (or is seen in: a late row's time and
delivery date), so the other defects stay visible."""

from __future__ import annotations

from data_generator.defects.context import Context, Defect, chosen
from data_generator.defects.table import Table


def _bound(schema: dict) -> set[str]:
    """Columns the contract's cross-row and conditional rules read (kept, so the rules still run)."""
    cols = {schema.get("x-primaryKey")} | set(schema.get("x-batchDate", {}).values())
    for fk in schema.get("x-foreignKeys", []):
        cols.update(fk["fields"])
    for ref in schema.get("x-referencedBy", []):
        cols.update(ref["fields"])
    windows = schema.get("x-timeWindow", [])
    for w in [windows] if isinstance(windows, dict) else windows:
        cols.update((w["field"], w["key"]))
    for rule in schema.get("x-rowRules", []):
        cols.update((rule["left"], rule["right"]))
    for part in schema.get("allOf", []) + schema.get("anyOf", []):
        for branch in (part, part.get("if", {}), part.get("then", {})):
            cols.update(branch.get("properties", {}))
    return cols


def _driftable(ctx: Context, table: Table) -> list[str]:
    """Columns no rule reads, no defect of the file changed, and no drift has taken yet."""
    changed = {c for d in ctx.defects if d.table is table for c in (d.column, *d.evidence)}
    return [c for c in table.columns if c not in _bound(table.schema) | changed
            and c not in table.renamed and c not in table.dropped]


def renamed_column(ctx: Context, rng, rate: float) -> None:
    """A column under another system's name."""
    names = ctx.catalogue["schema_drift"]["renamed"]
    for table in chosen(rng, list(ctx.tables.values()), rate):
        options = [c for c in _driftable(ctx, table) if c in names.get(table.name, {})]
        if options:
            col = options[int(rng.integers(len(options)))]
            table.renamed[col] = names[table.name][col]
            ctx.record(Defect("renamed_column", table, None, col, col, table.renamed[col], "column renamed"))


def dropped_column(ctx: Context, rng, rate: float) -> None:
    """A column missing from the file."""
    for table in chosen(rng, list(ctx.tables.values()), rate):
        options = _driftable(ctx, table)
        if options:
            col = options[int(rng.integers(len(options)))]
            table.dropped.append(col)
            ctx.record(Defect("dropped_column", table, None, col, col, None, "column dropped"))


def extra_column(ctx: Context, rng, rate: float) -> None:
    """A column the contract does not have, appended after the last one."""
    extras = ctx.catalogue["schema_drift"]["extra_columns"]
    for table in chosen(rng, list(ctx.tables.values()), rate):
        options = [e for e in extras if e["name"] not in table.extra]
        if options:
            extra = options[int(rng.integers(len(options)))]
            value = extra["values"][int(rng.integers(len(extra["values"])))]
            table.extra[extra["name"]] = value
            ctx.record(Defect("extra_column", table, None, extra["name"], None, extra["name"],
                              f"column added, every row {value!r}"))
