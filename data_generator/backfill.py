"""Backfill: every day in a date range, in parallel, resumable, identical to running them in order.

Each day depends only on the seed, the date and the config (the registry as of a date is
derived, not accumulated), so days can run in any order on any worker. Workers never touch
the patient registry; in raw mode the parent writes it once at the end, as of the last day,
which is exactly what running the days one by one leaves behind. A day whose folder already
holds a manifest with the same inputs is skipped, so an interrupted backfill finishes the rest.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from data_generator import registry_store
from data_generator.config import Config, load_config
from data_generator.defects import Profile, apply_defects, dirty_up_to_date, load_profile
from data_generator.errors import DataGenError, UsageError
from data_generator.generators.registry import derive_registry
from data_generator.locks import exclusive, registry_lock
from data_generator.pipeline import (
    check_out_root,
    day_folder,
    generate_day,
    manifest,
    up_to_date,
    with_seed,
)


@dataclass
class BackfillResult:
    done: list[dt.date] = field(default_factory=list)
    skipped: list[dt.date] = field(default_factory=list)
    rows: int = 0
    new_patients: int = 0


@dataclass(frozen=True)
class DayJob:
    """Everything a worker needs, as plain values (it loads the config itself)."""

    config: str
    seed: int | None
    date: dt.date
    mode: str
    out_root: str
    encounters: int | None
    fmt: str = "csv"
    interventions: bool = False
    defects: str | None = None  # a defect profile's path: also write the dirty copy beside the day


@cache
def with_config(path: str, seed: int | None) -> Config:
    """The config at `path` with `seed` (loaded once per process)."""
    return with_seed(load_config(path), seed)


@cache
def cached_profile(path: str) -> Profile:
    """The defect profile at `path` (loaded once per process)."""
    return load_profile(path)


def run_job(job: DayJob) -> tuple[dt.date, int]:
    """Generate one day in a worker process (and its dirty copy, with a defect profile); returns
    (date, rows written to the clean day)."""
    cfg = with_config(job.config, job.seed)
    result = generate_day(cfg, job.date, job.mode, Path(job.out_root), job.encounters, save_registry=False,
                          fmt=job.fmt, interventions=job.interventions)
    if job.defects is not None:
        apply_defects(result.folder, cached_profile(job.defects))
    return job.date, sum(result.rows.values())


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise UsageError("--end", f"is before --start ({start})", found=end.isoformat())
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def plan(cfg: Config, dates: Iterable[dt.date], mode: str, out_root: Path,
         encounters: int | None, fmt: str = "csv", interventions: bool = False,
         defects: Profile | None = None) -> tuple[list[dt.date], list[dt.date]]:
    """(days to generate, days already up to date: the day, and its dirty copy if a profile is given)."""
    todo, skip = [], []
    for date in dates:
        inputs = manifest(cfg, date, mode, encounters, fmt, interventions)
        folder = day_folder(out_root, mode, date)
        done = up_to_date(folder, inputs) and (defects is None or dirty_up_to_date(folder, defects))
        (skip if done else todo).append(date)
    return todo, skip


def backfill(config: Path, start: dt.date, end: dt.date, mode: str, out_root: Path, *, workers: int = 1,
             seed: int | None = None, encounters: int | None = None, registry_path: Path | None = None,
             executor: str = "process", scheduler: str | None = None, fmt: str = "csv",
             progress: Callable[[dt.date, int], None] | None = None,
             interventions: bool = False, defects: Path | None = None) -> BackfillResult:
    """Every day from `start` to `end`; with `defects` (a profile's path) each day's dirty copy too."""
    cfg = with_config(str(config), seed)
    if defects is not None:
        cached_profile(str(defects))  # a bad profile is refused before any day is written
    registry_path = Path(registry_path or registry_store.DEFAULT_PATH)
    check_out_root(out_root)
    with ExitStack() as locks:
        if mode == "raw":  # workers never touch the registry; the parent holds it throughout
            locks.enter_context(exclusive(registry_lock(registry_path), f"registry {registry_path}"))
            on_file = registry_store.check_file(cfg, registry_path)
        result = _run_days(cfg, config, start, end, mode, out_root, workers, seed, encounters, executor,
                           scheduler, fmt, progress, interventions, defects)
        if mode == "raw":
            result.new_patients = registry_store.save(cfg, derive_registry(cfg, end), registry_path, on_file)
    return result


def _run_days(cfg, config, start, end, mode, out_root, workers, seed, encounters, executor, scheduler, fmt,
              progress, interventions=False, defects=None) -> BackfillResult:
    profile = None if defects is None else cached_profile(str(defects))
    todo, skipped = plan(cfg, date_range(start, end), mode, out_root, encounters, fmt, interventions, profile)
    result = BackfillResult(skipped=skipped)
    jobs = [DayJob(str(config), seed, d, mode, str(out_root), encounters, fmt, interventions,
                   None if defects is None else str(defects)) for d in todo]
    run = _run_dask if executor == "dask" else _run_processes
    for date, rows in run(jobs, workers, scheduler):
        result.done.append(date)
        result.rows += rows
        if progress:
            progress(date, rows)
    return result


def _run_processes(jobs: list[DayJob], workers: int, scheduler: str | None):
    yield from run_jobs(jobs, workers, run_job)


def run_jobs(jobs: list, workers: int, run: Callable):
    """`run(job)` for each job (a picklable function of a plain-valued job with a `date`): in this
    process with one worker, else in a local process pool; yields each result as it finishes."""
    if workers <= 1:
        for job in jobs:
            yield run(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(run, job): job for job in jobs}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = pending.pop(future)
                    yield _result(future.result, job)
        finally:
            for future in pending:
                future.cancel()


def _run_dask(jobs: list[DayJob], workers: int, scheduler: str | None):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise UsageError("--executor dask", "dask.distributed is not installed",
                         hint="pip install 'clinical-data-generator[dask]'") from None
    if not scheduler:
        raise UsageError("--scheduler", "required with --executor dask", hint="e.g. tcp://10.0.0.5:8786")
    with Client(scheduler) as client:
        futures = client.map(run_job, jobs, pure=False)
        by_future = dict(zip(futures, jobs, strict=True))
        for future in as_completed(futures):
            yield _result(future.result, by_future[future])


def _result(get, job) -> tuple[dt.date, int]:
    try:
        return get()
    except DataGenError as exc:
        exc.where = f"{job.date}: {exc.where}"
        raise
    except Exception as exc:  # a worker's unexpected failure still names its day
        raise RuntimeError(f"day {job.date} failed: {exc!r}") from exc


class Progress:
    """Days done, rows, rate and ETA on stderr: one redrawn line (tqdm) on a terminal, one plain
    line per finished day otherwise (a log file gets no carriage-return frames)."""

    def __init__(self, total: int, quiet: bool):
        from tqdm import tqdm

        self.total, self.done, self.rows = total, 0, 0
        self.plain = not quiet and total > 0 and not sys.stderr.isatty()
        self.bar = tqdm(total=total, unit="day", disable=quiet or total == 0 or self.plain, dynamic_ncols=True)
        self.start = time.perf_counter()

    def __call__(self, date: dt.date, rows: int) -> None:
        self.rows += rows
        self.done += 1
        rate = self.rows / max(time.perf_counter() - self.start, 1e-9)
        if self.plain:
            print(f"{date} done ({self.done}/{self.total}): {self.rows:,} rows so far, {rate:,.0f} rows/s",
                  file=sys.stderr, flush=True)
        self.bar.set_postfix_str(f"{date} {self.rows:,} rows {rate:,.0f} rows/s", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
