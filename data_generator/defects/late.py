"""Late arrivals and corrections on a feed day: the feed's own, listed in the answer key as they
were delivered (nothing is changed), so that a pipeline's detection of them can be scored.

A row is late when the local date of its own time (the catalogue names the column per file) is
before its delivery date; a result is corrected when its status is the feed contract's
`corrected` code. Which columns: the catalogue's `late_or_corrected`. A batch day has no
delivery date and no result status, so nothing is listed there. The listed rows are marked
touched, so no other kind changes them, and schema drift leaves the columns they are seen in, so
each line holds in the dirty files as written.
"""

from __future__ import annotations

import datetime as dt

from data_generator.defects.context import Context, Defect, chosen, moment


def late_arrival(ctx: Context, rng, rate: float) -> None:
    """A row delivered one or more days after the day of its time (the feed's `late` share)."""
    spec = ctx.catalogue["late_or_corrected"]
    delivered = spec["delivery_column"]
    for name, col in spec["late_arrival"].items():
        table = ctx.table(name)
        if table is None or delivered not in table.columns:
            continue
        rows = [r for r in ctx.cells(table, col, test=moment) if _lag(table.get(r, col), table.get(r, delivered))]
        for row in chosen(rng, rows, rate):
            when, day = table.get(row, col), table.get(row, delivered)
            ctx.record(Defect("late_arrival", table, row, None, when, day,
                              f"delivered {_lag(when, day)} days after the day of its {col}",
                              evidence=(col, delivered)), row)


def _lag(when: str, delivered: str | None) -> int:
    """Whole days from the local date of `when` to the delivery date (0 when on time or unreadable)."""
    try:
        return max((dt.date.fromisoformat(delivered) - dt.date.fromisoformat(when[:10])).days, 0)
    except (TypeError, ValueError):
        return 0


def corrected_result(ctx: Context, rng, rate: float) -> None:
    """A result that supersedes a version reported earlier (the feed's `corrections` share): the
    corrected row is listed; the superseded one was reported at its `first_reported` time, in this
    feed day or an earlier one."""
    spec = ctx.catalogue["late_or_corrected"]["corrected_result"]
    table = ctx.table(spec["file"])
    status = spec["status_column"]
    if table is None or status not in table.columns:
        return
    code = table.schema["properties"][status].get("x-meaning", {}).get("corrected")
    rows = [r for r in ctx.cells(table, status) if table.get(r, status) == code]
    first, fixed = spec["first_reported"], spec["corrected_at"]
    for row in chosen(rng, rows, rate):
        ctx.record(Defect("corrected_result", table, row, None, table.get(row, first), table.get(row, fixed),
                          f"corrects the version reported at {table.get(row, first)}: "
                          f"{spec['value']} now {table.get(row, spec['value'])}",
                          evidence=(status, first, fixed, spec["value"])), row)
