"""What the research exports (OMOP CDM, MEDS) share: the published days of a date range, their
patients (each once) and encounters, the integer ids derived from the generator's string ids,
local wall-clock times, and writing a set of files into a folder that appears whole.

    days = published_days(out_root, "sample", start, end)   # [(date, folder), ...], each checked
    patients, encounters = range_tables(days)
    person_ids(table["patient_id"])                         # P0007598 -> 7598
    visit_ids(table["encounter_id"])                        # ENC-20260115-00001 -> 951100001

Id rules (documented in README): a person's id is the number in its patient_id; a visit's id is
the days from 2000-01-01 to the date in its encounter_id times 100,000 plus its sequence number,
so it fits the CDM's 32-bit integer until 2058 and is the same in every export that holds it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from data_generator.errors import ContractError, OutputError, UsageError
from data_generator.pipeline import day_folder
from data_generator.publish import MANIFEST, publish_day, staged
from data_generator.reading import read_manifest, read_table
from data_generator.validation import validate_day

VISIT_EPOCH = dt.date(2000, 1, 1)   # visit ids count days from here (an id rule, not content)
VISIT_SEQ = 100_000                  # encounter sequence numbers are five digits
INT32_MAX = 2**31 - 1
MAX_DAYS = 3660                      # a range longer than ten years is almost surely a typo


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise UsageError("--end", f"is before --start ({start})", found=end.isoformat())
    if (end - start).days >= MAX_DAYS:
        raise UsageError("--end", f"the range spans more than {MAX_DAYS} days", found=end.isoformat())
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def published_days(out_root: Path, mode: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, Path]]:
    """Every day folder of the range, each published (a manifest stating its date) and meeting
    the contracts; the first that is not raises one error naming it."""
    days = []
    for date in date_range(start, end):
        folder = day_folder(out_root, mode, date)
        if not folder.is_dir():
            raise UsageError(str(folder), "no such day folder: every day of --start..--end must be published",
                             hint="generate it first (datagen backfill), or check --out-root/--mode")
        stated = read_manifest(folder).get("batch_date")
        if stated != date.isoformat():
            raise ContractError(str(folder / MANIFEST), "not a published day (no manifest stating its batch_date)",
                                found=stated, hint="regenerate the day")
        validate_day(folder, date).raise_if_failed()
        days.append((date, folder))
    return days


def range_tables(days: list[tuple[dt.date, Path]]) -> tuple[pa.Table, list[pa.Table]]:
    """The patients of the days, each once (the latest day's row of a patient seen on several
    days), sorted by person id; and each day's encounters (an encounter id in two days raises)."""
    encounters = [read_table(folder, "encounters") for _, folder in days]
    ids = pa.concat_arrays([e["encounter_id"].combine_chunks() for e in encounters])
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        dup = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise ContractError("encounters.csv encounter_id", "the same stay is in two days of the range", found=dup,
                            hint="export days of one generation run")
    seq = pc.cast(pc.utf8_slice_codeunits(ids, 13), pa.int64())
    if len(ids) and pc.max(seq).as_py() >= VISIT_SEQ:
        over = ids.filter(pc.greater_equal(seq, VISIT_SEQ))[0].as_py()
        raise ContractError("encounters.csv encounter_id", f"a day holds more than {VISIT_SEQ - 1:,} encounters, "
                            "which OMOP visit ids (date * 100,000 + number) cannot tell apart", found=over,
                            hint="export days of at most 99,999 encounters")
    patients = pa.concat_tables([read_table(folder, "patients") for _, folder in days])
    latest = {pid: i for i, pid in enumerate(patients["patient_id"].to_pylist())}
    patients = patients.take(sorted(latest.values()))
    return patients.take(pc.sort_indices(person_ids(patients["patient_id"]))), encounters


def person_ids(patient_id: pa.Array) -> pa.Array:
    """P0007598 -> 7598 (int64)."""
    return pc.cast(pc.utf8_slice_codeunits(patient_id, 1), pa.int64())


def visit_ids(encounter_id: pa.Array) -> pa.Array:
    """ENC-20260115-00001 -> days(2000-01-01..2026-01-15) * 100,000 + 1 (int64)."""
    days = pc.strptime(pc.utf8_slice_codeunits(encounter_id, 4, 12), format="%Y%m%d", unit="s")
    offset = pc.divide(pc.subtract(pc.cast(days, pa.int64()),
                                   int(dt.datetime(VISIT_EPOCH.year, 1, 1, tzinfo=dt.UTC).timestamp())), 86_400)
    seq = pc.cast(pc.utf8_slice_codeunits(encounter_id, 13), pa.int64())
    return pc.add(pc.multiply(offset, VISIT_SEQ), seq)


def local(times: pa.Array) -> pa.Array:
    """Zone-aware timestamps as the hospital's wall-clock time (naive), as OMOP and MEDS keep them."""
    return pc.local_timestamp(times)


def day_of(times: pa.Array) -> pa.Array:
    """The date of naive timestamps."""
    return pc.cast(times, pa.date32())


def publish_export(target: Path, write: Callable[[Path], dict]) -> dict:
    """Run `write(staging)` in a fresh folder beside `target`, then swap it in whole with a
    `_manifest.json` holding what `write` returned plus each file's rows, bytes and SHA-256.
    On any failure nothing is left behind and an older `target` is kept."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(str(target.parent), "cannot create the export folder", found=exc.strerror) from None
    with staged(target) as staging:
        publish_day(staging, target, write(staging))
    return json.loads((target / MANIFEST).read_text(encoding="utf-8"))
