"""The day pipeline: one day, in the frozen order, validated, then published atomically.

    generate_day(cfg, date, mode, out_root) -> DayResult

registry -> encounters -> patients -> vitals -> labs -> notes -> validate -> publish.
Raw mode then saves the grown patient registry; sample mode never touches it. With
`interventions=True` the day also gets the opt-in sixth table, interventions.csv.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import json
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_generator import __version__, registry_store
from data_generator.config import Config
from data_generator.contracts import contracts
from data_generator.errors import ContractError, OutputError
from data_generator.generators.encounters import Encounters, day_encounters
from data_generator.generators.interventions import (
    Interventions,
    interventions_table,
    oxygen_events,
    plan,
)
from data_generator.generators.lab_treatments import treat_results
from data_generator.generators.labs import Labs, generate_labs
from data_generator.generators.notes import generate_notes
from data_generator.generators.patients import generate_patients
from data_generator.generators.physiology import Physiology, build_physiology
from data_generator.generators.registry import Registry, derive_registry, registered_count
from data_generator.generators.timeline import ID_FORMATS, table_ids
from data_generator.generators.vitals import Vitals, generate_vitals
from data_generator.locks import day_lock, exclusive, registry_lock
from data_generator.publish import MANIFEST, discard, publish_day, staged
from data_generator.rng import stream
from data_generator.validation import validate_day
from data_generator.writer import TableWriter, data_file

PINNED = ("faker", "numpy")  # libraries whose versions the bytes depend on (recorded in the manifest)
CHUNK_ENCOUNTERS = 1000  # encounters generated together; part of the output's identity


@dataclass(frozen=True)
class DayResult:
    folder: Path
    rows: dict[str, int]
    new_patients: int
    seconds: dict[str, float] = field(default_factory=dict)
    registry_full: bool = False
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per step, of the thread that ran it


class Stopwatch:
    """Wall seconds and CPU seconds (of the thread that ran it) per named step, summed over chunks
    (reported by `make bench`)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - start
            self.cpu[step] = self.cpu.get(step, 0.0) + time.thread_time() - cpu

    def add(self, other: Stopwatch) -> None:
        """Count another stopwatch's steps in (a chunk's, timed where it ran)."""
        for mine, theirs in ((self.seconds, other.seconds), (self.cpu, other.cpu)):
            for step, s in theirs.items():
                mine[step] = mine.get(step, 0.0) + s


def day_folder(out_root: Path, mode: str, date: dt.date) -> Path:
    return Path(out_root) / mode / date.isoformat()


def with_seed(cfg: Config, seed: int | None) -> Config:
    if seed is None:
        return cfg
    return dataclasses.replace(cfg, generator={**cfg.generator, "seed": seed})


def iter_day(cfg: Config, date: dt.date, mode: str, registry: Registry, encounters: int | None = None,
             clock: Stopwatch | None = None, interventions: bool = False,
             workers: int = 1) -> Iterator[tuple[str, dict]]:
    """The day's tables in the frozen order, as (name, table) pieces (with `interventions`,
    each chunk's interventions table after its notes).

    Patients and encounters come whole; vitals, labs and notes come in chunks of encounters
    so that memory does not grow with the size of the day. Each chunk has its own RNG
    streams and numbers its rows from 1; the rows get their day-wide IDs here, in chunk order,
    so the output depends only on the seed, the date and the inputs, and `workers` processes
    (each charting whole chunks) give the same bytes as one.
    """
    clock = clock or Stopwatch()
    with clock("encounters"):
        enc = day_encounters(cfg, date, mode, registry, encounters)                         # 2
    with clock("patients"):
        patients = generate_patients(registry, enc)                                         # 3
    first = {"vitals": 1, "labs": 1, "notes": 1, "interventions": 1}
    job = _ChunkJob(cfg, date, registry, enc, interventions)
    with _chunks_in_order(job, len(range(0, len(enc), CHUNK_ENCOUNTERS)), workers) as chunks:
        yield "patients", patients
        yield "encounters", enc.table
        for pieces, seconds in chunks:
            clock.add(seconds)
            for name, table in pieces:
                column, n = ID_FORMATS[name][0], len(next(iter(table.values())))
                table[column] = table_ids(name, date, first[name], n)
                first[name] += n
                yield name, table


@dataclass(frozen=True)
class _ChunkJob:
    """Steps 4 to 6 for chunk k of a day's encounters: its vitals, labs, notes (and
    interventions), rows numbered from 1, with the seconds each step took."""

    cfg: Config
    date: dt.date
    registry: Registry
    enc: Encounters
    interventions: bool

    def __call__(self, k: int) -> tuple[list[tuple[str, dict]], Stopwatch]:
        with gc_paused():
            return self._chart(k)

    def _chart(self, k: int) -> tuple[list[tuple[str, dict]], Stopwatch]:
        cfg, date, clock = self.cfg, self.date, Stopwatch()
        seed, day = cfg.seed, date.isoformat()
        start = k * CHUNK_ENCOUNTERS
        part = self.enc.take(np.arange(start, min(start + CHUNK_ENCOUNTERS, len(self.enc))))
        phys, vitals, labs, events = chart(cfg, date, part, lambda step: stream(seed, day, step, k),
                                           None, clock)                                     # 4, 5
        with clock("notes"):
            notes = generate_notes(cfg, date, self.registry, part, vitals, labs, stream(seed, day, "notes", k),
                                   1, events)                                               # 6
        pieces = [("vitals", vitals.table), ("labs", labs.table), ("notes", notes)]
        if self.interventions:
            pieces.append(("interventions", interventions_table(date, part, events, 1)))
        return pieces, clock


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the block: a chunk makes hundreds of thousands of small
    objects (note contexts, chart dicts) and no cycles of its own, and the collector's passes
    over them took a quarter of the note step. Collection resumes after the block."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_JOB: _ChunkJob | None = None  # the job a chunk worker process runs (set before the pool forks)


def _run_chunk(k: int):
    return _JOB(k)


@contextmanager
def _chunks_in_order(job: _ChunkJob, chunks: int, workers: int) -> Iterator[Iterator]:
    """job(0), job(1), ... in order: here, or in `workers` processes forked now (before anything
    of the day is written), with at most two chunks per worker in flight so that memory stays
    bounded by the chunk, not the day. Leaving the block stops the workers."""
    global _JOB
    workers = min(workers, chunks)
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        yield map(job, range(chunks))
        return
    _JOB = job  # inherited by the forked workers: nothing is pickled but chunk numbers and results
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
    try:
        ahead = deque(pool.submit(_run_chunk, k) for k in range(min(chunks, 2 * workers)))

        def results():
            for k in range(2 * workers, chunks + 2 * workers):
                done = ahead.popleft().result()
                if k < chunks:
                    ahead.append(pool.submit(_run_chunk, k))
                yield done

        yield results()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _JOB = None


def chart(cfg: Config, date: dt.date, enc: Encounters, rng: Callable[[str], np.random.Generator],
          first: dict[str, int] | None = None, clock: Stopwatch | None = None
          ) -> tuple[Physiology, Vitals, Labs, Interventions]:
    """Steps 4 and 5 for a set of encounters: their physiology; the untreated chart and the
    treatments and transfers it calls for; the vitals charted from the treated physiology; the
    labs drawn (by schedule and by trigger) and the blood their haemoglobin calls for; and the
    oxygen devices charted. `rng(step)` gives each step its stream; the treated chart reuses the
    untreated one's grid and draws, so sets before a treatment are charted alike in both."""
    clock, first = clock or Stopwatch(), first or {"vitals": 1, "labs": 1}
    with clock("vitals"):
        phys = build_physiology(cfg, enc, rng("physiology"))
        untreated = generate_vitals(cfg, date, enc, phys, rng("vitals"), first["vitals"])
        course = plan(cfg, enc, phys, untreated.enc, untreated.hours, untreated.table, rng("interventions"))
        vitals = generate_vitals(cfg, date, enc, course.physiology, rng("vitals"), first["vitals"],
                                 course.transfers, untreated.grid)
        vitals = dataclasses.replace(vitals, grid=None)  # the grid is only needed between the two charts
        del untreated
    with clock("labs"):
        labs = generate_labs(cfg, date, enc, course.physiology, vitals, rng("labs"), first["labs"])
        phys, labs, blood = treat_results(cfg, enc, course.physiology, labs, rng("transfusion"))
    oxygen = oxygen_events(vitals.enc, vitals.hours, vitals.table["o2_device"])
    return phys, vitals, labs, Interventions.join([course.events, blood, oxygen])


def build_day(cfg: Config, date: dt.date, mode: str, encounters: int | None = None,
              interventions: bool = False):
    """All five tables for `date` in memory (six with `interventions`), plus the registry they
    came from (for tests, previews)."""
    registry = derive_registry(cfg, date)
    pieces: dict[str, list[dict]] = {name: [] for name in contracts(_optional(interventions))}
    for name, table in iter_day(cfg, date, mode, registry, encounters, interventions=interventions):
        pieces[name].append(table)
    tables = {name: {col: np.concatenate([p[col] for p in parts]) for col in parts[0]} if parts else {}
              for name, parts in pieces.items()}
    return registry, tables


def _optional(interventions: bool) -> tuple[str, ...]:
    return ("interventions",) if interventions else ()


def manifest(cfg: Config, date: dt.date, mode: str, encounters: int | None, fmt: str = "csv",
             interventions: bool = False) -> dict:
    """What a day was made from; a folder whose manifest has the same inputs is up to date.
    An interventions day says so (`"interventions": true`); a five-file day's manifest does not
    carry the key."""
    from importlib.metadata import version

    extra = {"interventions": True} if interventions else {}
    return {
        "batch_date": date.isoformat(),
        "mode": mode,
        "seed": cfg.seed,
        "encounters_override": encounters,
        "format": fmt,
        "generator_version": __version__,
        "config_digest": cfg.digest,
        "timezone": cfg.generator["hospital"]["timezone"],
        "libraries": {name: version(name) for name in PINNED},
        "contract_version": 1,
        **extra,
    }


def up_to_date(folder: Path, inputs: dict) -> bool:
    """The folder holds a published day made from exactly these inputs."""
    try:
        found = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and all(found.get(k) == v for k, v in inputs.items()) \
        and found.get("interventions", False) == inputs.get("interventions", False)


def check_out_root(out_root: Path) -> None:
    """The output root must be an existing, writable folder (a typo must not create a new tree)."""
    out_root = Path(out_root)
    if not out_root.exists():
        raise OutputError(str(out_root), "output root does not exist", hint="create it or pass --out-root")
    if not out_root.is_dir():
        raise OutputError(str(out_root), "output root is a file, not a folder", hint="pass --out-root DIR")
    if not os.access(out_root, os.W_OK | os.X_OK):
        raise OutputError(str(out_root), "output root is not writable", hint="check its permissions")


def recover_leftovers(target: Path) -> None:
    """Tidy what a killed run may have left beside the day folder (call with the day lock held).

    A run killed between moving the previous day aside and moving the new one in leaves the
    previous complete day as `.old-<date>-<pid>`: it is put back. Staging folders are removed.
    """
    for old in sorted(target.parent.glob(f".old-{target.name}-*")):
        if not target.exists() and (old / MANIFEST).exists():
            os.rename(old, target)
        else:
            discard(old)
    for staging in target.parent.glob(f".tmp-{target.name}-*"):
        discard(staging)


def generate_day(cfg: Config, date: dt.date, mode: str, out_root: Path, encounters: int | None = None,
                 registry_path: Path | None = None, save_registry: bool = True, fmt: str = "csv",
                 interventions: bool = False, workers: int = 1) -> DayResult:
    """Generate, validate and publish one day; raw mode then saves the registry.

    One run at a time per day folder and per registry (others are refused); a failure or a
    kill at any point leaves the previous day folder or none, and the previous registry or the
    new complete one.
    """
    registry_path = Path(registry_path or registry_store.DEFAULT_PATH)
    check_out_root(out_root)
    target = day_folder(out_root, mode, date)
    keep_registry = mode == "raw" and save_registry
    with ExitStack() as locks:  # the day lock makes out/<mode>/ if needed, and removes it again if left empty
        locks.enter_context(exclusive(day_lock(target), f"day folder {target}"))
        if keep_registry:
            locks.enter_context(exclusive(registry_lock(registry_path), f"registry {registry_path}"))
            on_file = registry_store.check_file(cfg, registry_path)
        recover_leftovers(target)
        clock = Stopwatch()
        with clock("registry"):
            registry = derive_registry(cfg, date)                                             # 1
        rows = _write_validate_publish(cfg, date, mode, registry, encounters, target, clock, fmt,
                                       interventions, workers)
        hold("registry")
        added = registry_store.save(cfg, registry, registry_path, on_file) if keep_registry else 0
    new_today = int(np.sum(registry.registered == np.datetime64(date, "D")))
    full = registered_count(cfg, date) >= cfg.generator["registry"]["max_total"]
    return DayResult(target, rows, added if mode == "raw" else new_today, clock.seconds, full, clock.cpu)


def _write_validate_publish(cfg: Config, date: dt.date, mode: str, registry: Registry, encounters: int | None,
                            target: Path, clock: Stopwatch, fmt: str, interventions: bool = False,
                            workers: int = 1) -> dict[str, int]:
    with staged(target) as staging:
        schemas = contracts(_optional(interventions))
        writers = {name: TableWriter(data_file(staging, schema, fmt), schema, cfg.tz, fmt)
                   for name, schema in schemas.items()}
        try:
            for name, table in iter_day(cfg, date, mode, registry, encounters, clock,
                                        interventions, workers):  # streamed chunk by chunk
                with clock(f"write {name}"):
                    writers[name].write(table)
                hold(f"write {name}")
        finally:
            rows = {name: w.close() for name, w in writers.items()}
        hold("validate")
        with clock("validate"):
            report = validate_day(staging, date)
        if not report.ok:
            raise ContractError(f"{target}", "generated data breaks its contract; nothing published:\n  "
                                + "\n  ".join(report.summary(10)))
        hold("publish")
        with clock("publish"):
            publish_day(staging, target, manifest(cfg, date, mode, encounters, fmt, interventions))
    return rows


def hold(step: str) -> None:
    """Test hook for fault tests: with DATAGEN_HOLD_AT=<step>, announce the step on stderr and
    wait there, so a test can kill the real process at a known point."""
    if os.environ.get("DATAGEN_HOLD_AT") == step:
        print(f"holding at {step}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("DATAGEN_HOLD_SECONDS", "30")))

