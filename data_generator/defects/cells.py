"""Defects of single values: unit mix-ups, swapped and shifted values, missingness, and text
(mojibake, truncation, copy-forward). Which columns, analytes and factors: the catalogue."""

from __future__ import annotations

import numpy as np

from data_generator.defects.context import Context, chosen, moment, number, printed
from data_generator.defects.table import Row

# ------------------------------------------------------------------------------ unit mix-ups

def unit_label_kept(ctx: Context, rng, rate: float) -> None:
    """A value in another unit, its unit column still naming the column's unit (the usual case)."""
    _unit_mixup(ctx, rng, rate, "unit_label_kept", relabel=False)


def unit_label_changed(ctx: Context, rng, rate: float) -> None:
    """A value in another unit with its unit column saying so (unit and reference range disagree)."""
    _unit_mixup(ctx, rng, rate, "unit_label_changed", relabel=True)


def _unit_mixup(ctx: Context, rng, rate: float, kind: str, relabel: bool) -> None:
    for mix in ctx.catalogue["unit_mixup"]:
        if relabel and "unit_column" not in mix:
            continue
        table = ctx.table(mix["file"])
        for row in chosen(rng, ctx.cells(table, mix["column"], mix.get("where"), number), rate):
            value = number(table.get(row, mix["column"])) * mix["factor"] + mix.get("offset", 0)
            label = f"{mix['name']}: {mix['from_unit']} sent as {mix['to_unit']}"
            if relabel:
                table.set(row, mix["unit_column"], mix["to_unit"])
                label += f", {mix['unit_column']} changed to {mix['to_unit']}"
            elif "unit_column" in mix:
                label += f", {mix['unit_column']} still {table.get(row, mix['unit_column'])}"
            ctx.change(kind, table, row, mix["column"], printed(table, mix["column"], value), label)


# ------------------------------------------------------------------------------ swapped and shifted values

def swapped_pair(ctx: Context, rng, rate: float) -> None:
    """Two values keyed into each other's column (SBP and DBP): one defect per cell."""
    for pair in ctx.catalogue["swapped_values"]["pairs"]:
        table = ctx.table(pair["file"])
        a, b = pair["columns"]
        rows = [r for r in ctx.cells(table, a) if table.get(r, b) is not None and table.get(r, a) != table.get(r, b)]
        for row in chosen(rng, rows, rate):
            va, vb = table.get(row, a), table.get(row, b)
            ctx.change("swapped_pair", table, row, a, vb, f"{a} and {b} swapped")
            ctx.change("swapped_pair", table, row, b, va, f"{a} and {b} swapped")


def decimal_shift(ctx: Context, rng, rate: float) -> None:
    """A misplaced decimal point: the value times 10 or a tenth of it (pH 7.4 keyed as 74)."""
    spec = ctx.catalogue["swapped_values"]["decimal_shift"]
    for cell in spec["columns"]:
        table, col = ctx.table(cell["file"]), cell["column"]
        for row in chosen(rng, ctx.cells(table, col, cell.get("where"), lambda t: bool(number(t))), rate):
            factor = spec["factors"][int(rng.integers(len(spec["factors"])))]
            new = printed(table, col, number(table.get(row, col)) * factor)
            if new != table.get(row, col):
                ctx.change("decimal_shift", table, row, col, new, f"decimal point shifted (x{factor:g})")


def digit_transposition(ctx: Context, rng, rate: float) -> None:
    """Two neighbouring digits keyed the wrong way round (128 as 182)."""
    for cell in ctx.catalogue["swapped_values"]["digit_transposition"]["columns"]:
        table, col = ctx.table(cell["file"]), cell["column"]
        for row in chosen(rng, ctx.cells(table, col, cell.get("where"), lambda t: bool(_transpositions(t))), rate):
            old = table.get(row, col)
            places = _transpositions(old)
            i = places[int(rng.integers(len(places)))]
            new = printed(table, col, float(old[:i] + old[i + 1] + old[i] + old[i + 2:]))
            if new != old:
                ctx.change("digit_transposition", table, row, col, new, f"digits {old[i]}{old[i + 1]} transposed")


def _transpositions(text: str) -> list[int]:
    return [i for i in range(len(text) - 1) if text[i].isdigit() and text[i + 1].isdigit() and text[i] != text[i + 1]]


# ------------------------------------------------------------------------------ missingness

def mcar(ctx: Context, rng, rate: float) -> None:
    """Missing completely at random: a charted value left blank."""
    for cell in ctx.catalogue["missingness"]["mcar"]:
        table = ctx.table(cell["file"])
        for row in chosen(rng, ctx.cells(table, cell["column"], cell.get("where")), rate):
            ctx.change("mcar", table, row, cell["column"], None, "blank, at random")


def mar(ctx: Context, rng, rate: float) -> None:
    """Missing at random: blank only where another column holds given values."""
    for cell in ctx.catalogue["missingness"]["mar"]:
        table, given = ctx.table(cell["file"]), cell["given"]
        rows = [] if table is None else [r for r in ctx.cells(table, cell["column"], cell.get("where"))
                                         if table.get(r, given["column"]) in given["in"]]
        for row in chosen(rng, rows, rate):
            ctx.change("mar", table, row, cell["column"], None,
                       f"blank because {given['column']} is {table.get(row, given['column'])}")


def mnar(ctx: Context, rng, rate: float) -> None:
    """Missing not at random: blank because the value itself was extreme."""
    for cell in ctx.catalogue["missingness"]["mnar"]:
        table = ctx.table(cell["file"])
        above, below = cell.get("above", np.inf), cell.get("below", -np.inf)
        def extreme(text, above=above, below=below):
            value = number(text)
            return value is not None and (value > above or value < below)
        for row in chosen(rng, ctx.cells(table, cell["column"], cell.get("where"), extreme), rate):
            ctx.change("mnar", table, row, cell["column"], None, "blank because the value was extreme")


# ------------------------------------------------------------------------------ text

def mojibake(ctx: Context, rng, rate: float) -> None:
    """Text whose typographic characters were saved as UTF-8 and read back as Latin-1 (’ as â\\x80\\x99)."""
    spec = ctx.catalogue["text"]
    typographic, read_as = spec["mojibake"]["typographic"], spec["mojibake"]["read_as"]
    table = ctx.table(spec["file"])
    rows = ctx.cells(table, spec["column"], test=lambda t: any(a in t for a in typographic))
    for row in chosen(rng, rows, rate):
        text = table.get(row, spec["column"])
        for plain, fancy in typographic.items():
            text = text.replace(plain, fancy)
        ctx.change("mojibake", table, row, spec["column"], text.encode("utf-8").decode(read_as, errors="replace"),
                   f"UTF-8 read as {read_as}")


def truncated(ctx: Context, rng, rate: float) -> None:
    """Text cut short by a field-length limit."""
    spec = ctx.catalogue["text"]
    low, high = spec["truncated_keep"]
    table = ctx.table(spec["file"])
    for row in chosen(rng, ctx.cells(table, spec["column"], test=lambda t: len(t) > 1), rate):
        text = table.get(row, spec["column"])
        keep = max(1, int(len(text) * rng.uniform(low, high)))
        ctx.change("truncated", table, row, spec["column"], text[:keep], f"cut to {keep} of {len(text)} characters")


def copy_forward(ctx: Context, rng, rate: float) -> None:
    """A note that repeats an earlier note of the same encounter and type word for word."""
    spec = ctx.catalogue["text"]
    table = ctx.table(spec["file"])
    if table is None or not {"encounter_id", "note_type", "note_time"} <= set(table.columns):
        return
    earlier: dict[tuple, Row] = {}
    rows = []
    def when(row: Row) -> tuple[bool, float]:
        signed = moment(table.get(row, "note_time"))
        return signed is None, signed.timestamp() if signed else 0.0

    for row in sorted(table.rows, key=when):
        key = (table.get(row, "encounter_id"), table.get(row, "note_type"))
        source = earlier.get(key)
        if source is not None and id(row) not in ctx.touched and id(source) not in ctx.touched \
                and table.get(source, spec["column"]) != table.get(row, spec["column"]):
            rows.append((row, source))
        earlier[key] = row
    place = {id(r): i for i, r in enumerate(table.rows)}
    rows.sort(key=lambda pair: place[id(pair[0])])
    for row, source in chosen(rng, rows, rate):
        ctx.change("copy_forward", table, row, spec["column"], table.get(source, spec["column"]),
                   f"text of {table.get(source, table.key)} copied forward")
