"""Backfill: parallel equals sequential byte for byte, resumes where it stopped, runs on Dask."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from data_generator.backfill import backfill
from data_generator.pipeline import generate_day
from tests.conftest import CONFIG

START = dt.date(2025, 3, 1)


def _files(root: Path) -> dict[str, bytes]:
    """Every published file under root (lock files aside)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".locks" not in p.parts}


def test_parallel_backfill_equals_sequential_days(tmp_path, cfg):
    """30 days with 2 workers: every file and the final registry match running the days in order."""
    end = START + dt.timedelta(days=29)
    for folder in ("seq/data", "par/data"):
        (tmp_path / folder).mkdir(parents=True)
    seq_reg = tmp_path / "seq" / "patients_master.csv"
    day = START
    while day <= end:
        generate_day(cfg, day, "raw", tmp_path / "seq" / "data", encounters=6, registry_path=seq_reg)
        day += dt.timedelta(days=1)
    par_reg = tmp_path / "par" / "patients_master.csv"
    result = backfill(CONFIG, START, end, "raw", tmp_path / "par" / "data", workers=2, encounters=6,
                      registry_path=par_reg)
    assert len(result.done) == 30 and not result.skipped
    seq, par = _files(tmp_path / "seq" / "data"), _files(tmp_path / "par" / "data")
    assert len(seq) == 30 * 6
    assert seq == par
    assert seq_reg.read_bytes() == par_reg.read_bytes()


def test_backfill_resumes_only_missing_days(tmp_path):
    """A second run skips published days; a removed day is regenerated identically."""
    out, end = tmp_path, START + dt.timedelta(days=3)
    first = backfill(CONFIG, START, end, "sample", out, workers=1, encounters=5)
    before = _files(out)
    victim = out / "sample" / (START + dt.timedelta(days=2)).isoformat()
    for f in victim.iterdir():
        f.unlink()
    victim.rmdir()
    again = backfill(CONFIG, START, end, "sample", out, workers=2, encounters=5)
    assert len(first.done) == 4
    assert again.done == [START + dt.timedelta(days=2)] and len(again.skipped) == 3
    assert _files(out) == before


def test_changed_inputs_are_not_skipped(tmp_path):
    """A day made with another encounter count is regenerated, not mistaken for up to date."""
    out = tmp_path
    backfill(CONFIG, START, START, "sample", out, encounters=5)
    again = backfill(CONFIG, START, START, "sample", out, encounters=7)
    assert again.done == [START]


def test_dask_local_cluster_matches_process_pool(tmp_path):
    """The Dask executor on a local cluster writes the same bytes as the process pool."""
    distributed = pytest.importorskip("dask.distributed")
    end = START + dt.timedelta(days=2)
    (tmp_path / "pool").mkdir()
    (tmp_path / "dask").mkdir()
    backfill(CONFIG, START, end, "sample", tmp_path / "pool", workers=2, encounters=5)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = backfill(CONFIG, START, end, "sample", tmp_path / "dask", executor="dask",
                          scheduler=cluster.scheduler_address, encounters=5)
    assert len(result.done) == 3
    assert _files(tmp_path / "pool") == _files(tmp_path / "dask")
