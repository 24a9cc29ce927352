"""One function per defect kind: each picks its eligible rows or cells, draws which of them get
the defect (each with the profile's rate), changes them and records what it did.

A row gets at most one defect (the kinds run in the profile schema's order and skip rows an
earlier kind touched), so every recorded new value is in the dirty file as recorded. Keys,
references and time windows come from the contracts; which columns, analytes and factors from
the catalogue (config/reference/defects.yaml).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from data_generator.contracts import column_type
from data_generator.defects.table import Row, Table
from data_generator.rng import int_seed, stream


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


@dataclass
class Context:
    """What every kind works on: the day's tables, the catalogue and the record of defects."""

    tables: dict[str, Table]
    catalogue: dict
    seed: int
    date: dt.date
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


# ------------------------------------------------------------------------------ duplicates

def exact_row(ctx: Context, rng, rate: float) -> None:
    """A row sent twice: an identical copy right after it (a resent interface message)."""
    for name in ctx.catalogue["duplicates"]["exact_row_files"]:
        table = ctx.table(name)
        if table is None:
            continue
        picked = {id(r) for r in chosen(rng, ctx.free(table), rate)}
        rows = []
        for row in table.rows:
            rows.append(row)
            if id(row) in picked:
                copy = Row(list(row.cells))
                rows.append(copy)
                key = table.get(row, table.key) if table.key else None
                ctx.record(Defect("exact_row", table, copy, None, None, key, "copy of the row before"), row, copy)
        table.rows = rows


def near_duplicate_patient(ctx: Context, rng, rate: float) -> None:
    """The same person registered again: new patient_id and MRN, demographics drifted (a typo in a
    name, day and month of birth swapped, an old address). The new row is added at the end."""
    from faker import Faker

    table = ctx.table("patients")
    if table is None:
        return
    spec = ctx.catalogue["duplicates"]["near_duplicate_patient"]
    fake = Faker(spec["locale"])
    fake.seed_instance(int_seed(ctx.seed, ctx.date.isoformat(), "defects", "old_address"))
    taken = {table.get(r, "patient_id") for r in table.rows} | {table.get(r, "mrn") for r in table.rows}
    serial = ctx.catalogue["ids"]["new_patient_number_from"]
    for row in chosen(rng, ctx.free(table), rate):
        serial += 1
        while f"P{serial:07d}" in taken or f"MRN{serial:07d}" in taken:
            serial += 1
        twin = Row(list(row.cells))
        table.set(twin, "patient_id", f"P{serial:07d}")
        table.set(twin, "mrn", f"MRN{serial:07d}")
        drifts = [d for d in spec["drifts"] if _drift_applies(d, table, row)]
        picks = sorted(rng.choice(len(drifts), size=min(len(drifts), int(rng.integers(1, 3))), replace=False))
        notes = []
        for i in picks:
            notes.append(_drift(drifts[i], table, twin, rng, fake, spec["typo_columns"]))
        table.rows.append(twin)
        ctx.record(Defect("near_duplicate_patient", table, twin, None, table.get(row, "patient_id"),
                          table.get(twin, "patient_id"),
                          f"same person as {table.get(row, 'patient_id')}; " + "; ".join(notes)), row, twin)


def _drift_applies(drift: str, table: Table, row: Row) -> bool:
    if drift == "dob_day_month":
        born = dt.date.fromisoformat(table.get(row, "date_of_birth"))
        return born.day <= 12 and born.day != born.month
    return True


def _drift(drift: str, table: Table, row: Row, rng, fake, typo_columns: list[str]) -> str:
    if drift == "name_typo":
        col = typo_columns[int(rng.integers(len(typo_columns)))]
        old = table.get(row, col)
        table.set(row, col, typo(old, rng))
        return f"{col} {old!r} -> {table.get(row, col)!r}"
    if drift == "dob_day_month":
        old = dt.date.fromisoformat(table.get(row, "date_of_birth"))
        table.set(row, "date_of_birth", old.replace(month=old.day, day=old.month).isoformat())
        return f"date_of_birth {old.isoformat()} -> {table.get(row, 'date_of_birth')} (day and month swapped)"
    old = table.get(row, "address")
    for col, value in (("address", fake.street_address()), ("city", fake.city()), ("state", fake.state_abbr()),
                       ("zip", fake.zipcode())):
        table.set(row, col, value)
    return f"old address {table.get(row, 'address')!r} (now {old!r})"


def typo(text: str, rng) -> str:
    """One slip of the keyboard: two neighbouring letters swapped, one dropped or one doubled."""
    swaps = [i for i in range(len(text) - 1) if text[i] != text[i + 1]]
    ops = (["swap"] if swaps else []) + (["drop"] if len(text) > 2 else []) + ["double"]
    op = ops[int(rng.integers(len(ops)))]
    if op == "swap":
        i = swaps[int(rng.integers(len(swaps)))]
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    i = int(rng.integers(1, len(text))) if len(text) > 1 else 0
    return text[:i] + text[i + 1:] if op == "drop" else text[:i + 1] + text[i] + text[i + 1:]


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


# ------------------------------------------------------------------------------ time

def _timestamps(ctx: Context) -> Iterable[tuple[Table, str]]:
    for table in ctx.tables.values():
        for col, prop in table.schema["properties"].items():
            if column_type(prop) == "date-time":
                yield table, col


def tz_dropped(ctx: Context, rng, rate: float) -> None:
    """A timestamp without its UTC offset (local time, or UTC, nobody knows)."""
    for table, col in _timestamps(ctx):
        for row in chosen(rng, ctx.cells(table, col, test=moment), rate):
            ctx.change("tz_dropped", table, row, col, table.get(row, col)[:19], "UTC offset dropped")


def tz_wrong(ctx: Context, rng, rate: float) -> None:
    """A timestamp with the wrong UTC offset: the same wall-clock time, another instant."""
    offsets = ctx.catalogue["time"]["wrong_offsets"]
    for table, col in _timestamps(ctx):
        for row in chosen(rng, ctx.cells(table, col, test=moment), rate):
            old = table.get(row, col)
            others = [o for o in offsets if o != old[19:]]
            if others:
                new = old[:19] + others[int(rng.integers(len(others)))]
                ctx.change("tz_wrong", table, row, col, new, f"offset {old[19:]} stamped as {new[19:]}")


def outside_window(ctx: Context, rng, rate: float) -> None:
    """An event before its encounter's admission or after its discharge."""
    encounters = ctx.table("encounters")
    if encounters is None:
        return
    windows = {encounters.get(r, "encounter_id"): r for r in ctx.free(encounters)}
    low, high = ctx.catalogue["time"]["outside_window_hours"]
    for table in ctx.tables.values():
        window = table.schema.get("x-timeWindow")
        if not isinstance(window, dict) or window["resource"] != "encounters":
            continue
        col = window["field"]
        rows = [r for r in ctx.cells(table, col, test=moment) if table.get(r, window["key"]) in windows]
        for row in chosen(rng, rows, rate):
            stay = windows[table.get(row, window["key"])]
            shift = dt.timedelta(seconds=int(rng.uniform(low, high) * 3600))
            before = bool(rng.random() < 0.5)
            edge = moment(encounters.get(stay, window["start"] if before else window["end"]))
            when = (edge - shift if before else edge + shift).astimezone(moment(table.get(row, col)).tzinfo)
            ctx.change("outside_window", table, row, col, when.isoformat(),
                       f"{shift} {'before ' + window['start'] if before else 'after ' + window['end']}")


def out_of_order(ctx: Context, rng, rate: float) -> None:
    """Rows out of their file's order: picked rows trade places in pairs."""
    for name in ctx.catalogue["time"]["out_of_order_files"]:
        table = ctx.table(name)
        if table is None:
            continue
        picked = chosen(rng, ctx.free(table), rate)
        picked = [picked[i] for i in rng.permutation(len(picked))]
        where = {id(r): i for i, r in enumerate(table.rows)}
        for a, b in zip(picked[0::2], picked[1::2], strict=False):
            i, j = where[id(a)], where[id(b)]
            table.rows[i], table.rows[j] = b, a
            for row, was in ((a, i), (b, j)):
                ctx.record(Defect("out_of_order", table, row, None, str(was + table.first_line), None,
                                  "moved from its line", new_is_line=True), row)


def discharge_before_admit(ctx: Context, rng, rate: float) -> None:
    """An encounter discharged before it was admitted."""
    table = ctx.table("encounters")
    low, high = ctx.catalogue["time"]["discharge_before_admit_hours"]
    for row in chosen(rng, ctx.cells(table, "admit_time", test=moment), rate):
        shift = dt.timedelta(seconds=int(rng.uniform(low, high) * 3600))
        admit = moment(table.get(row, "admit_time"))
        ctx.change("discharge_before_admit", table, row, "discharge_time", (admit - shift).isoformat(),
                   f"{shift} before admit_time")


# ------------------------------------------------------------------------------ referential

def _referring(ctx: Context) -> Iterable[Table]:
    """Tables whose rows refer to an encounter (and its patient) by key."""
    for table in ctx.tables.values():
        if any(fk["reference"]["resource"] == "encounters" and "encounter_id" in fk["fields"]
               for fk in table.schema.get("x-foreignKeys", [])):
            yield table


def orphan_encounter(ctx: Context, rng, rate: float) -> None:
    """A row pointing at an encounter that is not in the extract."""
    serial = ctx.catalogue["ids"]["orphan_encounter_number_from"]
    for table in _referring(ctx):
        for row in chosen(rng, ctx.cells(table, "encounter_id"), rate):
            serial += 1
            ctx.change("orphan_encounter", table, row, "encounter_id", f"ENC-{ctx.date:%Y%m%d}-{serial:05d}",
                       "no such encounter")


def patient_mismatch(ctx: Context, rng, rate: float) -> None:
    """A row whose patient_id is another patient's, not its encounter's."""
    encounters = ctx.table("encounters")
    if encounters is None:
        return
    patients = sorted({encounters.get(r, "patient_id") for r in encounters.rows})
    if len(patients) < 2:
        return
    place = {p: i for i, p in enumerate(patients)}
    for table in _referring(ctx):
        if "patient_id" not in table.columns:
            continue
        for row in chosen(rng, ctx.cells(table, "patient_id"), rate):
            pick = int(rng.integers(len(patients) - 1))  # any patient but the row's own
            own = place.get(table.get(row, "patient_id"))
            other = patients[pick + 1 if own is not None and pick >= own else pick]
            ctx.change("patient_mismatch", table, row, "patient_id", other, "patient of another encounter")


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


# ------------------------------------------------------------------------------ schema drift

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
    changed = {d.column for d in ctx.defects if d.table is table}
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


KINDS: dict[str, Callable[[Context, np.random.Generator, float], None]] = {
    "exact_row": exact_row, "near_duplicate_patient": near_duplicate_patient,
    "unit_label_kept": unit_label_kept, "unit_label_changed": unit_label_changed,
    "swapped_pair": swapped_pair, "decimal_shift": decimal_shift, "digit_transposition": digit_transposition,
    "mcar": mcar, "mar": mar, "mnar": mnar,
    "tz_dropped": tz_dropped, "tz_wrong": tz_wrong, "outside_window": outside_window, "out_of_order": out_of_order,
    "discharge_before_admit": discharge_before_admit,
    "orphan_encounter": orphan_encounter, "patient_mismatch": patient_mismatch,
    "mojibake": mojibake, "truncated": truncated, "copy_forward": copy_forward,
    "renamed_column": renamed_column, "dropped_column": dropped_column, "extra_column": extra_column,
}
