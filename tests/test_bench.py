"""`make bench`'s measuring parts: start-up from a fresh process, memory of a process and its
children together, and the verdicts against the targets."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from tests.conftest import ROOT, run

spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_startup_is_measured_in_a_fresh_process():
    """`bench.py --startup` prints its imports, schema and config seconds, summing to the total."""
    done = run(sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--startup")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(found) == {"imports", "schemas", "config", "total"}
    assert 0 < found["imports"] < found["total"]
    assert abs(found["imports"] + found["schemas"] + found["config"] - found["total"]) < 1e-6


def test_memory_of_the_children_is_counted():
    """A child holding 150 MB is in the sampled peak, beside this process."""
    with bench.MemorySampler() as memory:
        child = subprocess.run([sys.executable, "-c", "import time; x = b'x' * (150 * 2**20); time.sleep(0.6)"],
                               check=True)
    assert child.returncode == 0
    assert memory.peak_pss > 150 * 1024 and memory.peak_rss >= memory.peak_pss  # kB


def test_each_figure_is_judged_against_its_target():
    """Rates must reach their targets, times, ratios and memory must stay under theirs."""
    day = {"rows": {"notes": 60_000, "vitals": 2_940_000}, "seconds": {"notes": 1.0, "write notes": 1.0,
                                                                       "validate": 1.0},
           "cpu": {"notes": 1.0}, "total_seconds": 10.0, "bare_write_seconds": 0.5,
           "peak_pss_total_mb": 900, "peak_rss_total_mb": 1200, "peak_rss_mb": 500, "largest_child_rss_mb": 400}
    text = bench.summary({"imports": 0.2, "schemas": 0.01, "config": 0.1, "total": 0.31},
                         {(bench.RATE_SIZE, 1): {**day, "total_seconds": 30.0},  # 100,000 rows/s
                          (bench.RATE_SIZE, 2): day, (bench.MEMORY_SIZE, 2): day})
    verdicts = {line.split()[0] + " " + line.split()[1]: line.rsplit(": ", 1)[1]
                for line in text.splitlines()[2:]}
    assert verdicts == {"start-up s": "met", "rows/s, 2": "met", "rows/s, 1": "NOT met", "notes/s, one": "met",
                        "write+validate /": "NOT met", "peak MB,": "met"}


def test_the_rate_figures_come_from_the_run_of_median_time():
    """Of three runs, the one whose wall time is in the middle gives the figures, whatever the order."""
    runs = [{"total_seconds": t, "id": t} for t in (5.2, 4.1, 4.6)]
    assert bench.median_run(runs)["id"] == 4.6
    assert bench.median_run(runs[::-1])["id"] == 4.6
