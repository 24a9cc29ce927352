"""Shared fixtures: the repository's config and one generated day reused by many tests."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from data_generator.config import load_config
from data_generator.pipeline import generate_day

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "generator.yaml"
DAY = dt.date(2026, 1, 15)


@pytest.fixture(scope="session")
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope="session")
def day_dir(tmp_path_factory, cfg) -> Path:
    """One sample-mode day of 120 encounters, generated once per test session."""
    out = tmp_path_factory.mktemp("day")
    return generate_day(cfg, DAY, "sample", out, encounters=120).folder


def copy_config(tmp_path: Path, edit=None) -> Path:
    """A copy of config/ in tmp_path; `edit(generator_dict)` may change generator.yaml."""
    dest = tmp_path / "config"
    shutil.copytree(ROOT / "config", dest)
    if edit is not None:
        path = dest / "generator.yaml"
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest / "generator.yaml"
