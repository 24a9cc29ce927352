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
import os
import sys
import time
from collections.abc import Callable, Iterator
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
from data_generator.parts import Assembly, line_breaks, parts_in_order, table_rows
from data_generator.publish import MANIFEST, discard, publish_day, staged
from data_generator.rng import stream
from data_generator.validation import validate_day
from data_generator.validation.day import DayCheck
from data_generator.validation.readers import Written
from data_generator.writer import TableWriter, arrow_ready, data_file, table_bytes, write_table

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
    with clock("encounters"), gc_paused():
        enc = day_encounters(cfg, date, mode, registry, encounters)                         # 2
    with clock("patients"), gc_paused():
        patients = generate_patients(registry, enc)                                         # 3
    job = _Numbered(_ChunkJob(cfg, date, registry, enc, interventions))
    first = dict.fromkeys(("vitals", "labs", "notes", *_optional(interventions)), 1)
    with clock("arrow start-up"), gc_paused():
        arrow_ready()  # before any worker is forked: once, not per worker
    with parts_in_order(job, len(range(0, len(enc), CHUNK_ENCOUNTERS)), workers, first) as chunks:
        yield "patients", patients
        yield "encounters", enc.table
        for pieces, seconds in chunks:
            clock.add(seconds)
            yield from pieces


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
        unnumbered = {"vitals": None, "labs": None}  # numbered by `_Numbered.write`, in chunk order
        phys, vitals, labs, events = chart(cfg, date, part, lambda step: stream(seed, day, step, k),
                                           unnumbered, clock)                               # 4, 5
        with clock("notes"):
            notes = generate_notes(cfg, date, self.registry, part, vitals, labs, stream(seed, day, "notes", k),
                                   None, events)                                            # 6
        pieces = [("vitals", vitals.table), ("labs", labs.table), ("notes", notes)]
        if self.interventions:
            pieces.append(("interventions", interventions_table(date, part, events, None)))
        return pieces, clock


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the block: a chunk makes hundreds of thousands of small
    objects (note contexts, chart dicts) and no cycles of its own, and the collector's passes
    over them took a quarter of the note step; the registry and the day's encounters (run
    before any worker starts) are made the same way. Collection resumes after the block."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass(frozen=True)
class _Numbered:
    """A chunk's tables, charted (`chart`) and then given their day-wide row IDs (`write`)."""

    chunks: _ChunkJob

    def chart(self, k: int) -> tuple[list[tuple[str, dict]], Stopwatch]:
        return self.chunks(k)

    def here(self) -> _Numbered:
        return self

    def started(self, found: object) -> None:
        """Nothing is handed to the workers (no `start`)."""

    def write(self, k: int, pieces: list[tuple[str, dict]], first: dict[str, int], clock: Stopwatch
              ) -> list[tuple[str, dict]]:
        for name, table in pieces:
            table[ID_FORMATS[name][0]] = table_ids(name, self.chunks.date, first[name], table_rows(table))
        return pieces


def chart(cfg: Config, date: dt.date, enc: Encounters, rng: Callable[[str], np.random.Generator],
          first: dict[str, int | None] | None = None, clock: Stopwatch | None = None
          ) -> tuple[Physiology, Vitals, Labs, Interventions]:
    """Steps 4 and 5 for a set of encounters: their physiology; the untreated chart and the
    treatments and transfers it calls for; the vitals charted from the treated physiology; the
    labs drawn (by schedule and by trigger) and the blood their haemoglobin calls for; and the
    oxygen devices charted. `rng(step)` gives each step its stream; the treated chart reuses the
    untreated one's grid and draws, so sets before a treatment are charted alike in both.
    `first`: the first row number of vitals and labs (1 without it; None: numbered later)."""
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
        with clock("registry"), gc_paused():
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
    """Steps 2 to 8 into a staging folder that is published whole or not at all.

    CSV days are written in parts (see parts.py): patients and encounters whole and checked
    while the first chunks are charted; then each chunk's parts, written and checked where the
    chunk was charted (part files in a worker, bytes in memory here), appended in chunk order;
    then the rules that need whole files.
    Parquet days are written whole and then checked file by file."""
    if fmt != "csv":
        return _write_then_validate(cfg, date, mode, registry, encounters, target, clock, fmt, interventions,
                                    workers)
    with staged(target) as staging:
        schemas = contracts(_optional(interventions))
        with clock("encounters"), gc_paused():
            enc = day_encounters(cfg, date, mode, registry, encounters)                     # 2
        with clock("patients"), gc_paused():
            patients = generate_patients(registry, enc)                                     # 3
        rows = {}
        check = DayCheck(staging, schemas, date)
        parted = [name for name in schemas if name not in check.whole]
        job = _PartJob(_ChunkJob(cfg, date, registry, enc, interventions), staging / ".parts", schemas, check)
        first = dict.fromkeys(parted, 1)
        job.folder.mkdir()

        def whole_files() -> dict:  # while the chunks are charted; what checking them found goes to the workers
            for name, table in (("patients", patients), ("encounters", enc.table)):
                with clock(f"write {name}"):
                    rows[name] = write_table(data_file(staging, schemas[name]), table, schemas[name], cfg.tz)
                hold(f"write {name}")
            with clock("validate"):
                check.whole_files()
            return check.kept

        with clock("arrow start-up"), gc_paused():
            arrow_ready()  # before any worker is forked: once, not per worker
        assembly = Assembly(staging)
        try:
            chunks = len(range(0, len(enc), CHUNK_ENCOUNTERS))
            with parts_in_order(job, chunks, workers, first, whole_files) as charted:  # 4-7
                if not chunks:  # an empty day: each file its header
                    charted = iter([(job.write(0, [], first, clock), Stopwatch())])
                for parts, seconds in charted:
                    clock.add(seconds)
                    for name, (path, lines, n, found) in parts.items():
                        with clock("assemble"):
                            check.add_part(found, assembly.append(path, lines))
                        rows[name] = rows.get(name, 0) + n
                        hold(f"write {name}")
            described = assembly.close()
        finally:
            assembly.discard()
        discard(job.folder)
        hold("validate")
        with clock("validate"):
            report = check.finish()                                                         # 7
        _refuse_if_broken(report, target)
        for name in parted:
            file = data_file(staging, schemas[name]).name
            if report.rows.get(file) != rows[name]:
                raise ContractError(f"{target / file}", f"{rows[name]} rows were written but "
                                    f"{report.rows.get(file)} read back; nothing published")
            described[file]["rows"] = rows[name]
        hold("publish")
        with clock("publish"):
            publish_day(staging, target, manifest(cfg, date, mode, encounters, fmt, interventions), described)  # 8
    return rows


@dataclass(frozen=True)
class _PartJob(_Numbered):
    """A chunk's parts: charted, then, given each table's first row number, numbered, written
    and checked (`write`): their bytes made and checked in memory, then, in a worker, written as
    files in `folder`/<chunk>/ under the day files' names; run here (`here()`), kept in memory
    until they are appended."""

    folder: Path
    schemas: dict[str, dict]
    check: DayCheck
    in_memory: bool = False

    def here(self) -> _PartJob:
        return dataclasses.replace(self, in_memory=True)

    def started(self, kept: dict) -> None:
        self.check.whole_checked(kept)

    def write(self, k: int, pieces: list[tuple[str, dict]], first: dict[str, int], clock: Stopwatch
              ) -> dict[str, tuple[Path | Written, int, int, object]]:
        """{table: (part, its line breaks, rows, what checking it found)}; every table of the
        day has a part (an empty table, its header)."""
        folder = self.folder / f"{k:06d}"
        if not self.in_memory:
            folder.mkdir()  # not parents: a staging folder removed under a stopped run stays removed
        tables = dict(pieces)
        empty = [(name, {col: np.zeros(0, object) for col in self.schemas[name]["properties"]})
                 for name in first if name not in tables]
        out = {}
        self.check.whole_files()  # checked once, here or in the parent (`started`)
        with gc_paused():
            for name, table in super().write(k, [*pieces, *empty], first, clock):
                schema, tz = self.schemas[name], self.chunks.cfg.tz
                path = data_file(folder, schema)
                with clock(f"write {name}"):
                    part = Written(path.name, table_bytes(table, schema, tz))
                with clock("validate"):
                    found = self.check.check_part(part, name)
                with clock(f"write {name}"):
                    lines = line_breaks(part.data)
                    if not self.in_memory:
                        path.write_bytes(part.data)
                        part = path
                out[name] = (part, lines, table_rows(table), found)
        return out


def _write_then_validate(cfg: Config, date: dt.date, mode: str, registry: Registry, encounters: int | None,
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
        _refuse_if_broken(report, target)
        hold("publish")
        with clock("publish"):
            publish_day(staging, target, manifest(cfg, date, mode, encounters, fmt, interventions))
    return rows


def _refuse_if_broken(report, target: Path) -> None:
    if not report.ok:
        raise ContractError(f"{target}", "generated data breaks its contract; nothing published:\n  "
                            + "\n  ".join(report.summary(10)))


def hold(step: str) -> None:
    """Test hook for fault tests: with DATAGEN_HOLD_AT=<step>, announce the step on stderr and
    wait there, so a test can kill the real process at a known point."""
    if os.environ.get("DATAGEN_HOLD_AT") == step:
        print(f"holding at {step}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("DATAGEN_HOLD_SECONDS", "30")))

