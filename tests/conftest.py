"""Shared fixtures: the repository's config and one generated day reused by many tests."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from data_generator import config_cache
from data_generator.config import load_config
from data_generator.pipeline import generate_day

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "generator.yaml"
DAY = dt.date(2026, 1, 15)

# Checked configs are kept in a folder of this test process (inherited by the commands the tests
# run; removed at exit), never in the user's cache.
CONFIG_CACHE = tempfile.TemporaryDirectory(prefix="datagen-test-config-cache-")
os.environ[config_cache.ENV] = CONFIG_CACHE.name


@pytest.fixture(scope="session")
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope="session")
def day_dir(tmp_path_factory, cfg) -> Path:
    """One sample-mode day of 120 encounters, generated once per test session."""
    out = tmp_path_factory.mktemp("day")
    return generate_day(cfg, DAY, "sample", out, encounters=120).folder


RESEARCH_DAYS = (dt.date(2026, 1, 15), dt.date(2026, 1, 16))


@pytest.fixture(scope="session")
def research_days(tmp_path_factory, cfg) -> Path:
    """Two small sample days with interventions (transfers, treatments), generated once per test
    session for the OMOP and MEDS exports (each writes its own folder beside them; tests that
    damage a day copy it first)."""
    root = tmp_path_factory.mktemp("research")
    for date in RESEARCH_DAYS:
        generate_day(cfg, date, "sample", root, encounters=30, interventions=True)
    return root


def run(*args, cwd=ROOT, **kw) -> subprocess.CompletedProcess:
    """A command as a separate process with this checkout importable: text output captured, 300 s limit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, timeout=300, **kw)


def datagen(*args, **kw) -> subprocess.CompletedProcess:
    """`python -m data_generator ARGS` as a separate process."""
    return run(sys.executable, "-m", "data_generator", *args, **kw)


def edit_yaml(path: Path, edit) -> None:
    """Parse the YAML file at `path`, let `edit(data)` change it, write it back."""
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def copy_config(tmp_path: Path, edit=None, file: str = "generator.yaml") -> Path:
    """A copy of config/ in tmp_path; `edit(data)` may change one of its files (`file`, relative
    to config/: generator.yaml, scenarios/dka.yaml, notes/templates.yaml...). Returns the copy's
    generator.yaml."""
    dest = tmp_path / "config"
    shutil.copytree(ROOT / "config", dest)
    if edit is not None:
        edit_yaml(dest / file, edit)
    return dest / "generator.yaml"
