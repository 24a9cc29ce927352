"""`make bench`: start-up, generation, writing and validation speed, and peak memory.

Every figure comes from a fresh process of its own: start-up (imports, config load, schema
compilation; median of three with the checked config kept by an earlier run, and once without),
one-worker days of 200, 2,000, 10,000, 20,000 and 100,000 encounters, the 10,000-encounter day
with one and with two workers three times each, alternated (the run of median time at each worker
count gives the figures: a shared machine's speed swings within minutes), and the
20,000-encounter day with two workers for the memory of the parent and its workers together.
Prints one table per day, then the performance targets and what was measured. `--sizes`,
`--json` for other uses. Figures are what this machine did, not limits.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATE = dt.date(2026, 1, 15)
TABLES = ("patients", "encounters", "vitals", "labs", "notes")
SIZES = (200, 2000, 10000, 20000, 100000)
RATE_SIZE, MEMORY_SIZE = 10000, 20000  # the day rows/s and the bare-write ratio are read on; the memory day
REPEATS = 3  # runs of the rate day at each worker count (alternated); the median run gives the figures
CACHE_ENV = "DATAGEN_CACHE_DIR"  # data_generator.config_cache.ENV
ENV = dict(os.environ)  # of the fresh processes
TARGETS = {"start-up s": 0.4, "rows/s, 2 workers": 250_000, "rows/s, 1 worker": 120_000, "notes/s, one core": 50_000,
           "write+validate / bare write": 2.0, "peak MB, 2 workers": 1024}


def startup() -> dict:
    """Seconds to import the package, compile the config and contract schemas, and load the config."""
    t0 = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import data_generator.cli  # noqa: F401
    import data_generator.pipeline  # noqa: F401
    import data_generator.validation  # noqa: F401
    from data_generator import config, contracts
    t1 = time.perf_counter()
    for schema in sorted(p.name for p in config.SCHEMA_DIR.glob("*.schema.json") if p.name != "common.schema.json"):
        config._validator(schema)
    contracts.contracts(contracts.OPTIONAL)
    t2 = time.perf_counter()
    config.load_config(ROOT / "config" / "generator.yaml")
    t3 = time.perf_counter()
    return {"imports": t1 - t0, "schemas": t2 - t1, "config": t3 - t2, "total": t3 - t0}


class MemorySampler:
    """Peak memory of this process and its children together, sampled from /proc every 50 ms:
    the sum of PSS (each shared page counted once across the processes) and of RSS (shared
    pages counted in every process that maps them). Inactive: nothing sampled (zeros)."""

    def __init__(self, active: bool = True):
        self.peak_pss = self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True) if active else None

    def __enter__(self):
        if self._thread:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread:
            self._stop.set()
            self._thread.join()

    def _run(self):
        while not self._stop.wait(0.05):
            pss = rss = 0
            for pid in [os.getpid(), *_children(os.getpid())]:
                found = _rollup(pid)
                pss, rss = pss + found.get("Pss", 0), rss + found.get("Rss", 0)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # a thread that ended
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _rollup(pid: int) -> dict[str, int]:
    """kB figures of /proc/PID/smaps_rollup (empty if the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return {}
    return {k.rstrip(":"): int(v) for k, v, *_ in (line.split() for line in lines)}


def run_one(encounters: int, workers: int, bare: bool) -> dict:
    """Generate, write, validate and publish one day in this process; report the figures."""
    sys.path.insert(0, str(ROOT))
    from data_generator.config import load_config
    from data_generator.pipeline import generate_day
    from data_generator.writer import arrow_without_pandas

    cfg = scaled_registry(load_config(ROOT / "config" / "generator.yaml"), encounters)
    date = bench_date(cfg, encounters)
    with tempfile.TemporaryDirectory() as out:
        # reading /proc costs CPU (the command does not): only on the day whose memory is the figure
        with MemorySampler(active=workers > 1 and encounters == MEMORY_SIZE) as memory:
            start = time.perf_counter()
            arrow_without_pandas()  # as the generate command does
            result = generate_day(cfg, date, "sample", Path(out), encounters=encounters, workers=workers)
            total = time.perf_counter() - start
        peak = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # before the bare write
                "largest_child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "peak_pss_total_mb": memory.peak_pss / 1024, "peak_rss_total_mb": memory.peak_rss / 1024}
        bare_s = bare_write(result.folder, Path(out)) if bare else None
    reg = cfg.generator["registry"]
    return {"encounters": encounters, "workers": workers, "date": date.isoformat(), "total_seconds": total,
            "rows": result.rows, "seconds": result.seconds, "cpu": result.cpu, "bare_write_seconds": bare_s, **peak,
            "registry": {k: reg[k] for k in ("new_patients_per_day", "max_total")}}


def bare_write(folder: Path, scratch: Path) -> float:
    """Seconds pyarrow takes to write the day's tables (read back from its files) as CSV, with
    no formatting or checks: what writing plus validation is compared with."""
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson

    tables = [pajson.read_json(f) if f.suffix == ".jsonl" else pacsv.read_csv(f)
              for f in sorted(folder.iterdir()) if f.suffix in (".csv", ".jsonl")]
    start = time.perf_counter()
    for i, table in enumerate(tables):
        pacsv.write_csv(table, scratch / f"bare{i}.csv")
    return time.perf_counter() - start


def scaled_registry(cfg, encounters: int):
    """The shipped config, or (for a day larger than the shipped registry can hold: a patient is
    in one bed at a time) one whose registry holds 2 patients per encounter within a year, so that
    enough of them are alive and at home on the day."""
    reg = cfg.generator["registry"]
    need = encounters * 2
    if need <= reg["max_total"]:
        return cfg
    grown = {**reg, "max_total": need, "new_patients_per_day": max(reg["new_patients_per_day"], -(-need // 365))}
    return dataclasses.replace(cfg, generator={**cfg.generator, "registry": grown})


def bench_date(cfg, encounters: int) -> dt.date:
    """DATE, or the first later date whose registry holds the day: a patient is in one bed at a
    time, so a day needs more registered patients (alive, at home) than encounters."""
    reg = cfg.generator["registry"]
    need = min(reg["max_total"], int(encounters * 1.5))
    return max(DATE, cfg.start_date + dt.timedelta(days=-(-need // reg["new_patients_per_day"])))


def report(fig: dict) -> str:
    s, cpu, rows = fig["seconds"], fig["cpu"], fig["rows"]
    gen = {"patients": s.get("registry", 0) + s.get("patients", 0), "encounters": s.get("encounters", 0),
           "vitals": s.get("vitals", 0), "labs": s.get("labs", 0), "notes": s.get("notes", 0)}
    total_rows = sum(rows.values())
    reg = fig["registry"]
    lines = [f"day of {fig['encounters']:,} encounters, {fig['workers']} worker(s) ({fig['date']}; registry "
             f"{reg['new_patients_per_day']:,} patients a day, max_total {reg['max_total']:,}): {total_rows:,} rows "
             f"in {fig['total_seconds']:.2f} s = {total_rows / fig['total_seconds']:,.0f} rows/s end to end; "
             f"peak RSS {fig['peak_rss_mb']:,.0f} MB"
             + ("; step seconds below are summed over the workers, which run at once" if fig["workers"] > 1 else ""),
             f"  {'table':<11}{'rows':>10}{'generate s':>12}{'gen rows/s':>12}{'write s':>10}{'write rows/s':>14}"]
    for t in TABLES:
        w = s.get(f"write {t}", 0)
        lines.append(f"  {t:<11}{rows[t]:>10,}{gen[t]:>12.2f}{rows[t] / max(gen[t], 1e-9):>12,.0f}"
                     f"{w:>10.2f}{rows[t] / max(w, 1e-9):>14,.0f}")
    write = writing(s)
    validate, publish = s.get("validate", 0), s.get("publish", 0)
    lines.append(f"  generation {sum(gen.values()):.2f} s, writing {write:.2f} s, validation {validate:.2f} s "
                 f"({total_rows / max(validate, 1e-9):,.0f} rows/s), publishing {publish:.2f} s; "
                 f"validation + writing = {(write + validate) / fig['total_seconds']:.0%} of the total; "
                 f"pyarrow's first array {s.get('arrow start-up', 0):.2f} s")
    lines.append(f"  notes: {rows['notes']:,} in {s.get('notes', 0):.2f} s wall ({notes_rate(fig, s):,.0f}/s), "
                 f"{cpu.get('notes', 0):.2f} s CPU ({notes_rate(fig, cpu):,.0f}/s)")
    if fig["bare_write_seconds"]:
        lines.append(f"  writing + validation {write + validate:.2f} s = {ratio(fig):.1f}x a bare pyarrow CSV write "
                     f"of the same tables ({fig['bare_write_seconds']:.2f} s)")
    return "\n".join(lines)


def notes_rate(fig: dict, seconds: dict) -> float:
    return fig["rows"]["notes"] / max(seconds.get("notes", 0), 1e-9)


def ratio(fig: dict) -> float:
    s = fig["seconds"]
    return (writing(s) + s.get("validate", 0)) / fig["bare_write_seconds"]


def writing(s: dict) -> float:
    """Seconds spent writing: formatting each table, and appending a day's parts to its files
    (hashing them on the way); not pyarrow's once-per-process start-up on its first array (timed
    on its own), which the bare write, made later in the same process, does not pay either."""
    return sum(s.get(f"write {t}", 0) for t in TABLES) + s.get("assemble", 0)


def rows_per_second(fig: dict) -> float:
    return sum(fig["rows"].values()) / fig["total_seconds"]


def summary(start: dict, days: dict[tuple[int, int], dict]) -> str:
    """The performance figures, each against its target."""
    one, two, mem = days.get((RATE_SIZE, 1)), days.get((RATE_SIZE, 2)), days.get((MEMORY_SIZE, 2))
    found = {"start-up s": (start["total"], f"{start['total']:.2f} s (imports {start['imports']:.2f}, schemas "
                                             f"{start['schemas']:.3f}, config {start['config']:.2f}; median of 3, "
                                             f"config kept from an earlier run)")}
    if two:
        found["rows/s, 2 workers"] = (rows_per_second(two), f"{rows_per_second(two):,.0f} ({RATE_SIZE:,}-encounter "
                                                            f"day, whole generate_day; median of {REPEATS})")
    if one:
        found["rows/s, 1 worker"] = (rows_per_second(one), f"{rows_per_second(one):,.0f} (median of {REPEATS})")
        found["notes/s, one core"] = (notes_rate(one, one["cpu"]), f"{notes_rate(one, one['cpu']):,.0f} (CPU time; "
                                                                     f"{notes_rate(one, one['seconds']):,.0f} wall)")
        if one["bare_write_seconds"]:
            found["write+validate / bare write"] = (ratio(one), f"{ratio(one):.1f}x")
    if mem:
        found["peak MB, 2 workers"] = (mem["peak_pss_total_mb"], f"{mem['peak_pss_total_mb']:,.0f} MB PSS summed "
                                       f"over parent and workers ({mem['peak_rss_total_mb']:,.0f} MB RSS summed; "
                                       f"parent {mem['peak_rss_mb']:,.0f} + largest worker "
                                       f"{mem['largest_child_rss_mb']:,.0f} MB peak RSS), {MEMORY_SIZE:,} encounters")
    lines = ["", "figures against the targets:"]
    for name, (value, text) in found.items():
        target = TARGETS[name]
        met = value <= target if name in ("start-up s", "write+validate / bare write", "peak MB, 2 workers") \
            else value >= target
        bound = "<=" if name in ("start-up s", "write+validate / bare write", "peak MB, 2 workers") else ">="
        lines.append(f"  {name:<29}{text}   target {bound} {target:,}: {'met' if met else 'NOT met'}")
    return "\n".join(lines)


def fresh(*args: str) -> dict:
    """Run this script with `args` in a fresh process; its last line of output, parsed."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True,
                         env=ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="one-worker day sizes")
    parser.add_argument("--json", action="store_true", help="print raw figures as JSON")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one day here
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--startup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.startup:
        print(json.dumps(startup()))
        return 0
    if args.one:
        print(json.dumps(run_one(args.one, args.workers, args.bare)))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f} at start (other work on the machine slows wall times)")
    with tempfile.TemporaryDirectory() as cache:  # checked configs kept here, not in the user's cache
        ENV[CACHE_ENV] = cache
        return _bench(args)


def _bench(args) -> int:
    cold = fresh("--startup")  # no checked config kept yet: it is read, checked and kept
    runs = [fresh("--startup") for _ in range(3)]
    start = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(json.dumps({"cold": cold, "warm": start}) if args.json else
          f"start-up (median of 3 fresh processes, config kept from an earlier run): imports {start['imports']:.2f} s"
          f" + schema compilation {start['schemas']:.3f} s + config load {start['config']:.2f} s = "
          f"{start['total']:.2f} s; with no kept config (the first run after a config or code change) "
          f"{cold['imports']:.2f} + {cold['schemas']:.3f} + {cold['config']:.2f} = {cold['total']:.2f} s")
    days = {}

    def day(n: int, workers: int) -> dict:
        extra = ["--bare"] if n <= MEMORY_SIZE and workers == 1 else []
        return fresh("--one", str(n), "--workers", str(workers), *extra)

    for n in args.sizes:
        if n != RATE_SIZE:
            days[n, 1] = day(n, 1)
            print(json.dumps(days[n, 1]) if args.json else report(days[n, 1]), flush=True)
            continue
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(REPEATS):  # alternated, so that both worker counts meet the machine's swings alike
            for workers in runs:
                runs[workers].append(day(n, workers))
        for workers, found in runs.items():
            days[n, workers] = median_run(found)
            rates = " / ".join(f"{rows_per_second(f):,.0f}" for f in found)
            print(json.dumps(found) if args.json else
                  f"{report(days[n, workers])}\n  {REPEATS} runs, alternated with the other worker count: {rates} "
                  "rows/s; the median run is shown", flush=True)
    if MEMORY_SIZE in args.sizes:
        days[MEMORY_SIZE, 2] = day(MEMORY_SIZE, 2)
        print(json.dumps(days[MEMORY_SIZE, 2]) if args.json else report(days[MEMORY_SIZE, 2]), flush=True)
    print(summary(start, days))
    return 0


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (of an odd number of runs)."""
    return sorted(runs, key=lambda fig: fig["total_seconds"])[len(runs) // 2]


if __name__ == "__main__":
    raise SystemExit(main())
