"""Validating a day folder: each file checked batch by batch in dependency order, then the
rules that need whole files. A file that cannot be read is reported, never raised.

Memory stays bounded: files are read in batches, each batch is checked on its own, and only
what cross-row rules need is kept (primary keys, the keys and times other files refer to).
Files are read in dependency order (patients, encounters, then the files that refer to them),
so references and time windows are checked per batch against the already-complete small tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from data_generator.contracts import Violation, contracts, feed_contracts
from data_generator.publish import MANIFEST, verify_manifest
from data_generator.reading import files_present, optional_present, read_manifest
from data_generator.validation.batches import Kept, Unreadable
from data_generator.validation.columns import check_columns
from data_generator.validation.readers import Written, read_batches
from data_generator.validation.report import Report
from data_generator.validation.rules import check_batch, check_whole, windows
from data_generator.writer import FORMATS, data_file

_DESCRIBED = ("bytes", "sha256", "rows")  # what the manifest records of each file


def validate_day(folder: Path, batch_date: dt.date | None = None,
                 max_violations: int = 10000, fmt: str | None = None) -> Report:
    """Check the five files in `folder` against their contracts, and an optional file (such as
    interventions.csv) when the folder holds it; never raises on bad data.

    `batch_date` None takes the manifest's; a manifest that states another is reported.
    `fmt` is "csv" (the contracts' CSV/JSONL files) or "parquet"; None detects it.
    """
    folder = Path(folder)
    report = Report(max_violations=max_violations)
    batch_date = _checked_date(folder, batch_date, report)
    fmt = fmt or day_format(folder, report)
    return _check_files(folder, contracts(optional_present(folder, fmt)), fmt, batch_date, report)


def validate_feed_day(folder: Path, feed_date: dt.date | None = None, max_violations: int = 10000) -> Report:
    """Check the six files of an event-time feed day against the feed contracts (every row delivered
    on `feed_date`; None takes the manifest's); never raises on bad data."""
    folder = Path(folder)
    report = Report(max_violations=max_violations)
    feed_date = _checked_date(folder, feed_date, report)
    return _check_files(folder, feed_contracts(), "csv", feed_date, report)


def _checked_date(folder: Path, batch_date: dt.date | None, report: Report) -> dt.date | None:
    """The date to check the folder as: `batch_date`, else the manifest's (a manifest that states
    another, or no date, is reported; how the files differ from the manifest too)."""
    manifest = _read_manifest(folder, report)
    stated = _iso_date(manifest.get("batch_date"))
    if "batch_date" in manifest and stated is None:
        report.add(Violation(MANIFEST, None, "batch_date", "manifest", manifest["batch_date"], "not a date"))
    elif batch_date is None:
        batch_date = stated
    elif stated is not None and stated != batch_date:
        report.add(Violation(MANIFEST, None, "batch_date", "manifest", None,
                             f"records {stated}, the day is checked as {batch_date}"))
    return batch_date


def _check_files(folder: Path, schemas: dict[str, dict], fmt: str, batch_date: dt.date | None,
                 report: Report) -> Report:
    """Every file of `schemas` batch by batch in dependency order, then the whole-file rules."""
    kept: dict[str, Kept] = {}
    for name in _dependency_order(schemas):
        table = _validate_file(data_file(folder, schemas[name], fmt), name, schemas, kept,
                               batch_date, report)
        if table is not None:
            kept[name] = table
    return _whole_rules(kept, schemas, report)


def _whole_rules(kept: dict[str, Kept], schemas: dict[str, dict], report: Report) -> Report:
    """Each readable file's row count, then the rules that need whole files."""
    report.rows = {kept[name].file: kept[name].n for name in schemas if name in kept}
    for table in kept.values():
        check_whole(table, kept, report)
    return report


def holds_a_day(folder: Path) -> bool:
    """Whether `folder` holds a day: its manifest or any contracted file, in either format."""
    folder = Path(folder)
    return (folder / MANIFEST).is_file() or any(files_present(folder).values()) \
        or any(optional_present(folder, fmt) for fmt in FORMATS)


def stated_batch_date(folder: Path) -> dt.date | None:
    """The batch date a day folder states: its manifest's `batch_date`, else its name if that is
    a date (YYYY-MM-DD); None if neither does."""
    folder = Path(folder)
    return _iso_date(read_manifest(folder).get("batch_date")) or _iso_date(folder.name)


def _iso_date(text) -> dt.date | None:
    """`text` as a YYYY-MM-DD date, or None."""
    if not isinstance(text, str) or len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def day_format(folder: Path, report: Report | None = None) -> str:
    """'parquet' if any of the five Parquet files is in `folder`, else 'csv' (text files).

    Text files beside Parquet ones are reported as 'mixed_formats' in `report`.
    """
    found = files_present(folder)
    if not found["parquet"]:
        return "csv"
    if report is not None:
        for name in found["csv"]:
            report.add(Violation(name, None, None, "mixed_formats", None,
                                 "text file beside Parquet files; only Parquet is checked"))
    return "parquet"


def _dependency_order(schemas: dict[str, dict]) -> list[str]:
    """File names with every file after the files its keys and time windows refer to."""
    def needs(name: str) -> set[str]:
        return _batch_reads(schemas[name]) - {name}

    order: list[str] = []
    waiting = list(schemas)
    while waiting:
        ready = [n for n in waiting if not needs(n) & set(waiting)]
        pick = ready[0] if ready else waiting[0]  # a cycle: break it in file order
        order.append(pick)
        waiting.remove(pick)
    return order


def _kept_columns(name: str, schemas: dict[str, dict]) -> set[str]:
    """The columns of `name` that rules spanning batches or files read."""
    schema = schemas[name]
    keep = {schema["x-primaryKey"]} if "x-primaryKey" in schema else set()
    for ref in schema.get("x-referencedBy", []):
        keep.update(ref["fields"])
    for other, theirs in schemas.items():
        for fk in theirs.get("x-foreignKeys", []):
            if fk["reference"]["resource"] == name:
                keep.update(fk["reference"]["fields"])
        for w in windows(theirs):
            if w["resource"] == name:
                keep.update((w["key"], w["start"], w["end"]))
        for ref in theirs.get("x-referencedBy", []):
            if ref["by"]["resource"] == name and other != name:
                keep.update(ref["by"]["fields"])
    return keep & set(schema["properties"])


def _validate_file(path: Path, name: str, schemas: dict[str, dict], kept: dict[str, Kept],
                   batch_date: dt.date | None, report: Report) -> Kept | None:
    """Check one file batch by batch; what later rules need of it, or None if unreadable."""
    keep = _check_batches(path, name, schemas, kept, batch_date, report)
    return None if keep is None else keep.finish()


def _check_batches(path: Path, name: str, schemas: dict[str, dict], kept: dict[str, Kept],
                   batch_date: dt.date | None, report: Report) -> Kept | None:
    """Every batch of one file checked; what later rules need of it (not yet finished), or None
    if the file is missing or unreadable."""
    schema = schemas[name]
    if not path.exists():
        report.add(Violation(path.name, None, None, "missing_file", detail="not found"))
        return None
    keep = Kept(name, path.name, schema, _kept_columns(name, schemas))
    try:
        for batch in read_batches(path, name, schema, report):
            check_columns(batch, report)
            check_batch(batch, kept, batch_date, report)
            keep.add(batch)
    except OSError as exc:
        report.add(Violation(path.name, None, None, "parse", exc.strerror, "cannot read"))
        return None
    except Unreadable:
        return None
    return keep


@dataclass
class PartFound:
    """What checking one part of a file found: what later rules need of its rows (line numbers
    as in the part) and its violations."""

    name: str
    kept: Kept | None
    report: Report


class DayCheck:
    """Validation of a day whose large files are written in parts (each part a file of its own,
    CSV parts with the header), by the same checks as `validate_day`.

    The files the others refer to are checked whole first (`check_file`); then each part of
    the others on its own (`check_part`, in any process that holds this object: every rule a
    batch can be checked for needs only those whole files), and its findings added in the
    file's order (`add_part`, with the lines before it in the assembled file); `finish` runs
    the rules that need whole files and gives the Report.
    """

    def __init__(self, folder: Path, schemas: dict[str, dict], batch_date: dt.date | None,
                 max_violations: int = 10000) -> None:
        self.folder, self.schemas, self.batch_date = Path(folder), schemas, batch_date
        self.report = Report(max_violations=max_violations)
        self.kept: dict[str, Kept] = {}
        self._parted: dict[str, Kept | None] = {}
        self._seen: set[str] = set()
        self.whole = [name for name in _dependency_order(schemas)
                      if any(_refers_to(schemas[other], name) for other in schemas if other != name)]
        for name in schemas:
            if name not in self.whole and any(_refers_to(schemas[name], other)
                                              for other in schemas if other not in self.whole and other != name):
                raise ValueError(f"{name} refers to a file that is written in parts")

    def whole_files(self) -> None:
        """Check the files others refer to (in the day folder), unless this object has."""
        for name in self.whole:
            if name not in self._seen:
                self.check_file(name)

    def whole_checked(self, kept: dict[str, Kept]) -> None:
        """Take what checking the whole files found in another process (another DayCheck's
        `kept`; its violations are that one's to report): parts are checked against it, and the
        whole files are not read again here."""
        self.kept.update(kept)
        self._seen.update(self.whole)

    def check_file(self, name: str) -> None:
        """Check a whole file (one that others refer to) in the day folder."""
        self._seen.add(name)
        found = _validate_file(data_file(self.folder, self.schemas[name], "csv"), name, self.schemas, self.kept,
                               self.batch_date, self.report)
        if found is not None:
            self.kept[name] = found

    def check_part(self, path: Path | Written, name: str) -> PartFound:
        """Check one part of file `name` (a file named as the whole one, or its bytes)."""
        report = Report(max_violations=self.report.max_violations)
        part = path if isinstance(path, Written) else Path(path)
        kept = _check_batches(part, name, self.schemas, self.kept, self.batch_date, report)
        return PartFound(name, kept, report)

    def add_part(self, part: PartFound, lines_before: int) -> None:
        """Count a part in, in file order; `lines_before` is the assembled file's lines before
        the part's rows (its header included)."""
        header = 1 if self.schemas[part.name]["x-file"].endswith(".csv") else 0
        self.report.merge(part.report, lines_before - header)
        if part.kept is None or self._parted.get(part.name, True) is None:
            self._parted[part.name] = None  # an unreadable part: the file is not checked across rows
            return
        whole = self._parted.setdefault(part.name, Kept(part.name, part.kept.file, part.kept.schema,
                                                         part.kept.keep))
        whole.extend(part.kept, lines_before - header)

    def finish(self) -> Report:
        """The rules that need whole files, over the whole files and the assembled parts."""
        kept = {**self.kept, **{n: k.finish() for n, k in self._parted.items() if k is not None}}
        return _whole_rules(kept, self.schemas, self.report)


def _batch_reads(schema: dict) -> set[str]:
    """The files a file's batches are checked against (its foreign keys and time windows)."""
    return {fk["reference"]["resource"] for fk in schema.get("x-foreignKeys", [])} \
        | {w["resource"] for w in windows(schema)}


def _refers_to(schema: dict, name: str) -> bool:
    """Whether a file's rules read file `name` (its keys, time windows or keys used elsewhere)."""
    return name in _batch_reads(schema) or any(r["by"]["resource"] == name for r in schema.get("x-referencedBy", []))


def _read_manifest(folder: Path, report: Report) -> dict:
    """The manifest ({} if absent or unreadable); how the files differ from it goes to `report`."""
    if not (folder / MANIFEST).exists():
        return {}
    manifest = read_manifest(folder)
    for v in verify_manifest(folder):
        report.add(_worded(v, manifest.get("files")))
    return manifest


def _worded(v: Violation, recorded) -> Violation:
    """A manifest finding that says what the manifest records and what the folder holds."""
    if v.field in _DESCRIBED:
        was, now = _brief(dict(recorded[v.file]).get(v.field)), _brief(v.value)
        said = "the file's cannot be counted" if v.value is None else f"the file has {now}"
        return replace(v, value=None, detail=f"records {was}, {said}")
    if v.field is None:
        listed = isinstance(recorded, dict) and v.file in recorded
        return replace(v, detail="lists this file, which is not in the folder" if listed
                       else "does not list this file")
    return v


def _brief(value) -> str:
    """A recorded value as a message shows it: a checksum cut to its first 12 characters."""
    text = str(value)
    return text[:12] + "..." if isinstance(value, str) and len(text) > 16 else text
