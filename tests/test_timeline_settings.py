"""The patient-timeline settings of README's config table change the stays as documented.

Each test derives every registered patient's stays up to a day under an edited copy of config/
and compares it with the same seed's stays under the shipped config.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from data_generator.config import load_config
from data_generator.generators.lifetimes import derive_lives
from data_generator.generators.registry import derive_registry
from tests.runs import config_copy

DAY = dt.date(2025, 9, 30)  # nine months of lives: enough returns, quick to derive


def _lives(tmp_path, edit=None):
    cfg = load_config(config_copy(tmp_path, edit))
    return cfg, derive_lives(cfg, "sample", derive_registry(cfg, DAY), DAY)


def _gaps_days(lives) -> np.ndarray:
    """Days from each stay's discharge to the same patient's next admission."""
    s = lives.stays
    later = np.flatnonzero(s.prev >= 0)
    return (s.admit[later] - s.discharge[s.prev[later]]) / 86400


def test_return_min_days_spaces_returns_that_are_not_readmissions(tmp_path):
    """`timelines.return_min_days`: a return after the readmission window comes no sooner than it."""
    cfg, base = _lives(tmp_path / "base")
    within = cfg.generator["timelines"]["readmission"]["within_days"]
    gaps = _gaps_days(base)
    assert ((gaps > within + 1) & (gaps < 60)).sum() > 20  # the default (31) lets returns come early

    def later(g):
        g["timelines"]["return_min_days"] = 60
    _, spaced = _lives(tmp_path / "spaced", later)
    gaps = _gaps_days(spaced)
    assert ((gaps > within + 1) & (gaps < 59)).sum() == 0


def test_exclusive_conditions_keep_one_diabetes_type(tmp_path):
    """`registry.exclusive_conditions`: nobody has both diabetes types; without the group some would."""
    def both(lives, cfg):
        names = list(cfg.generator["registry"]["conditions"])
        has = lives.patients.has
        return int((has[:, names.index("type 1 diabetes")] & has[:, names.index("type 2 diabetes")]).sum())
    cfg, base = _lives(tmp_path / "base")
    assert both(base, cfg) == 0

    def free(g):
        g["registry"]["exclusive_conditions"] = []
    cfg2, loose = _lives(tmp_path / "free", free)
    assert both(loose, cfg2) > 0


def test_condition_age_profile_moves_who_has_it(tmp_path):
    """`registry.conditions.<name>.age`: the patients with a condition are as old as its profile says,
    and its registry-wide share holds; a plain share is age-blind."""
    def profile(lives, cfg, name):
        has = lives.patients.has[:, list(cfg.generator["registry"]["conditions"]).index(name)]
        reg = derive_registry(cfg, DAY)
        age = (reg.registered - reg.table["date_of_birth"].astype("datetime64[D]")).astype(int) / 365.25
        return has.mean(), age[has].mean(), age.mean()
    cfg, base = _lives(tmp_path / "base")
    share, copd_age, everyone = profile(base, cfg, "COPD")
    assert abs(copd_age - 70) < 3 and abs(share - 0.13) < 0.02 and everyone < 62

    def young(g):
        g["registry"]["conditions"]["COPD"] = {"share": 0.13, "age": {"mean": 40, "sd": 10}}
    cfg2, moved = _lives(tmp_path / "young", young)
    share, copd_age, _ = profile(moved, cfg2, "COPD")
    assert abs(copd_age - 40) < 4 and abs(share - 0.13) < 0.02

    def blind(g):
        g["registry"]["conditions"]["COPD"] = 0.13
    cfg3, flat = _lives(tmp_path / "blind", blind)
    _, copd_age, everyone = profile(flat, cfg3, "COPD")
    assert abs(copd_age - everyone) < 3
