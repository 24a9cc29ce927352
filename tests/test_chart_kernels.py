"""The chart's array kernels against plain restatements of what they compute: row IDs, AR(1)
noise, soft bounds, physiology levels, and the treated chart that keeps the untreated chart's
rows of encounters no treatment or transfer touched."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from data_generator.generators.encounters import day_encounters
from data_generator.generators.interventions import plan
from data_generator.generators.physiology import FAR, Physiology, build_physiology, soft_bound
from data_generator.generators.registry import derive_registry
from data_generator.generators.timeline import ID_FORMATS, ar1_noise, lex_order, row_ids, table_ids
from data_generator.generators.vitals import generate_vitals
from data_generator.rng import stream
from tests.conftest import DAY


@pytest.mark.parametrize(("first", "n", "width"), [(1, 12, 1), (95, 10, 2), (9_999_990, 15, 7), (0, 3, 5),
                                                   (123_456, 1, 4)])
def test_row_ids_are_zero_filled_numbers_after_the_day(first, n, width):
    """Each ID is PREFIX-YYYYMMDD- and its number zero-filled to `width`, longer numbers whole."""
    ids = row_ids("VIT", dt.date(2026, 3, 4), first, n, width)
    expected = [f"VIT-20260304-{i:0{width}d}" for i in range(first, first + n)]
    assert ids.tolist() == expected
    assert ids.dtype == np.dtype(f"<U{max(len(e) for e in expected)}")


def test_a_chunk_is_charted_unnumbered_and_numbered_once_from_the_numbers_it_is_handed(cfg):
    """A day's chunk is charted with no row IDs (None), so none are made twice; numbering gives
    each table its day-wide IDs from the first numbers handed to it."""
    from data_generator import pipeline

    registry = derive_registry(cfg, DAY)
    job = pipeline._Numbered(pipeline._ChunkJob(cfg, DAY, registry, day_encounters(cfg, DAY, "sample", registry, 30),
                                                True))
    pieces, _ = job.chart(0)
    assert [name for name, _ in pieces] == ["vitals", "labs", "notes", "interventions"]
    for name, table in pieces:
        assert all(v is None for v in table[ID_FORMATS[name][0]].tolist()), name
    first = {"vitals": 101, "labs": 7, "notes": 99_999, "interventions": 1}
    for name, table in job.write(0, pieces, first, pipeline.Stopwatch()):
        column, prefix, width = ID_FORMATS[name]
        assert table[column].tolist() == row_ids(prefix, DAY, first[name], len(table[column]), width).tolist(), name


def test_table_ids_of_no_rows_keep_the_format_width():
    """An empty table's ID column has the width its format gives."""
    assert table_ids("labs", dt.date(2026, 3, 4), 1, 0).dtype == np.dtype("<U20")


@pytest.mark.parametrize("hourly", [False, True])
def test_ar1_noise_follows_its_recurrence_within_each_series(hourly):
    """e_0 = z_0 for each owner, then e_i = phi_i e_(i-1) + sqrt(1 - phi_i^2) z_i (same draws),
    at random times or on an hourly grid (most gaps exactly one hour, some not)."""
    rng = np.random.default_rng(7)
    counts = rng.integers(1, 30, 40)
    owner = np.repeat(np.arange(counts.size), counts)
    if hourly:
        hours = np.concatenate([rng.uniform(0, 1) + np.arange(c) for c in counts])
        hours[rng.random(hours.size) < 0.1] += 0.25
        assert (np.diff(hours)[np.diff(owner) == 0] == 1.0).mean() > 0.5
    else:
        hours = np.concatenate([np.sort(rng.uniform(0, 50, c)) for c in counts])
    tau, sd = np.array([2.0, 8.0, 0.5]), np.array([1.0, 3.0, 0.2])
    got = ar1_noise(owner, hours, tau, sd, np.random.default_rng(11))
    z = np.random.default_rng(11).standard_normal((owner.size, tau.size)) * sd
    want = z.copy()
    for i in range(1, owner.size):
        if owner[i] == owner[i - 1]:
            phi = np.exp(-(hours[i] - hours[i - 1]) / tau)
            want[i] = phi * want[i - 1] + np.sqrt(1 - phi ** 2) * z[i]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_soft_bound_is_the_identity_inside_and_exponential_near_the_bounds():
    """Unchanged more than `margin` inside, a + m (exp((x - a) / m) - 1) below, its mirror above."""
    x = np.random.default_rng(3).normal(50, 40, 2000)
    lo, hi, m = 10.0, 90.0, 5.0
    a, b = lo + m, hi - m
    want = np.where(x < a, a + m * (np.exp((x - a) / m) - 1), np.where(x > b, b - m * (np.exp((b - x) / m) - 1), x))
    got = soft_bound(x, lo, hi, m)
    assert np.array_equal(got, want)
    assert ((got > lo) & (got < hi)).all()


def test_physiology_levels_interpolate_between_each_encounters_knots():
    """`at` is linear between the knots around the hour, flat before the first and after the last."""
    rng = np.random.default_rng(5)
    n, k = 30, 6
    hours = np.maximum.accumulate(np.sort(rng.uniform(0, 100, (n, k)), axis=1), axis=1)
    hours[:, 4:] = FAR  # padding, as for an encounter with fewer phases
    values = rng.uniform(0, 2, (n, k))
    values[:, 4:] = values[:, 3:4]
    phys = Physiology(("s",), {"s": hours}, {"s": values}, np.full(n, 100.0), {})
    enc = rng.integers(0, n, 500)
    at = rng.uniform(-5, 120, 500)
    want = np.array([np.interp(h, hours[e, :4], values[e, :4]) for e, h in zip(enc, at, strict=True)])
    np.testing.assert_allclose(phys.at("s", enc, at), want, rtol=1e-12, atol=1e-12)
    assert np.array_equal(phys.at("absent", enc, at), np.zeros(500))


def test_physiology_levels_when_every_knot_column_holds_a_knot():
    """Without padding the hours past the last knot keep its value, those before the first the first's."""
    rng = np.random.default_rng(6)
    n, k = 20, 4
    hours = np.sort(rng.uniform(0, 50, (n, k)), axis=1)
    values = rng.uniform(0, 2, (n, k))
    phys = Physiology(("s",), {"s": hours}, {"s": values}, np.full(n, 60.0), {})
    enc = rng.integers(0, n, 300)
    at = rng.uniform(-5, 70, 300)
    want = np.array([np.interp(h, hours[e], values[e]) for e, h in zip(enc, at, strict=True)])
    np.testing.assert_allclose(phys.at("s", enc, at), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_lex_order_is_the_stable_lexsort_order(ties):
    """Distinct combined keys or ties (broken by position, as a stable sort does): np.lexsort's order."""
    rng = np.random.default_rng(9)
    size = 5000
    keys = [rng.integers(0, 4 if ties else 10 ** 6, size) for _ in range(3)]
    assert np.array_equal(lex_order(*keys), np.lexsort(keys))


def test_scenario_codes_are_np_unique_of_each_set_of_encounters(cfg):
    """Names and codes as np.unique gives them, read-only, for a day and for a chunk taken from
    it (its own, not the day's)."""
    day = day_encounters(cfg, DAY, "sample", derive_registry(cfg, DAY), 60)
    chunk = day.take(np.arange(5, 12))
    for enc in (day, chunk, day):
        names, code = enc.scenario_codes
        want_names, want_code = np.unique(enc.scenario, return_inverse=True)
        assert np.array_equal(names, want_names) and np.array_equal(code, want_code)
        assert not names.flags.writeable and not code.flags.writeable
    assert len(chunk.scenario_codes[1]) == 7 and len(day.scenario_codes[1]) == 60


def test_treated_chart_keeps_only_untouched_encounters_from_the_untreated_one(cfg):
    """The treated chart charted from the untreated one's grid equals one charted afresh, and
    some encounters of the day were treated or moved, so both paths ran."""
    registry = derive_registry(cfg, DAY)
    enc = day_encounters(cfg, DAY, "sample", registry, 300)
    phys = build_physiology(cfg, enc, stream(cfg.seed, "kernels", "physiology"))
    untreated = generate_vitals(cfg, DAY, enc, phys, stream(cfg.seed, "kernels", "vitals"))
    course = plan(cfg, enc, phys, untreated.enc, untreated.hours, untreated.table,
                  stream(cfg.seed, "kernels", "interventions"))
    assert len(course.events.of("norepinephrine")) and len(course.transfers)
    reused = generate_vitals(cfg, DAY, enc, course.physiology, stream(cfg.seed, "kernels", "vitals"), 1,
                             course.transfers, untreated.grid)
    fresh = generate_vitals(cfg, DAY, enc, course.physiology, stream(cfg.seed, "kernels", "vitals"), 1,
                            course.transfers, dataclasses.replace(untreated.grid, charts=[]))
    assert reused.table.keys() == fresh.table.keys()
    for name, column in fresh.table.items():
        assert np.asarray(reused.table[name]).tolist() == np.asarray(column).tolist() or \
            np.array_equal(reused.table[name], column, equal_nan=True), name
    assert np.array_equal(reused.hours, fresh.hours)
    assert not np.array_equal(untreated.table["map"], fresh.table["map"], equal_nan=True)
