"""The raw-mode registry: refused when damaged (never rewritten), restorable, full is not fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CONFIG, ROOT, copy_config

D1, D2 = "2025-01-02", "2025-01-03"


def _generate(tmp_path, reg, date, config=CONFIG, n=5):
    args = [sys.executable, "-m", "data_generator", "generate", "--mode", "raw", "--date", date, "--encounters",
            str(n), "--out-root", str(tmp_path), "--registry", str(reg), "--config", str(config)]
    return subprocess.run(args, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def registry(tmp_path):
    reg = tmp_path / "patients_master.csv"
    assert _generate(tmp_path, reg, D1).returncode == 0
    return reg


def _damage_is_refused(tmp_path, reg, damage, expected):
    damage(reg)
    before = reg.read_bytes()
    r = _generate(tmp_path, reg, D2)
    assert r.returncode == 5, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and all(e in r.stderr for e in expected), r.stderr
    assert reg.read_bytes() == before
    assert not (tmp_path / "raw" / D2).exists()


def test_truncated_registry_is_refused(tmp_path, registry):
    """A registry cut short mid-day is named as truncated, not silently refilled."""
    lines = registry.read_text().splitlines()
    _damage_is_refused(tmp_path, registry, lambda p: p.write_text("\n".join(lines[:-3]) + "\n"),
                       ["truncated", str(registry)])


def test_registry_cut_mid_line_is_refused(tmp_path, registry):
    """A registry cut in the middle of a row is refused with the problem."""
    data = registry.read_bytes()
    _damage_is_refused(tmp_path, registry, lambda p: p.write_bytes(data[:-25]), [str(registry)])


def test_renamed_column_is_refused(tmp_path, registry):
    """A renamed column is reported as a column mismatch."""
    text = registry.read_text().replace("first_name", "given_name", 1)
    _damage_is_refused(tmp_path, registry, lambda p: p.write_text(text), ["columns differ", "given_name"])


def test_duplicate_patient_is_refused(tmp_path, registry):
    """A duplicated patient row is reported with both line numbers."""
    lines = registry.read_text().splitlines()
    text = "\n".join(lines[:4] + [lines[2]] + lines[4:]) + "\n"
    _damage_is_refused(tmp_path, registry, lambda p: p.write_text(text), [":5 patient_id", "duplicate of line 3"])


def test_newer_format_version_is_refused(tmp_path, registry):
    """A registry written by a newer format version is refused and left alone."""
    meta = registry.with_name(registry.name + ".meta.json")
    assert json.loads(meta.read_text()) == {"format_version": 1}
    _damage_is_refused(tmp_path, registry, lambda p: meta.write_text('{"format_version": 2}'),
                       ["newer registry format", "version 2"])


def test_backup_is_kept_and_restorable(tmp_path, registry):
    """Each update keeps the previous registry as .bak; `datagen registry restore` puts it back."""
    first = registry.read_bytes()
    assert _generate(tmp_path, registry, D2).returncode == 0
    assert registry.with_name(registry.name + ".bak").read_bytes() == first
    assert registry.read_bytes() != first
    r = subprocess.run([sys.executable, "-m", "data_generator", "registry", "restore", "--registry", str(registry)],
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "restored" in r.stdout
    assert registry.read_bytes() == first


def test_full_registry_still_generates_and_says_so_once(tmp_path):
    """At max_total the day generates from existing patients, with one note on stderr."""
    def small(g):
        g["registry"]["new_patients_per_day"] = 10
        g["registry"]["max_total"] = 15
    config = copy_config(tmp_path / "cfg", small)
    reg = tmp_path / "reg.csv"
    r = _generate(tmp_path, reg, D2, config=config, n=8)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("registry is full") == 1
    assert len(reg.read_text().splitlines()) == 16
    assert (tmp_path / "raw" / D2 / "encounters.csv").exists()
