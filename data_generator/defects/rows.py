"""Defects of rows and their relations: duplicates (exact and near-duplicate registrations), time
(offsets, windows, order, discharge before admission) and broken references. Keys, references and
windows come from the contracts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from data_generator.contracts import column_type
from data_generator.defects.context import Context, Defect, chosen, moment
from data_generator.defects.table import Row, Table
from data_generator.rng import int_seed

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
                key = table.get(row, table.ident)
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
    """An encounter discharged before it was admitted (a row that has a discharge: on a feed day, an A03)."""
    table = ctx.table("encounters")
    low, high = ctx.catalogue["time"]["discharge_before_admit_hours"]
    rows = [r for r in ctx.cells(table, "admit_time", test=moment) if table.get(r, "discharge_time") is not None]
    for row in chosen(rng, rows, rate):
        shift = dt.timedelta(seconds=int(rng.uniform(low, high) * 3600))
        admit = moment(table.get(row, "admit_time"))
        ctx.change("discharge_before_admit", table, row, "discharge_time", (admit - shift).isoformat(),
                   f"{shift} before admit_time")


# ------------------------------------------------------------------------------ referential

def _referring(ctx: Context) -> Iterable[Table]:
    """Tables whose rows refer to an encounter (and its patient) by key: by a foreign key of the
    contract; on a feed day, whose contracts state no references, every file but encounters.csv
    with an encounter_id (the ADT messages too)."""
    for table in ctx.tables.values():
        if any(fk["reference"]["resource"] == "encounters" and "encounter_id" in fk["fields"]
               for fk in table.schema.get("x-foreignKeys", [])) \
                or (ctx.feed and table.name != "encounters" and "encounter_id" in table.columns):
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
