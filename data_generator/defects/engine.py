"""Applying a profile to a published day: the dirty copy beside it, its answer key and manifest.

    apply_defects(clean_folder, profile) -> DirtyResult

The clean folder is only read. The dirty day is written into a staging folder and renamed into
place whole (as a clean day is), so `<date>.dirty/` is the previous complete dirty day or the new
one, never half-written. It works on any published CSV day given its folder and a profile, so a
day from `generate`, `backfill` or any later command can be passed through it; a feed day (its
manifest says `"feed": true`) is read, changed and listed under the feed contracts, and the
kinds that only make sense on a feed (`late_or_corrected`) find rows only there.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from data_generator.defects.context import Context, Defect
from data_generator.defects.kinds import KINDS
from data_generator.defects.profile import Profile, class_of, classes
from data_generator.defects.table import Table, read_day, write_table
from data_generator.errors import ContractError, UsageError
from data_generator.locks import day_lock, exclusive
from data_generator.pipeline import recover_leftovers
from data_generator.publish import publish_day, staged
from data_generator.reading import day_format, is_feed_day, read_manifest

TRUTH = "_defects.jsonl"
DIRTY_SUFFIX = ".dirty"
TRUTH_FIELDS = ("id", "class", "kind", "file", "key", "line", "column", "original", "new", "detail")


@dataclass(frozen=True)
class DirtyResult:
    folder: Path
    counts: dict[str, int]  # injected defects per class (classes with none left out)
    kinds: dict[str, int]   # per kind


def dirty_folder(clean: Path) -> Path:
    """`DIR/<mode>/<date>.dirty/` beside the clean `DIR/<mode>/<date>/`."""
    clean = Path(clean)
    return clean.with_name(clean.name + DIRTY_SUFFIX)


def dirty_up_to_date(clean: Path, profile: Profile) -> bool:
    """The dirty folder beside `clean` was made by this profile from exactly the clean files there now."""
    made = read_manifest(dirty_folder(clean)).get("defects")
    files = read_manifest(clean).get("files")
    return isinstance(made, dict) and isinstance(files, dict) and made.get("profile_digest") == profile.digest \
        and made.get("clean_files") == _digests(files)


def apply_defects(clean: Path | str, profile: Profile, seed: int | None = None) -> DirtyResult:
    """Write the dirty copy of the published day in `clean`, its `_defects.jsonl` and manifest.

    The seed is the day's own (its manifest's `seed`) unless given; the batch date is the manifest's.
    """
    clean = Path(clean)
    manifest = read_manifest(clean)
    date = _batch_date(clean, manifest)
    seed = int(manifest.get("seed", 0)) if seed is None else seed
    if day_format(clean) != "csv":
        raise UsageError("--defects", "applies to CSV days only", found=str(clean),
                         hint="generate the day without --format parquet")
    target = dirty_folder(clean)
    with exclusive(day_lock(target), f"day folder {target}"):
        recover_leftovers(target)
        tables = read_day(clean)
        ctx = Context(tables, profile.catalogue, seed, date, feed=is_feed_day(clean))
        for kinds in classes().values():
            for kind in kinds:
                if kind in profile.rates:
                    KINDS[kind](ctx, ctx.rng(kind), profile.rates[kind])
        _publish(ctx, target, _dirty_manifest(manifest, profile, ctx.defects))
    counts = Counter(class_of(d.kind) for d in ctx.defects)
    return DirtyResult(target, dict(counts), dict(Counter(d.kind for d in ctx.defects)))


def _batch_date(clean: Path, manifest: dict) -> dt.date:
    try:
        return dt.date.fromisoformat(manifest["batch_date"])
    except (KeyError, TypeError, ValueError):
        raise ContractError(str(clean), "no published day here (no manifest with a batch_date)",
                            hint="pass a folder that `datagen generate` wrote") from None


def _publish(ctx: Context, target: Path, manifest: dict) -> None:
    with staged(target) as staging:
        lines = {}
        for table in ctx.tables.values():
            lines.update(write_table(table, staging))
        with open(staging / TRUTH, "w", encoding="utf-8") as f:
            for i, defect in enumerate(ctx.defects, start=1):
                f.write(json.dumps(truth_line(i, defect, lines), ensure_ascii=False) + "\n")
        publish_day(staging, target, manifest)


def truth_line(number: int, defect: Defect, lines: dict[int, int]) -> dict:
    """One line of `_defects.jsonl` (see TRUTH_FIELDS); `line` is validation's record numbering."""
    table: Table = defect.table
    row = defect.row
    line = None if row is None else lines[id(row)]
    key = None if row is None else table.get(row, table.ident)
    values = (number, class_of(defect.kind), defect.kind, table.file, key, line, defect.column, defect.original,
              str(line) if defect.new_is_line else defect.new, defect.detail)
    return dict(zip(TRUTH_FIELDS, values, strict=True))


def _dirty_manifest(clean: dict, profile: Profile, defects: list[Defect]) -> dict:
    counts = Counter(class_of(d.kind) for d in defects)
    kinds = Counter(d.kind for d in defects)
    return {
        **{k: v for k, v in clean.items() if k != "files"},
        "defects": {
            "profile": profile.name,
            "profile_digest": profile.digest,
            "rates": profile.rates,
            "truth": TRUTH,
            "total": len(defects),
            "counts": {cls: counts[cls] for cls in classes() if counts[cls]},
            "kinds": {kind: kinds[kind] for ks in classes().values() for kind in ks if kinds[kind]},
            "clean_files": _digests(clean.get("files", {})),
        },
    }


def _digests(files: dict) -> dict[str, str]:
    return {name: str(info.get("sha256")) for name, info in sorted(files.items()) if isinstance(info, dict)}
