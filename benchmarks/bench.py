"""`make bench`: generation, writing and validation speed and peak memory at four day sizes.

Each size runs in a fresh process so its peak RSS is its own. Prints one table per size and a
summary; `--sizes` and `--json` for other uses. Figures are what this machine did, not limits.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATE = dt.date(2026, 1, 15)
TABLES = ("patients", "encounters", "vitals", "labs", "notes")


def run_one(encounters: int) -> dict:
    """Generate, write, validate and publish one day in this process; report the figures."""
    sys.path.insert(0, str(ROOT))
    from data_generator.config import load_config
    from data_generator.pipeline import generate_day

    cfg = scaled_registry(load_config(ROOT / "config" / "generator.yaml"), encounters)
    date = bench_date(cfg, encounters)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = generate_day(cfg, date, "sample", Path(out), encounters=encounters)
        total = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reg = cfg.generator["registry"]
    return {"encounters": encounters, "date": date.isoformat(), "total_seconds": total, "rows": result.rows,
            "seconds": result.seconds, "peak_rss_mb": peak_kb / 1024,
            "registry": {k: reg[k] for k in ("new_patients_per_day", "max_total")}}


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
    s, rows = fig["seconds"], fig["rows"]
    gen = {"patients": s.get("registry", 0) + s.get("patients", 0), "encounters": s.get("encounters", 0),
           "vitals": s.get("vitals", 0), "labs": s.get("labs", 0), "notes": s.get("notes", 0)}
    total_rows = sum(rows.values())
    reg = fig["registry"]
    lines = [f"day of {fig['encounters']:,} encounters ({fig['date']}; registry {reg['new_patients_per_day']:,} "
             f"patients a day, max_total {reg['max_total']:,}): {total_rows:,} rows "
             f"in {fig['total_seconds']:.2f} s "
             f"= {total_rows / fig['total_seconds']:,.0f} rows/s end to end; peak RSS {fig['peak_rss_mb']:,.0f} MB",
             f"  {'table':<11}{'rows':>10}{'generate s':>12}{'gen rows/s':>12}{'write s':>10}{'write rows/s':>14}"]
    for t in TABLES:
        w = s.get(f"write {t}", 0)
        lines.append(f"  {t:<11}{rows[t]:>10,}{gen[t]:>12.2f}{rows[t] / max(gen[t], 1e-9):>12,.0f}"
                     f"{w:>10.2f}{rows[t] / max(w, 1e-9):>14,.0f}")
    write = sum(s.get(f"write {t}", 0) for t in TABLES)
    validate, publish = s.get("validate", 0), s.get("publish", 0)
    generate = sum(gen.values())
    lines.append(f"  generation {generate:.2f} s, writing {write:.2f} s, validation {validate:.2f} s "
                 f"({sum(rows.values()) / max(validate, 1e-9):,.0f} rows/s), publishing {publish:.2f} s; "
                 f"validation + writing = {(write + validate) / fig['total_seconds']:.0%} of the total")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000, 20000, 100000])
    parser.add_argument("--json", action="store_true", help="print raw figures as JSON")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size here
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}, "
          f"one process per size")
    figures = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        fig = json.loads(out.stdout.strip().splitlines()[-1])
        figures.append(fig)
        print(json.dumps(fig) if args.json else report(fig), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
