"""NEWS2 scoring from the catalogue bands, including SpO2 scale 2 (RCP chart, clinical reference N1)."""

from __future__ import annotations

import numpy as np

from data_generator import news2


def _row(**vitals):
    base = {"resp_rate": 16.0, "spo2": 97.0, "sbp": 120.0, "heart_rate": 80.0, "temp_c": 37.0,
            "o2_device": "room_air", "consciousness": "A"}
    base.update(vitals)
    return {k: np.array([v], dtype=object if isinstance(v, str) or v is None else float) for k, v in base.items()}


def test_normal_set_scores_zero(cfg):
    """A normal adult set on room air scores 0."""
    assert news2.score(_row(), cfg.vitals["news2"])[0] == 0


def test_each_band_adds_its_points(cfg):
    """RR 25 (3) + SpO2 93 (2) + SBP 95 (2) + HR 115 (2) + T 39.5 (2) + oxygen (2) + new confusion (3) = 16."""
    row = _row(resp_rate=25.0, spo2=93.0, sbp=95.0, heart_rate=115.0, temp_c=39.5, o2_device="nasal_cannula",
               consciousness="C")
    assert news2.score(row, cfg.vitals["news2"])[0] == 16


def test_unmeasured_items_score_nothing(cfg):
    """An item not charted (NaN / None) adds no points."""
    row = _row(resp_rate=np.nan, temp_c=np.nan, consciousness=None)
    assert news2.score(row, cfg.vitals["news2"])[0] == 0


def test_scale2_for_hypercapnic_patients(cfg):
    """SpO2 89% on air scores 3 on scale 1 but 0 on scale 2; 97% on oxygen scores 3 on scale 2."""
    bands = cfg.vitals["news2"]
    on_air = _row(spo2=89.0)
    assert news2.score(on_air, bands)[0] == 3
    assert news2.score(on_air, bands, np.array([True]))[0] == 0
    on_o2 = _row(spo2=97.0, o2_device="nasal_cannula")
    assert news2.score(on_o2, bands, np.array([True]))[0] == 3 + 2


def test_copd_is_scored_on_scale2(cfg):
    """The COPD scenario is flagged for scale 2; sepsis is not."""
    flags = news2.uses_scale2(cfg.scenarios, np.array(["copd_exacerbation", "sepsis"], dtype=object))
    assert flags.tolist() == [True, False]
