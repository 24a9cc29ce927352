"""The event-time feed: one folder per calendar day of what a nightly extract delivers that day.

    feed_day(cfg, date, mode, out_root, encounters=None, defects=None) -> FeedResult
    feed_backfill(config, start, end, mode, out_root, workers=1, defects=None, ...) -> BackfillResult

Feed day D is the rows of the admission-date batches D - window_days .. D (`feed_rows`) whose
delivery date is D, ordered by time: validated against the feed contracts, then published
atomically to OUT_ROOT/feed/<mode>/<date>/ with a manifest, like a batch day. Each feed day is
computable on its own; within a process the batches derived are kept for the next days, so a
backfill costs about one batch per day, and it runs on `backfill.py`'s process pool: parallel
and sequential backfills write the same bytes. The raw-mode registry is derived, never touched.
With a defect profile, each published feed day's dirty copy is written beside it
(`<date>.dirty/`, `defects.apply_defects`), the clean day unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_generator.backfill import BackfillResult, cached_profile, date_range, run_jobs, with_config
from data_generator.config import Config
from data_generator.contracts import FEED_FILES, column_type, feed_contracts
from data_generator.defects import DirtyResult, Profile, apply_defects, dirty_up_to_date
from data_generator.errors import ContractError
from data_generator.feed_rows import SORT, deliveries, feed_columns, window_days
from data_generator.locks import day_lock, exclusive
from data_generator.pipeline import check_out_root, day_folder, manifest, recover_leftovers, up_to_date
from data_generator.publish import publish_day, staged
from data_generator.validation import validate_feed_day
from data_generator.writer import TableWriter, data_file

FEED_DIR = "feed"  # OUT_ROOT/feed/<mode>/<date>/
CACHE_BATCHES = 64  # admission-date batches kept per process (at least a feed day's window)
_batches: OrderedDict = OrderedDict()


@dataclass(frozen=True)
class FeedResult:
    folder: Path
    rows: dict[str, int]
    dirty: DirtyResult | None = None  # the dirty copy, with a defect profile


def feed_folder(out_root: Path, mode: str, date: dt.date) -> Path:
    return day_folder(Path(out_root) / FEED_DIR, mode, date)


def feed_manifest(cfg: Config, date: dt.date, mode: str, encounters: int | None) -> dict:
    """A batch day's manifest (batch_date is the feed day), marked as a feed day, with its window."""
    return {**manifest(cfg, date, mode, encounters), "feed": True, "window_days": window_days(cfg)}


def feed_tables(cfg: Config, date: dt.date, mode: str, encounters: int | None = None) -> dict[str, dict]:
    """Feed day `date` in memory: each file's rows delivered that day, ordered by time."""
    first = max(date - dt.timedelta(days=window_days(cfg)), cfg.start_date)
    day = np.datetime64(date, "D")
    out = {}
    parts: dict[str, list[dict]] = {name: [] for name in FEED_FILES}
    for admitted in date_range(first, date):
        for name, table in _batch(cfg, admitted, mode, encounters).items():
            keep = np.flatnonzero(table["delivery_date"] == day)
            parts[name].append({c: v[keep] for c, v in table.items()})
    schemas = feed_contracts()
    for name, pieces in parts.items():
        cols = feed_columns(name)
        table = {c: np.concatenate([p[c] for p in pieces]) for c in [*cols, SORT]}
        order = np.argsort(table[SORT], kind="stable")
        out[name] = {c: _typed(table[c][order], schemas[name]["properties"][c]) for c in cols}
    return out


def _typed(values: np.ndarray, prop: dict) -> np.ndarray:
    """A column as the writer takes it, also when it is empty (an empty day has no typed rows)."""
    if values.size or values.dtype != object:
        return values
    kind = column_type(prop)
    return np.zeros(0, dtype={"date": "datetime64[D]", "date-time": np.int64, "integer": np.int64,
                              "number": float}.get(kind, object))


def _batch(cfg: Config, date: dt.date, mode: str, encounters: int | None) -> dict[str, dict]:
    """The deliveries of the batch admitted on `date` (kept for the next feed days of this process)."""
    key = (cfg.digest, cfg.seed, mode, encounters, date)
    if key not in _batches:
        _batches[key] = deliveries(cfg, date, mode, encounters)
        while len(_batches) > max(CACHE_BATCHES, window_days(cfg) + 2):
            _batches.popitem(last=False)
    _batches.move_to_end(key)
    return _batches[key]


def feed_day(cfg: Config, date: dt.date, mode: str, out_root: Path, encounters: int | None = None,
             defects: Profile | None = None) -> FeedResult:
    """Derive, validate and publish one feed day (then, with a defect profile, its dirty copy); a
    failure leaves the previous folder or none."""
    check_out_root(out_root)
    target = feed_folder(out_root, mode, date)
    with exclusive(day_lock(target), f"feed day folder {target}"):
        recover_leftovers(target)
        tables = feed_tables(cfg, date, mode, encounters)
        rows = _write_validate_publish(cfg, tables, target, feed_manifest(cfg, date, mode, encounters), date)
    return FeedResult(target, rows, None if defects is None else apply_defects(target, defects))


def _write_validate_publish(cfg: Config, tables: dict[str, dict], target: Path, inputs: dict,
                            date: dt.date) -> dict[str, int]:
    with staged(target) as staging:
        rows = {}
        for name, schema in feed_contracts().items():
            with TableWriter(data_file(staging, schema), schema, cfg.tz) as out:
                out.write(tables[name])
            rows[name] = out.rows
        report = validate_feed_day(staging, date)
        if not report.ok:
            raise ContractError(f"{target}", "feed day breaks its contract; nothing published:\n  "
                                + "\n  ".join(report.summary(10)))
        publish_day(staging, target, inputs)
    return rows


@dataclass(frozen=True)
class FeedJob:
    """Everything a worker needs for one feed day, as plain values (it loads the config itself)."""

    config: str
    seed: int | None
    date: dt.date
    mode: str
    out_root: str
    encounters: int | None
    defects: str | None = None  # a defect profile's path: also write the dirty copy beside the day


def run_feed_job(job: FeedJob) -> tuple[dt.date, int]:
    """One feed day in a worker process; returns (date, rows written)."""
    cfg = with_config(job.config, job.seed)
    profile = None if job.defects is None else cached_profile(job.defects)
    result = feed_day(cfg, job.date, job.mode, Path(job.out_root), job.encounters, profile)
    return job.date, sum(result.rows.values())


def feed_backfill(config: Path, start: dt.date, end: dt.date, mode: str, out_root: Path, *, workers: int = 1,
                  seed: int | None = None, encounters: int | None = None, defects: Path | None = None,
                  progress: Callable[[dt.date, int], None] | None = None) -> BackfillResult:
    """Every feed day of a range, in parallel (with `defects`, a profile's path, each day's dirty
    copy too); a day whose folder holds a manifest with the same inputs (and whose dirty copy was
    made by the same profile from it) is skipped, so an interrupted backfill finishes the rest."""
    cfg = with_config(str(config), seed)
    profile = None if defects is None else cached_profile(str(defects))  # a bad profile: refused first
    check_out_root(out_root)
    result = BackfillResult()
    todo = []
    for date in date_range(start, end):
        folder = feed_folder(out_root, mode, date)
        done = up_to_date(folder, feed_manifest(cfg, date, mode, encounters)) \
            and (profile is None or dirty_up_to_date(folder, profile))
        (result.skipped if done else todo).append(date)
    jobs = [FeedJob(str(config), seed, d, mode, str(out_root), encounters, None if defects is None else str(defects))
            for d in todo]
    for date, rows in run_jobs(jobs, workers, run_feed_job):
        result.done.append(date)
        result.rows += rows
        if progress:
            progress(date, rows)
    return result
