"""The committed demo day is exactly what the current code, config and pinned libraries produce."""

from __future__ import annotations

import datetime as dt

import pytest

from data_generator.pipeline import generate_day
from data_generator.validation import validate_day
from tests.conftest import ROOT

SAMPLE_ROOT = ROOT / "data" / "sample"


def _committed_days():
    """Day folders under data/sample/ (hidden lock folders aside)."""
    if not SAMPLE_ROOT.is_dir():
        return []
    return sorted(p for p in SAMPLE_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_one_small_sample_day_is_committed():
    """data/sample/ holds a demo day of a few dozen encounters, well under 5 MB."""
    days = _committed_days()
    assert len(days) == 1
    size = sum(f.stat().st_size for f in days[0].iterdir())
    assert size < 5_000_000
    assert validate_day(days[0]).ok


@pytest.mark.parametrize("day", _committed_days(), ids=lambda p: p.name)
def test_committed_sample_regenerates_byte_identical(tmp_path, cfg, day):
    """Regenerating the committed sample date gives the same bytes, manifest included."""
    out = generate_day(cfg, dt.date.fromisoformat(day.name), "sample", tmp_path).folder
    committed = sorted(f.name for f in day.iterdir())
    assert sorted(f.name for f in out.iterdir()) == committed
    for name in committed:
        assert (out / name).read_bytes() == (day / name).read_bytes(), name
